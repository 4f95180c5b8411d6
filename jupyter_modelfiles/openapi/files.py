"""The uploaded-files store: ``v1/files``, one file, its content, signed URLs (Mistral, OpenAI)."""

from __future__ import annotations

from typing import Any

from ..files.models import PURPOSES
from ._helpers import NULL_INT, NULL_STR, Schema, errors, json_response, path_param, ref

_REASONS = {
    400: "Bad request",
    403: "Expired or bad signature",
    404: "Not found",
    413: "Upload larger than the limit",
    416: "Range not satisfiable",
}
_BINARY: Schema = {
    "description": "The file's bytes",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}
_FILE_ID = path_param("file_id")
_PURPOSE: Schema = {"type": "string", "enum": list(PURPOSES)}
_CONTENT_RESPONSES: dict[str, Any] = {
    "200": _BINARY,
    "206": {**_BINARY, "description": "The requested range"},
    "304": {"description": "Not modified (If-None-Match matched the ETag)"},
}

SCHEMAS: dict[str, Schema] = {
    "File": {
        "type": "object",
        "description": "The union of the Mistral, OpenAI and Novita file objects.",
        "required": [
            "id",
            "object",
            "bytes",
            "created_at",
            "filename",
            "purpose",
            "sample_type",
            "source",
            "sha256",
            "status",
            "metadata",
        ],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["file"]},
            "bytes": {"type": "integer", "minimum": 0},
            "created_at": {"type": "integer"},
            "filename": {"type": "string"},
            "purpose": _PURPOSE,
            "status": {"type": "string"},
            "status_details": NULL_STR,
            "expires_at": {
                "type": "integer",
                "description": "Unix time the file expires; absent when it never does "
                "(batch_output files get ModelFilesApp.batch_output_expiry_hours by default)",
            },
            "sample_type": {"type": "string"},
            "source": {"type": "string"},
            "num_lines": NULL_INT,
            "mimetype": NULL_STR,
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "visibility": {"type": "string"},
            "signature": NULL_STR,
            "deleted": {"type": "boolean"},
            "metadata": {
                "type": "object",
                "properties": {
                    "total_requests": {
                        "type": "integer",
                        "description": "non-blank lines of a batch input (.jsonl) file",
                    }
                },
            },
        },
    },
    "FileList": {
        "type": "object",
        "description": "OpenAI's and Mistral's list, with Novita's code and message beside.",
        "required": ["code", "message", "object", "data", "has_more"],
        "properties": {
            "code": {"type": "string", "description": "Novita: the HTTP status, '200'"},
            "message": {"type": "string", "description": "Novita: 'success'"},
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": ref("File")},
            "total": NULL_INT,
            "has_more": {"type": "boolean"},
            "first_id": NULL_STR,
            "last_id": NULL_STR,
        },
    },
    "FileDeleted": {
        "type": "object",
        "required": ["id", "object", "deleted"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["file"]},
            "deleted": {"type": "boolean"},
        },
    },
    "FilePurposes": {
        "type": "object",
        "description": "The purposes an upload may name; every face reads this one list.",
        "required": ["object", "data", "default"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": _PURPOSE},
            "default": _PURPOSE,
        },
    },
    "SignedUrl": {
        "type": "object",
        "required": ["url"],
        "properties": {"url": {"type": "string"}, "expires_at": {"type": "integer"}},
    },
}

PATHS: dict[str, Any] = {
    "/v1/files": {
        "post": {
            "operationId": "upload_file",
            "summary": "Upload a file (multipart, streamed to disk)",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "purpose": _PURPOSE,
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
            "responses": {"200": json_response(ref("File")), **errors(_REASONS, 400, 413)},
        },
        "get": {
            "operationId": "list_files",
            "summary": "List files (page/page_size or after/limit/order)",
            "parameters": [
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                {
                    "name": "page_size",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
                {"name": "after", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 10000},
                },
                {
                    "name": "order",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["asc", "desc"]},
                },
                {"name": "search", "in": "query", "schema": {"type": "string"}},
                {"name": "purpose", "in": "query", "schema": _PURPOSE},
                {"name": "source", "in": "query", "schema": {"type": "string"}},
                {"name": "sample_type", "in": "query", "schema": {"type": "string"}},
                {"name": "mimetypes", "in": "query", "schema": {"type": "string"}},
                {"name": "include_total", "in": "query", "schema": {"type": "boolean"}},
            ],
            "responses": {"200": json_response(ref("FileList")), **errors(_REASONS, 400)},
        },
    },
    "/v1/files/purposes": {
        "get": {
            "operationId": "list_file_purposes",
            "summary": "The purposes an upload may name, and the default",
            "responses": {"200": json_response(ref("FilePurposes"))},
        },
    },
    "/v1/files/{file_id}": {
        "get": {
            "operationId": "retrieve_file",
            "parameters": [_FILE_ID],
            "responses": {"200": json_response(ref("File")), **errors(_REASONS, 404)},
        },
        "delete": {
            "operationId": "delete_file",
            "parameters": [_FILE_ID],
            "responses": {"200": json_response(ref("FileDeleted")), **errors(_REASONS, 404)},
        },
    },
    "/v1/files/{file_id}/content": {
        "get": {
            "operationId": "download_file",
            "parameters": [
                _FILE_ID,
                {"name": "Range", "in": "header", "schema": {"type": "string"}},
            ],
            "responses": {**_CONTENT_RESPONSES, **errors(_REASONS, 404, 416)},
        },
        "head": {
            "operationId": "download_file_headers",
            "summary": "The headers of the content route (size, ETag), without the bytes",
            "parameters": [_FILE_ID],
            "responses": {
                "200": {"description": "The file's headers"},
                "304": {"description": "Not modified (If-None-Match matched the ETag)"},
                "404": {"description": "Not found"},
            },
        },
    },
    "/v1/files/{file_id}/url": {
        "get": {
            "operationId": "get_signed_url",
            "parameters": [
                _FILE_ID,
                {
                    "name": "expiry",
                    "in": "query",
                    "schema": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
                    "description": "hours the URL stays valid (default 24)",
                },
            ],
            "responses": {"200": json_response(ref("SignedUrl")), **errors(_REASONS, 400, 404)},
        }
    },
    "/v1/signed/files/{file_id}/content": {
        "get": {
            "operationId": "download_signed",
            "summary": "The file's bytes; the signature is the auth (no Jupyter token)",
            "security": [],
            "parameters": [
                _FILE_ID,
                {"name": "expires", "in": "query", "required": True, "schema": {"type": "integer"}},
                {
                    "name": "signature",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string"},
                },
            ],
            "responses": {**_CONTENT_RESPONSES, **errors(_REASONS, 403, 404, 416)},
        }
    },
}
