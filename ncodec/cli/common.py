"""Helpers shared by CLI commands: the rate in a summary line (units from ncodec.eval.metrics,
which imports numpy only), stdin media sniffing."""
from __future__ import annotations

from typing import Sequence

from ..eval.metrics import rate_units
from ..item import Item


def rate_text(bits: int, items: Sequence[Item], media: str | None = None) -> str:
    """E.g. '2.514 bpp' from real bits (``media`` counts the items as that kind)."""
    n, unit = rate_units(items, media)
    return f"{bits / max(n, 1):.4g} {unit}"


def sniff_media(raw: bytes) -> str:
    """Guess the media kind of stdin from magic bytes."""
    head = raw[:16]
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\0", b"MM\0*")) or \
            (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or head[:2] in (b"P5", b"P6"):
        return "image"
    if (head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head.startswith((b"fLaC", b"OggS", b"FORM")):
        return "audio"
    if head.startswith(b"\x93NUMPY"):
        return "tensor"
    return "bytes"
