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


# These must come before a catch-all ``v1/models/(?P<model_id>.+)`` route in the table.
default_handlers: list[tuple[str, Any]] = [
    (r"/modelfiles/v1/models/(?P<model_id>.+)/load/?", ModelLoadHandler),
    (r"/modelfiles/v1/models/(?P<model_id>.+)/unload/?", ModelUnloadHandler),
]


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Invalid request",
        403: "Forbidden",
        404: "Unknown model",
        409: "Not downloaded yet, or the model does not fit in the RAM budget",
        422: "Format unsupported or unsafe (pickle), or the loader failed or crashed",
        502: "The catalog's remote source (e.g. the Hugging Face Hub) failed",
    }
    return {
        str(code): {
            "description": reasons[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code in codes
    }


_MODEL_ID = {
    "name": "model_id",
    "in": "path",
    "required": True,
    "description": "model id; may contain '/' (raw or %2F-encoded)",
    "schema": {"type": "string"},
}
_SNAPSHOT = {
    "description": "The model snapshot with its memory state",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelLoadState"}}},
}
OPENAPI: dict[str, Any] = {
    "schemas": {
        "ModelLoadState": {
            "type": "object",
            "description": "The model snapshot (catalog fields when a catalog is configured) "
            "with the runtime's fields.",
            "required": ["id", "loaded", "loaded_rss_bytes"],
            "properties": {
                "id": {"type": "string"},
                "loaded": {"type": "boolean"},
                "loaded_rss_bytes": {
                    "type": "integer",
                    "nullable": True,
                    "minimum": 0,
                    "description": "resident memory of the model's worker process, measured "
                    "(0 when not loaded)",
                },
                "load_time_ms": {"type": "number", "nullable": True},
                "loaded_at": {"type": "string", "nullable": True, "format": "date-time"},
                "pid": {"type": "integer", "nullable": True},
            },
        },
    },
    "paths": {
        "/v1/models/{model_id}/load": {
            "post": {
                "operationId": "load_model",
                "summary": "Load a downloaded model into memory, in a worker process",
                "description": "Idempotent. Evicts least recently used models to stay within "
                "the RAM budget; 409 when the model is not downloaded or cannot fit.",
                "parameters": [_MODEL_ID],
                "responses": {"200": _SNAPSHOT, **_errors(400, 403, 404, 409, 422, 502)},
            }
        },
        "/v1/models/{model_id}/unload": {
            "post": {
                "operationId": "unload_model",
                "summary": "Unload a model: its worker process exits and frees the memory",
                "parameters": [_MODEL_ID],
                "responses": {"200": _SNAPSHOT, **_errors(400, 403, 404, 502)},
            }
        },
    },
}
