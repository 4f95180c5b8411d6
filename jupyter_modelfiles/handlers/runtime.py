"""Handlers of model loading: ``POST v1/models/{model_id}/load`` and ``.../unload`` (Pieces).

The model id may contain ``/`` (``org/name``), raw or ``%2F``-encoded. The catalog resolves the
id to its format and local files (404 unknown, 409 not downloaded); the runtime loads them in a
worker process. Both answer with the model snapshot, which carries ``loaded`` and the worker's
measured memory ``loaded_rss_bytes``.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import ModelFilesHandler, path_id


class _RuntimeHandler(ModelFilesHandler):
    @property
    def catalog(self) -> Any:
        return getattr(self.services, "catalog", None) or self.services.extra.get("catalog")


class ModelLoadHandler(_RuntimeHandler):
    """``POST v1/models/{model_id}/load``: load a downloaded model into memory."""

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        snapshot = await self.services.runtime.load_model(self.catalog, path_id(model_id))
        self.write_json(snapshot)


class ModelUnloadHandler(_RuntimeHandler):
    """``POST v1/models/{model_id}/unload``: end its worker process, freeing the memory."""

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        snapshot = await self.services.runtime.unload_model(self.catalog, path_id(model_id))
        self.write_json(snapshot)


# These must come before a catch-all ``v1/models/(?P<model_id>.+)`` route in the table.
default_handlers: list[tuple[str, Any]] = [
    (r"/modelfiles/v1/models/(?P<model_id>.+)/load/?", ModelLoadHandler),
    (r"/modelfiles/v1/models/(?P<model_id>.+)/unload/?", ModelUnloadHandler),
]
