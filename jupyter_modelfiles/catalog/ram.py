"""The ``maxRamUsage`` estimate.

``maxRamUsage = weights + kv_cache + overhead`` where

* ``weights``: the bytes of the weight tensors (the GGUF tensor table, else the file size);
* ``kv_cache = 2 (K and V) * n_layers * n_ctx * (n_head_kv * head_dim) * 2 bytes (f16)``,
  with ``n_ctx = min(model context length, context_cap)`` (default cap 4096, llama.cpp's
  default context) -- zero when the header gives no architecture (safetensors, ONNX);
* ``overhead = 64 MiB + 5 %`` of the weights (compute buffers, runtime, tokenizer).
"""

from __future__ import annotations

from .headers import GGUFHeader

OVERHEAD_FIXED = 64 * 1024 * 1024
OVERHEAD_RATIO = 0.05
DEFAULT_CONTEXT_CAP = 4096


def max_ram_usage(
    weights_bytes: int,
    header: GGUFHeader | None = None,
    *,
    context_cap: int = DEFAULT_CONTEXT_CAP,
) -> int:
    """Estimated peak RAM in bytes to run a model whose weights take ``weights_bytes``."""
    kv = 0
    if header is not None:
        ctx = min(header.context_length or context_cap, context_cap)
        kv = header.kv_cache_bytes(ctx)
    return int(weights_bytes + kv + OVERHEAD_FIXED + OVERHEAD_RATIO * weights_bytes)
