"""Enrichment: facts read from one model-file header (parameters, context, RAM estimates).

The header of the recommended GGUF file and of each safetensors file is read from the local copy
when there is one, else with an HTTP Range request. Enriched models are kept per id until their
revision or file list changes.
"""

from __future__ import annotations

import asyncio

from ..errors import ModelFilesError
from .headers import (
    GGUFHeader,
    http_reader,
    local_reader,
    read_gguf_header,
    read_safetensors_header,
    summarize_safetensors,
)
from .hub import HubSource
from .localstate import LocalState
from .models import CatalogModel
from .parsing import recommended
from .ram import max_ram_usage

_WEIGHT_SUFFIXES = (".gguf", ".safetensors", ".onnx", "_data", ".data")


class Enricher:
    """Reads headers into :class:`CatalogModel` fields; caches the enriched models."""

    def __init__(self, state: LocalState, hub: HubSource):
        self.state = state
        self.hub = hub
        self.cache: dict[str, CatalogModel] = {}

    def cached(self, model: CatalogModel) -> CatalogModel:
        """The enriched copy of ``model`` if there is one, else ``model``."""
        return self.cache.get(model.id, model)

    def forget(self, model_id: str) -> None:
        self.cache.pop(model_id, None)

    async def enrich(self, model: CatalogModel) -> CatalogModel:
        """Read one GGUF / safetensors header (local file first, else a Range request)."""
        cached = self.cache.get(model.id)
        if (
            cached is not None
            and cached.revision == model.revision
            and len(cached.files) == len(model.files)
        ):
            return cached
        header: GGUFHeader | None = None
        headers = self.hub.auth_headers if model.source == "hub" else {}
        gguf_sets = [s for s in model.files if s.format == "gguf"]
        if gguf_sets:
            chosen = gguf_sets[recommended([s.quantization for s in gguf_sets])]
            part = chosen.parts[0]
            path = await self.state.local_bytes(model, part)
            reader = local_reader(path) if path else http_reader(part.url, headers, timeout=15)
            try:
                header = await asyncio.to_thread(read_gguf_header, reader)
            except ModelFilesError:
                header = None
            if header is not None:
                model.parameters = model.parameters or round(header.parameter_count / 1e9, 9)
                model.context_length = model.context_length or header.context_length
                model.architecture = header.architecture
                model.extra["gguf"] = header.summary()
        st_sets = [s for s in model.files if s.format == "safetensors"]
        for entry in st_sets:
            part = next(p for p in entry.parts if p.filename.endswith(".safetensors"))
            path = await self.state.local_bytes(model, part)
            reader = local_reader(path) if path else http_reader(part.url, headers, timeout=15)
            try:
                summary = summarize_safetensors(
                    await asyncio.to_thread(read_safetensors_header, reader)
                )
            except ModelFilesError:
                continue
            entry.quantization = entry.quantization or summary.quantization
            if len([p for p in entry.parts if p.filename.endswith(".safetensors")]) == 1:
                model.parameters = model.parameters or round(summary.parameter_count / 1e9, 9)
        for entry in model.files:
            weights = (
                sum(p.size or 0 for p in entry.parts if p.filename.endswith(_WEIGHT_SUFFIXES))
                or entry.size
            )
            entry.max_ram_usage = max_ram_usage(weights, header if entry.format == "gguf" else None)
        if model.recommended is None and model.files:
            model.recommended = model.files[recommended([s.quantization for s in model.files])].id
        formats = {s.format for s in model.files}
        model.format = model.format or (formats.pop() if len(formats) == 1 else None)
        self.cache[model.id] = model
        return model
