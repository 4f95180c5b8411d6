"""Read model headers without the weights: GGUF metadata + tensor table, safetensors JSON.

Both readers work on a prefix of the file: from a local path, or from an HTTP origin with
``Range`` requests (growing the prefix until the header fits, up to ``max_bytes``).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..errors import InvalidRequest, UpstreamError
from . import ggml

GGUF_MAGIC = b"GGUF"
#: Largest prefix read to find a header (real GGUF headers carry a vocabulary: a few MiB).
MAX_HEADER_BYTES = 64 * 1024 * 1024

ReadPrefix = Callable[[int], bytes]
"""``read(n)`` returns the first ``n`` bytes of the file (fewer if it is shorter)."""


class _NeedMore(Exception):
    pass


@dataclass
class GGUFHeader:
    """What a GGUF header says about a model."""

    version: int
    metadata: dict[str, Any]
    tensor_count: int
    parameter_count: int
    tensor_bytes: int
    tensor_types: dict[str, int] = field(default_factory=dict)

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get("general.architecture")
        return str(value) if value is not None else None

    def arch_value(self, key: str) -> Any:
        return self.metadata.get(f"{self.architecture}.{key}")

    @property
    def context_length(self) -> int | None:
        value = self.arch_value("context_length")
        return int(value) if value is not None else None

    @property
    def quantization(self) -> str | None:
        """From ``general.file_type``, else the most common tensor type by bytes."""
        file_type = self.metadata.get("general.file_type")
        if file_type is not None:
            name = ggml.FILE_TYPES.get(int(file_type))
            if name is not None:
                return name.removeprefix("MOSTLY_").replace("ALL_F32", "F32")
        if self.tensor_types:
            return max(self.tensor_types.items(), key=lambda kv: kv[1])[0]
        return None

    def kv_cache_bytes(self, context_length: int, bytes_per_value: int = 2) -> int:
        """K and V caches (f16 by default) for ``context_length`` tokens."""
        layers = self.arch_value("block_count")
        embd = self.arch_value("embedding_length")
        heads = self.arch_value("attention.head_count")
        if not layers or not embd:
            return 0
        heads_kv = self.arch_value("attention.head_count_kv") or heads
        key_len = self.arch_value("attention.key_length")
        value_len = self.arch_value("attention.value_length")
        head_dim = int(embd) // int(heads) if heads else int(embd)
        k_dim = int(key_len or head_dim) * int(heads_kv or 1)
        v_dim = int(value_len or head_dim) * int(heads_kv or 1)
        return int(layers) * context_length * (k_dim + v_dim) * bytes_per_value

    def summary(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "parameter_count": self.parameter_count,
            "tensor_bytes": self.tensor_bytes,
            "context_length": self.context_length,
            "quantization": self.quantization,
            "block_count": self.arch_value("block_count"),
            "embedding_length": self.arch_value("embedding_length"),
            "head_count": self.arch_value("attention.head_count"),
            "head_count_kv": self.arch_value("attention.head_count_kv"),
            "name": self.metadata.get("general.name"),
        }


_SCALARS = {
    ggml.UINT8: "<B",
    ggml.INT8: "<b",
    ggml.UINT16: "<H",
    ggml.INT16: "<h",
    ggml.UINT32: "<I",
    ggml.INT32: "<i",
    ggml.FLOAT32: "<f",
    ggml.BOOL: "<?",
    ggml.UINT64: "<Q",
    ggml.INT64: "<q",
    ggml.FLOAT64: "<d",
}
#: Arrays longer than this (vocabularies) are skipped, not decoded.
_KEEP_ARRAY = 64


class _Cursor:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise _NeedMore
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        length = self.unpack("<Q")
        if length > MAX_HEADER_BYTES:
            raise InvalidRequest("corrupt GGUF header: string length out of range")
        return self.take(length).decode("utf-8", errors="replace")

    def value(self, vtype: int) -> Any:
        if vtype not in ggml.VALUE_TYPE_NAMES:
            raise ValueError(f"unknown GGUF value type {vtype}")
        if vtype == ggml.STRING:
            return self.string()
        if vtype == ggml.ARRAY:
            item_type = self.unpack("<I")
            if item_type not in ggml.VALUE_TYPE_NAMES:
                raise ValueError(f"unknown GGUF value type {item_type}")
            count = self.unpack("<Q")
            if count > MAX_HEADER_BYTES:
                raise InvalidRequest("corrupt GGUF header: array length out of range")
            if item_type in _SCALARS and item_type != ggml.STRING:
                size = struct.calcsize(_SCALARS[item_type])
                raw = self.take(size * count)
                if count > _KEEP_ARRAY:
                    return {
                        "array_of": ggml.VALUE_TYPE_NAMES[item_type],
                        "length": count,
                    }
                return list(struct.unpack(f"<{count}{_SCALARS[item_type][1]}", raw))
            items = [self.value(item_type) for _ in range(count)]
            return (
                items
                if count <= _KEEP_ARRAY
                else {
                    "array_of": ggml.VALUE_TYPE_NAMES[item_type],
                    "length": count,
                }
            )
        return self.unpack(_SCALARS[vtype])


def parse_gguf_header(data: bytes) -> GGUFHeader:
    """Parse a GGUF header from a prefix of the file; :class:`_NeedMore` if it is too short."""
    cur = _Cursor(data)
    if cur.take(4) != GGUF_MAGIC:
        raise InvalidRequest("not a GGUF file (bad magic)")
    version = cur.unpack("<I")
    if version not in (2, 3):
        raise InvalidRequest(f"unsupported GGUF version {version}")
    tensor_count = cur.unpack("<Q")
    kv_count = cur.unpack("<Q")
    if tensor_count > 10_000_000 or kv_count > 1_000_000:
        raise InvalidRequest("corrupt GGUF header: counts out of range")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = cur.string()
        metadata[key] = cur.value(cur.unpack("<I"))
    params = 0
    total = 0
    by_type: dict[str, int] = {}
    for _ in range(tensor_count):
        cur.string()
        n_dims = cur.unpack("<I")
        dims = [cur.unpack("<Q") for _ in range(n_dims)]
        ggml_type = cur.unpack("<I")
        cur.unpack("<Q")  # offset
        elements = math.prod(dims) if dims else 1
        params += elements
        known = ggml.GGML_TYPES.get(ggml_type)
        if known is not None:
            name, block, type_size = known
            nbytes = elements // block * type_size
        else:
            nbytes, name = 0, f"TYPE_{ggml_type}"
        total += nbytes
        by_type[name] = by_type.get(name, 0) + nbytes
    return GGUFHeader(version, metadata, tensor_count, params, total, by_type)


def parse_safetensors_header(data: bytes) -> dict[str, Any]:
    """The JSON header of a safetensors file; :class:`_NeedMore` if the prefix is too short."""
    if len(data) < 8:
        raise _NeedMore
    (length,) = struct.unpack("<Q", data[:8])
    if length > 100 * 1024 * 1024:
        raise InvalidRequest("corrupt safetensors header: length out of range")
    if len(data) < 8 + length:
        raise _NeedMore
    try:
        header = json.loads(data[8 : 8 + length])
    except ValueError as exc:
        raise InvalidRequest(f"corrupt safetensors header: {exc}") from None
    if not isinstance(header, dict):
        raise InvalidRequest("corrupt safetensors header")
    return header


@dataclass
class SafetensorsSummary:
    dtypes: dict[str, int]
    parameter_count: int

    @property
    def quantization(self) -> str | None:
        if not self.dtypes:
            return None
        return max(self.dtypes.items(), key=lambda kv: kv[1])[0]


def summarize_safetensors(header: dict[str, Any]) -> SafetensorsSummary:
    """Parameter count and parameters per dtype from a safetensors header."""
    dtypes: dict[str, int] = {}
    params = 0
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        count = math.prod(info.get("shape") or [1])
        params += count
        dtype = str(info.get("dtype", "?")).upper()
        dtypes[dtype] = dtypes.get(dtype, 0) + count
    return SafetensorsSummary(dtypes, params)


def _grow(read: ReadPrefix, parse: Callable[[bytes], Any], first: int, limit: int) -> Any:
    size = first
    while True:
        data = read(size)
        try:
            return parse(data)
        except _NeedMore:
            if len(data) < size or size >= limit:
                raise InvalidRequest("header is truncated or larger than the read limit") from None
            size = min(size * 4, limit)


def local_reader(path: Path) -> ReadPrefix:
    def read(n: int) -> bytes:
        with open(path, "rb") as fh:
            return fh.read(n)

    return read


def http_reader(
    url: str, headers: dict[str, str] | None = None, timeout: float = 30.0
) -> ReadPrefix:
    """Read prefixes with ``Range: bytes=0-N`` (a 200 answer is cut at ``n`` bytes)."""

    def read(n: int) -> bytes:
        request_headers = {
            **(headers or {}),
            "Range": f"bytes=0-{n - 1}",
            "Accept-Encoding": "identity",
        }
        try:
            with (
                httpx.Client(follow_redirects=True, timeout=timeout) as client,
                client.stream("GET", url, headers=request_headers) as response,
            ):
                if response.status_code not in (200, 206):
                    raise UpstreamError(
                        f"reading the header of {url} failed: HTTP {response.status_code}"
                    )
                out = bytearray()
                for chunk in response.iter_raw():
                    out += chunk
                    if len(out) >= n:
                        break
                return bytes(out[:n])
        except httpx.HTTPError as exc:
            raise UpstreamError(f"reading the header of {url} failed: {exc}") from None

    return read


def read_gguf_header(read: ReadPrefix, *, limit: int = MAX_HEADER_BYTES) -> GGUFHeader:
    """The GGUF header via ``read`` (see :func:`local_reader`, :func:`http_reader`)."""
    return _grow(read, parse_gguf_header, 256 * 1024, limit)


def read_safetensors_header(read: ReadPrefix, *, limit: int = MAX_HEADER_BYTES) -> dict[str, Any]:
    return _grow(read, parse_safetensors_header, 64 * 1024, limit)
