"""The WebSockets: ``v1/events`` and a model's ``download/progress`` (Pieces).

An OpenAPI 3.0 document cannot describe the messages of a WebSocket; each route documents its
upgrade and names the schema of its messages in its description.
"""

from __future__ import annotations

from typing import Any

from ._helpers import MODEL_ID, NULL_INT, NULL_STR, Schema, errors

_UPGRADE: dict[str, Any] = {
    "101": {"description": "Switching to WebSocket"},
    **errors({400: "Not a WebSocket upgrade request"}, 400),
}

SCHEMAS: dict[str, Schema] = {
    "Event": {
        "type": "object",
        "description": "A message on v1/events: one change, coalesced per (topic, key).",
        "required": ["topic", "key", "time", "data"],
        "properties": {
            "topic": {"type": "string", "description": "file, job or model"},
            "key": {"type": "string", "description": "the id of what changed"},
            "time": {"type": "number", "description": "seconds since the epoch"},
            "data": {"type": "object", "additionalProperties": True},
        },
    },
    "ModelDownloadProgress": {
        "type": "object",
        "description": "A message on .../download/progress: Pieces ModelDownloadProgress "
        "plus our job fields.",
        "required": ["status", "percentage"],
        "properties": {
            "status": {
                "type": "string",
                "enum": [
                    "INITIALIZED",
                    "IN-PROGRESS",
                    "COMPLETED",
                    "FAILED",
                    "CANCELED",
                    "RESET",
                    "UNKNOWN",
                ],
            },
            "percentage": {"type": "number", "minimum": 0, "maximum": 100},
            "job_id": {"type": "string"},
            "file": NULL_STR,
            "model_id": NULL_STR,
            "paused": {"type": "boolean"},
            "downloaded_bytes": {"type": "integer"},
            "total_size_bytes": {"type": "integer"},
            "bytes_per_second": {"type": "number"},
            "estimated_completion": NULL_STR,
            "error": NULL_STR,
            "version": NULL_INT,
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/events": {
        "get": {
            "operationId": "events",
            "summary": "WebSocket: every change as {topic, key, time, data}, coalesced per key",
            "description": "Messages: #/components/schemas/Event",
            "responses": _UPGRADE,
        }
    },
    "/v1/models/{model_id}/download/progress": {
        "get": {
            "operationId": "model_download_progress",
            "summary": "WebSocket: ModelDownloadProgress messages of a model's jobs",
            "description": "Messages: #/components/schemas/ModelDownloadProgress",
            "parameters": [MODEL_ID],
            "responses": _UPGRADE,
        }
    },
}
