"""ncodec: learned and classical codecs behind one entropy layer and one container format (.ncz).

Compress and decompress (every call writes or reads real ``.ncz`` bytes)::

    import numpy as np, ncodec

    res = ncodec.compress("photo.png")                       # a file; default lossless codec
    res = ncodec.compress("photo.png", codec="webp", quality=80, output="photo.ncz")
    res = ncodec.compress(img)                               # an (H, W, 3) uint8 array: an image
    res = ncodec.compress(digits)                            # an (N, 28, 28) uint8 stack: one hclt stack record
    res = ncodec.compress(wave, media="audio", sample_rate=8000, quality=5)   # lossy audio (wavelet)
    res = ncodec.compress(b"any bytes")                      # bytes (zstd)
    res.data, res.bits, res.ideal_bits                       # file bytes, 8 x len, the model's -log2 P

    out = ncodec.decompress(res.data)                        # or a path
    out.data, out.meta                                       # a single item's array and metadata
    out[0], len(out), list(out)                              # always also a sequence of Items
    arc = ncodec.open("all.ncz"); arc[3]                     # decode one record of a big archive

Choosing (``ncodec list`` in a shell shows every codec, its media, quality range and options):

- ``codec=None`` picks the media's default: lossless (JPEG XL for photos, FLAC for audio, x264
  lossless for video, zstd for tensors and bytes, ``hclt`` for 28x28 digit stacks), or the
  default lossy codec (``wavelet`` for images and audio) when ``quality`` is given.
- ``quality`` is the codec's own scale: webp/avif/jpeg 1..100 (higher is better), wavelet 1..10,
  inr 1..8, x264/x265 a CRF 0..51 (lower is better), opus kbit/s; for lossless codecs an effort
  or level (zstd 1..22: still exact).
- ``options={...}`` are the codec's declared settings (``ncodec list CODEC``), e.g.
  ``{"effort": "fast"}`` for ``inr``, ``{"steps": 300}`` for ``nerv``; bad names or values raise
  ``ncodec.errors.OptionError`` before anything is coded.
- ``options={"weights": "NAME"}`` (``hclt``, ``wavelet``) codes with weights you trained
  (``ncodec train ... --name NAME``; ``ncodec list --weights``); a file stores their model id,
  and ``decompress`` finds them again by it.

Coming from CompressAI: there is no ``net.compress(x)`` / ``net.decompress(strings, shape)``
pair to keep in sync -- ``compress`` returns one self-describing file (codec, quality, model id,
shapes, checksums) and ``decompress`` needs nothing else. Arrays are NumPy ``uint8`` images
(H, W[, C]), not float tensors. ``res.ideal_bits`` is the estimated rate, ``res.bits`` the real
one. Every failure is an ``ncodec.errors.NcodecError`` subclass with a one-line message.

``Item`` (array + ``ItemMeta``) is what codecs consume and produce; ``ncodec.data.NczDataset``
reads packed data sets (``ncodec pack``) as a torch Dataset.
"""
from .api import Archive, CompressResult, compress, compress_items, decompress, decompress_bytes, open
from .decoded import Decoded
from .item import Item, ItemMeta

__version__ = "0.1.0"
__all__ = ["compress", "compress_items", "decompress", "decompress_bytes", "open", "Archive", "Decoded",
           "CompressResult", "Item", "ItemMeta", "__version__"]
