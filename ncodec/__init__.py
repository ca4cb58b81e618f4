"""ncodec: learned and classical codecs behind one entropy layer and one container format (.ncz)."""
from .api import Archive, CompressResult, compress, compress_items, decompress, decompress_bytes, open
from .item import Item, ItemMeta

__version__ = "0.1.0"
__all__ = ["compress", "compress_items", "decompress", "decompress_bytes", "open", "Archive",
           "CompressResult", "Item", "ItemMeta", "__version__"]
