"""The shared entropy-coding layer: integer tables in, bytes out (constriction underneath, plus a batched
lock-step rANS for autoregressive decoders)."""
from .batched_ans import BatchedAnsDecoder, BatchedAnsEncoder, ans_encode, freq_start
from .coder import BACKENDS, EntropyDecoder, EntropyEncoder
from .families import FAMILIES, default_scale_table, family_tables, scale_indexes
from .indexed import IndexedTables
from .tables import DEFAULT_PRECISION, ideal_bits, quantize_logprobs, quantize_probs

__all__ = ["BACKENDS", "EntropyEncoder", "EntropyDecoder", "IndexedTables", "FAMILIES",
           "default_scale_table", "family_tables", "scale_indexes", "DEFAULT_PRECISION",
           "ideal_bits", "quantize_probs", "quantize_logprobs",
           "BatchedAnsEncoder", "BatchedAnsDecoder", "ans_encode", "freq_start"]
