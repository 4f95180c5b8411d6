"""Model loading: ``POST v1/models/{model_id}/load`` and ``.../unload`` (Pieces); memory."""

from __future__ import annotations

from typing import Any

from ._helpers import MODEL_ID, Schema, errors, json_response, ref

_REASONS = {
    400: "Invalid request",
    404: "Unknown model",
    409: "Not downloaded yet, or the model does not fit in the RAM budget",
    422: "Format unsupported or unsafe (pickle), or the loader failed or crashed",
    502: "The catalog's remote source (e.g. the Hugging Face Hub) failed",
}
_SNAPSHOT = json_response(ref("Model"), "The model snapshot with its memory state")

MEMORY_PROPERTIES: dict[str, Schema] = {
    "loaded_rss_bytes": {
        "type": "integer",
        "nullable": True,
        "minimum": 0,
        "description": "resident memory of the model's worker process, measured "
        "(0 when not loaded)",
    },
    "load_time_ms": {"type": "number", "nullable": True},
    "loaded_at": {"type": "string", "nullable": True, "format": "date-time"},
    "pid": {"type": "integer", "nullable": True, "description": "the worker process"},
}
"""What the runtime adds to a model snapshot about its memory."""

SCHEMAS: dict[str, Schema] = {}

PATHS: dict[str, Any] = {
    "/v1/models/{model_id}/load": {
        "post": {
            "operationId": "load_model",
            "summary": "Load a downloaded model into memory, in a worker process",
            "description": "Idempotent. Evicts least recently used models to stay within "
            "the RAM budget; 409 when the model is not downloaded or cannot fit.",
            "parameters": [MODEL_ID],
            "responses": {"200": _SNAPSHOT, **errors(_REASONS, 400, 404, 409, 422, 502)},
        }
    },
    "/v1/system/memory": {
        "get": {
            "operationId": "system_memory",
            "summary": "The machine's total and available memory and the RAM budget",
            "responses": {
                "200": json_response(
                    {
                        "type": "object",
                        "required": ["total_bytes", "available_bytes", "ram_budget_bytes"],
                        "properties": {
                            "total_bytes": {"type": "integer", "minimum": 0},
                            "available_bytes": {"type": "integer", "minimum": 0},
                            "ram_budget_bytes": {"type": "integer", "minimum": 0},
                        },
                    },
                    "Bytes",
                ),
            },
        }
    },
    "/v1/models/{model_id}/unload": {
        "post": {
            "operationId": "unload_model",
            "summary": "Unload a model: its worker process exits and frees the memory",
            "parameters": [MODEL_ID],
            "responses": {"200": _SNAPSHOT, **errors(_REASONS, 400, 404, 502)},
        }
    },
}
