"""Helpers shared by CLI commands: rate units, stdin media sniffing."""
from __future__ import annotations

from typing import Sequence

from ..item import Item


def rate_units(items: Sequence[Item], media: str) -> tuple[float, str]:
    """Denominator and unit for a rate: pixels (bpp), samples (bits/sample), elements (bpd)."""
    if media == "image":
        return float(sum(it.meta.shape[0] * it.meta.shape[1] for it in items)), "bpp"
    if media == "video":
        return float(sum(it.meta.shape[0] * it.meta.shape[1] * it.meta.shape[2] for it in items)), "bpp"
    if media == "audio":
        return float(sum(it.meta.numel for it in items)), "bits/sample"
    return float(sum(it.meta.numel for it in items)), "bits/element"


def rate_text(bits: int, items: Sequence[Item], media: str) -> str:
    """E.g. '2.514 bpp' from real bits."""
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
