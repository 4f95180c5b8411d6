"""Handlers of model loading: ``POST v1/models/{model_id}/load`` and ``.../unload`` (Pieces).

The model id may contain ``/`` (``org/name``), raw or ``%2F``-encoded. The catalog resolves the
id to its format and local files (404 unknown, 409 not downloaded); the runtime loads them in a
worker process. Both answer with the model snapshot, which carries ``loaded`` and the worker's
measured memory ``loaded_rss_bytes``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psutil
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


class MemoryHandler(_RuntimeHandler):
    """``GET v1/system/memory``: the machine's memory, for "fits / tight / too big" hints."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        memory = await asyncio.to_thread(psutil.virtual_memory)
        runtime = self.services.runtime
        budget = runtime.ram_budget_bytes if runtime is not None else memory.available
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
        "/v1/system/memory": {
            "get": {
                "operationId": "system_memory",
                "summary": "The machine's total and available memory and the RAM budget",
                "responses": {
                    "200": {
                        "description": "Bytes",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": [
                                        "total_bytes",
                                        "available_bytes",
                                        "ram_budget_bytes",
                                    ],
                                    "properties": {
                                        "total_bytes": {"type": "integer", "minimum": 0},
                                        "available_bytes": {"type": "integer", "minimum": 0},
                                        "ram_budget_bytes": {"type": "integer", "minimum": 0},
                                    },
                                }
                            }
                        },
                    },
                    **_errors(403),
                },
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
