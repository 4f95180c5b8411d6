"""The ``ModelFile`` / ``Download`` schemas of the Anaconda AI Navigator API, as published
(seeds/anaconda-ai-navigator-model-files.md), in JSON Schema form for jsonschema."""

from __future__ import annotations

from typing import Any

DOWNLOAD: dict[str, Any] = {
    "type": "object",
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
        "downloadedRatio": {"type": "number"},
        "transferredBytes": {"type": "number"},
        "totalBytes": {"type": "number"},
        "paused": {"type": "boolean"},
        "downloadTimeTaken": {"type": "number"},
        "averageMbps": {"type": "number"},
    },
}

MODEL_FILE: dict[str, Any] = {
    "type": "object",
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
        "downloadStatus": {
            "type": "object",
            "properties": {
                "status": {
                    "type": "string",
                    "enum": ["not_started", "in_progress", "paused", "completed"],
                },
                "progress": DOWNLOAD,
                "localPath": {"type": "string"},
            },
        },
    },
    # "exactly the seed's schema": no field outside it
    "additionalProperties": False,
}

FILES_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "array", "items": MODEL_FILE}},
}
