"""Handlers of model loading: ``POST v1/models/{model_id}/load`` and ``.../unload`` (Pieces).

The model id may contain ``/`` (``org/name``), raw or ``%2F``-encoded. The catalog resolves the
id to its format and local files (404 unknown, 409 not downloaded); the runtime loads them in a
worker process. Both answer with the model snapshot, which carries ``loaded`` and the worker's
measured memory ``loaded_rss_bytes``. ``GET v1/system/memory`` gives the machine's memory and
the RAM budget, for "fits / tight / too big" hints.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psutil
from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import path_id
from .models import CatalogHandler


class _RuntimeHandler(CatalogHandler):
    async def snapshot(self, model_id: str) -> dict[str, Any]:
        """The catalog's snapshot of ``model_id`` with the runtime's fields on top."""
        snapshot = await self.catalog.snapshot(model_id, runtime=self.runtime_info())
        return {**snapshot, **self.services.runtime.runtime_fields(model_id)}


class ModelLoadHandler(_RuntimeHandler):
    """``POST v1/models/{model_id}/load``: load a downloaded model into memory."""

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        model_id = path_id(model_id)
        fmt, paths = await self.catalog.resolve_local(model_id)
        await self.services.runtime.load(model_id, fmt, paths)
        self.write_json(await self.snapshot(model_id))


class ModelUnloadHandler(_RuntimeHandler):
    """``POST v1/models/{model_id}/unload``: end its worker process, freeing the memory."""

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        model_id = path_id(model_id)
        await self.services.runtime.unload(model_id)
        self.write_json(await self.snapshot(model_id))  # unknown to the catalog: 404


class MemoryHandler(_RuntimeHandler):
    """``GET v1/system/memory``: the machine's memory, for "fits / tight / too big" hints."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        memory = await asyncio.to_thread(psutil.virtual_memory)
        budget = self.services.runtime.ram_budget_bytes
        self.write_json(
            {
                "total_bytes": int(memory.total),
                "available_bytes": int(memory.available),
                "ram_budget_bytes": int(budget),
            }
        )


# These must come before a catch-all ``v1/models/(?P<model_id>.+)`` route in the table.
default_handlers: list[tuple[str, Any]] = [
    (r"/modelfiles/v1/models/(?P<model_id>.+)/load/?", ModelLoadHandler),
    (r"/modelfiles/v1/models/(?P<model_id>.+)/unload/?", ModelUnloadHandler),
    (r"/modelfiles/v1/system/memory", MemoryHandler),
]
