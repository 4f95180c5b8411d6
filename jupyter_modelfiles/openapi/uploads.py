"""Sliced uploads: ``v1/uploads`` (create), raw slices at offsets, complete, cancel."""

from __future__ import annotations

from typing import Any

from ..files.models import PURPOSES
from ._helpers import Schema, errors, json_response, path_param, ref

_REASONS = {
    400: "Bad request (a bad offset, a missing slice, a short body)",
    404: "No upload in progress with this id",
    409: "The slice overlaps bytes already received or being received, or the upload is over",
    413: "Upload larger than the limit",
    507: "Not enough disk space",
}
_UPLOAD_ID = path_param("upload_id")

SCHEMAS: dict[str, Schema] = {
    "Upload": {
        "type": "object",
        "description": "A sliced upload in progress.",
        "required": ["id", "object", "filename", "purpose", "bytes", "status", "received"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["upload"]},
            "filename": {"type": "string"},
            "purpose": {"type": "string", "enum": list(PURPOSES)},
            "bytes": {"type": "integer", "minimum": 0},
            "created_at": {"type": "integer"},
            "status": {
                "type": "string",
                "enum": ["pending", "completing", "completed", "cancelled"],
            },
            "received_bytes": {"type": "integer", "minimum": 0},
            "received": {
                "type": "array",
                "description": "the byte ranges [start, end) received so far, merged",
                "items": {
                    "type": "array",
                    "items": {"type": "integer"},
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
        },
    },
    "UploadSlice": {
        "type": "object",
        "required": ["object", "upload_id", "offset", "bytes", "received_bytes"],
        "properties": {
            "object": {"type": "string", "enum": ["upload.slice"]},
            "upload_id": {"type": "string"},
            "offset": {"type": "integer", "minimum": 0},
            "bytes": {"type": "integer", "minimum": 0},
            "received_bytes": {"type": "integer", "minimum": 0},
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/uploads": {
        "post": {
            "operationId": "create_upload",
            "summary": "Start a sliced upload of a file of known size",
            "description": "Send the bytes with PUT .../slices?offset= (any order, in parallel "
            "if you like), then POST .../complete. Nothing is visible in v1/files until then; "
            "an upload with no activity for an hour is cancelled.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["filename", "bytes"],
                            "properties": {
                                "filename": {"type": "string"},
                                "bytes": {"type": "integer", "minimum": 0},
                                "purpose": {"type": "string", "enum": list(PURPOSES)},
                                "mime_type": {"type": "string"},
                                "expiry": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "description": "hours until the file expires",
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": json_response(ref("Upload"), "Created"),
                **errors(_REASONS, 400, 413, 507),
            },
        },
    },
    "/v1/uploads/{upload_id}": {
        "get": {
            "operationId": "get_upload",
            "parameters": [_UPLOAD_ID],
            "summary": "An upload in progress and the byte ranges it has received",
            "responses": {"200": json_response(ref("Upload")), **errors(_REASONS, 404)},
        },
        "delete": {
            "operationId": "cancel_upload",
            "parameters": [_UPLOAD_ID],
            "summary": "Cancel an upload: its partial file is deleted",
            "responses": {"200": json_response(ref("Upload")), **errors(_REASONS, 404, 409)},
        },
    },
    "/v1/uploads/{upload_id}/slices": {
        "put": {
            "operationId": "put_upload_slice",
            "summary": "Write a slice of the file at a byte offset (raw body, Content-Length)",
            "parameters": [
                _UPLOAD_ID,
                {
                    "name": "offset",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            },
            "responses": {
                "200": json_response(ref("UploadSlice")),
                **errors(_REASONS, 400, 404, 409, 413, 507),
            },
        },
    },
    "/v1/uploads/{upload_id}/complete": {
        "post": {
            "operationId": "complete_upload",
            "parameters": [_UPLOAD_ID],
            "summary": "Publish the upload once every byte has arrived: the file object",
            "responses": {
                "200": json_response(ref("File")),
                **errors(_REASONS, 400, 404, 409, 507),
            },
        },
    },
}
