"""The model catalog: Pieces snapshot/download/update, Anaconda ModelFile, LM Studio download."""

from __future__ import annotations

from typing import Any

from ._helpers import MODEL_ID, NULL_STR, Schema, errors, json_response, path_param, ref
from .runtime import MEMORY_PROPERTIES

_REASONS = {
    400: "Bad request",
    403: "Forbidden: a gated repository without a token, or not a custom model",
    404: "Unknown model or file",
    409: "Conflict: the id exists already, or nothing to download, pause or resume",
    502: "Upstream (Hub, manifest) failed",
}
_FILE_ID = path_param("file_id")
_BYTES: Schema = {
    "type": "object",
    "description": "A byte count and its readable form",
    "required": ["value", "readable"],
    "properties": {"value": {"type": "integer"}, "readable": {"type": "string"}},
}


def _data(schema: Schema, description: str) -> Schema:
    """Anaconda's envelope: ``{data: schema}``."""
    return json_response(
        {"type": "object", "required": ["data"], "properties": {"data": schema}}, description
    )


SCHEMAS: dict[str, Schema] = {
    "Download": {
        "type": "object",
        "description": "Anaconda's Download: a file's jobs seen through the ModelFile routes.",
        "required": [
            "fileId",
            "modelId",
            "filename",
            "downloadedRatio",
            "transferredBytes",
            "totalBytes",
            "paused",
            "downloadTimeTaken",
            "averageMbps",
        ],
        "properties": {
            "fileId": {"type": "string"},
            "modelId": {"type": "string"},
            "filename": {"type": "string"},
            "downloadedRatio": {"type": "number", "minimum": 0, "maximum": 1},
            "transferredBytes": {"type": "number"},
            "totalBytes": {"type": "number"},
            "paused": {"type": "boolean"},
            "downloadTimeTaken": {"type": "number", "description": "milliseconds"},
            "averageMbps": {"type": "number"},
        },
    },
    "DownloadStatus": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {
                "type": "string",
                "enum": ["not_started", "in_progress", "paused", "completed"],
            },
            "progress": ref("Download"),
            "localPath": {"type": "string"},
        },
    },
    "ModelFile": {
        "type": "object",
        "description": "Anaconda's ModelFile (camelCase, as the seed gives it).",
        "required": [
            "id",
            "name",
            "downloadUrl",
            "sizeBytes",
            "sha256checksum",
            "quantization",
            "format",
            "maxRamUsage",
        ],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "downloadUrl": {"type": "string"},
            "sizeBytes": {"type": "number"},
            "sha256checksum": {"type": "string"},
            "quantization": {"type": "string"},
            "format": {"type": "string"},
            "isDownloaded": {"type": "boolean"},
            "maxRamUsage": {"type": "number"},
            "downloadStatus": ref("DownloadStatus"),
        },
    },
    "Model": {
        "type": "object",
        "description": "The model snapshot: Pieces' Model fields plus ours (source, files, "
        "jobs, the catalog's metadata and the runtime's memory state).",
        "required": [
            "id",
            "name",
            "version",
            "created",
            "cloud",
            "type",
            "usage",
            "custom",
            "downloaded",
            "downloading",
            "loaded",
            "files",
            "source",
        ],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "version": {"type": "string"},
            "created": {
                "type": "object",
                "required": ["value"],
                "properties": {
                    "value": {"type": "string", "format": "date-time"},
                    "readable": {"type": "string"},
                },
            },
            "description": {"type": "string"},
            "cloud": {"type": "boolean"},
            "cpu": {"type": "boolean", "description": "Pieces: runs on the CPU (always true)"},
            "custom": {"type": "boolean"},
            "downloaded": {"type": "boolean"},
            "downloading": {"type": "boolean"},
            "loaded": {"type": "boolean"},
            "quantization": NULL_STR,
            "parameters": {"type": "number", "nullable": True, "description": "billions"},
            "ram": _BYTES,
            "bytes": _BYTES,
            "foundation": {"type": "string"},
            "provider": {"type": "string"},
            "type": {"type": "string", "enum": ["UNKNOWN", "BALANCED", "SPEED", "ACCURACY"]},
            "usage": {"type": "string"},
            "unique": {"type": "string"},
            "source": {"type": "string", "enum": ["hub", "manifest", "custom"]},
            "format": NULL_STR,
            "architecture": {
                "type": "string",
                "nullable": True,
                "description": "e.g. llama, from the file's header or the Hub's config",
            },
            "context_length": {
                "type": "integer",
                "nullable": True,
                "description": "tokens, from the file's header",
            },
            "organization_name": {
                "type": "string",
                "nullable": True,
                "description": "who publishes the model (the Hub organisation or the manifest's)",
            },
            "revision": {
                "type": "string",
                "nullable": True,
                "description": "the Hub commit the file list was read at",
            },
            "recommended_file": {
                "type": "string",
                "nullable": True,
                "description": "id of the file the catalog recommends",
            },
            "files": {"type": "array", "items": ref("ModelFile")},
            "jobs": {"type": "array", "items": ref("DownloadJobStatus")},
            "started": {
                "type": "array",
                "items": ref("DownloadJobStatus"),
                "description": "POST .../download only: the jobs this request started "
                "or joined (none when the chosen files are already local)",
            },
            **MEMORY_PROPERTIES,
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["iterable", "total", "page", "page_size", "has_more"],
        "properties": {
            "iterable": {"type": "array", "items": ref("Model")},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
            "has_more": {"type": "boolean"},
            "warnings": {"type": "array", "items": {"type": "string"}},
        },
    },
    "ModelDeleted": {
        "type": "object",
        "required": ["id", "deleted"],
        "properties": {"id": {"type": "string"}, "deleted": {"type": "boolean"}},
    },
    "AlreadyDownloaded": {
        "type": "object",
        "description": "LM Studio's answer when every chosen file is already here",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["already_downloaded"]},
            "model_id": {"type": "string"},
            "files": {"type": "array", "items": {"type": "string"}},
        },
    },
    "CustomModel": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "files": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["url"],
                    "properties": {
                        "url": {"type": "string"},
                        "name": {"type": "string"},
                        "size": {"type": "integer"},
                        "sha256": {"type": "string"},
                        "quantization": {"type": "string"},
                        "format": {"type": "string"},
                    },
                },
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/models": {
        "get": {
            "summary": "List catalog models (manifests, custom, local; Hub when searching)",
            "parameters": [
                {"name": n, "in": "query", "schema": {"type": t}}
                for n, t in (
                    ("search", "string"),
                    ("source", "string"),
                    ("format", "string"),
                    ("quantization", "string"),
                    ("downloaded", "boolean"),
                    ("loaded", "boolean"),
                    ("page", "integer"),
                    ("page_size", "integer"),
                )
            ],
            "responses": {
                "200": json_response(ref("ModelList"), "Models"),
                **errors(_REASONS, 400, 502),
            },
        },
        "post": {
            "summary": "Register a custom model (name, description, files by URL)",
            "requestBody": {"content": {"application/json": {"schema": ref("CustomModel")}}},
            "responses": {
                "201": json_response(ref("Model"), "The new model"),
                **errors(_REASONS, 400, 409),
            },
        },
    },
    "/v1/models/update": {
        "post": {
            "summary": "Update a custom model (custom: true only)",
            "requestBody": {"content": {"application/json": {"schema": ref("CustomModel")}}},
            "responses": {
                "200": json_response(ref("Model"), "The updated model"),
                **errors(_REASONS, 400, 403, 404, 502),
            },
        }
    },
    "/v1/models/download": {
        "post": {
            "summary": "LM Studio: download a catalog id or a Hugging Face URL",
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["model"],
                            "properties": {
                                "model": {"type": "string"},
                                "quantization": {"type": "string"},
                            },
                        }
                    }
                }
            },
            "responses": {
                "200": json_response(
                    {"oneOf": [ref("DownloadJobStatus"), ref("AlreadyDownloaded")]},
                    "The job status object, or {status: already_downloaded}",
                ),
                **errors(_REASONS, 400, 403, 404, 409, 502),
            },
        }
    },
    "/v1/models/{model_id}": {
        "get": {
            "summary": "Model snapshot (Pieces Model fields plus files, jobs)",
            "parameters": [MODEL_ID],
            "responses": {
                "200": json_response(ref("Model"), "Snapshot"),
                **errors(_REASONS, 400, 403, 404, 502),
            },
        },
        "delete": {
            "summary": "Delete the local files of a model (forget=true: a custom definition)",
            "parameters": [
                MODEL_ID,
                {"name": "forget", "in": "query", "schema": {"type": "boolean"}},
            ],
            "responses": {
                "200": json_response(
                    {"oneOf": [ref("Model"), ref("ModelDeleted")]},
                    "The snapshot, or {id, deleted: true} once forgotten",
                ),
                **errors(_REASONS, 400, 403, 404, 502),
            },
        },
    },
    "/v1/models/{model_id}/files": {
        "get": {
            "summary": "Anaconda: list the files of a model",
            "parameters": [
                MODEL_ID,
                {"name": "downloaded", "in": "query", "schema": {"type": "boolean"}},
            ],
            "responses": {
                "200": _data({"type": "array", "items": ref("ModelFile")}, "Files"),
                **errors(_REASONS, 400, 403, 404, 502),
            },
        }
    },
    "/v1/models/{model_id}/files/{file_id}": {
        "get": {
            "summary": "Anaconda: one model file",
            "parameters": [MODEL_ID, _FILE_ID],
            "responses": {
                "200": _data(ref("ModelFile"), "File"),
                **errors(_REASONS, 400, 403, 404, 502),
            },
        },
        "patch": {
            "summary": "Anaconda: start, pause or resume the download of a file",
            "parameters": [MODEL_ID, _FILE_ID],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["action"],
                            "properties": {
                                "action": {"type": "string", "enum": ["start", "pause", "resume"]}
                            },
                        }
                    }
                }
            },
            "responses": {
                "200": _data(ref("DownloadStatus"), "Status"),
                **errors(_REASONS, 400, 403, 404, 409, 502),
            },
        },
        "delete": {
            "summary": "Anaconda: delete the local copy of a file",
            "parameters": [MODEL_ID, _FILE_ID],
            "responses": {
                "200": _data(ref("ModelFile"), "File"),
                **errors(_REASONS, 400, 403, 404, 502),
            },
        },
    },
    "/v1/models/{model_id}/download": {
        "post": {
            "summary": "Pieces: download a model (body: files or quantization)",
            "parameters": [MODEL_ID],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "files": {"type": "array", "items": {"type": "string"}},
                                "quantization": {"type": "string"},
                            },
                        }
                    }
                }
            },
            "responses": {
                "200": json_response(ref("Model"), "Snapshot with its jobs"),
                **errors(_REASONS, 400, 403, 404, 409, 502),
            },
        }
    },
    "/v1/models/{model_id}/download/cancel": {
        "post": {
            "summary": "Pieces: cancel the downloads of a model",
            "parameters": [MODEL_ID],
            "responses": {
                "200": json_response(ref("Model"), "Snapshot"),
                **errors(_REASONS, 400, 403, 404, 409, 502),
            },
        }
    },
}
