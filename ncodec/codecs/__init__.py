"""Codecs: one module per codec, each registering itself; see ``base.Codec`` for the protocol."""
from .base import Codec, available, get_codec, register, short_hash

__all__ = ["Codec", "available", "get_codec", "register", "short_hash"]
