"""Download jobs: LM Studio's status routes, ``v1/downloads`` (any URL), job control, partials."""

from __future__ import annotations

from typing import Any

from ..downloads.jobs import STATUS_GROUPS, STATUSES, TERMINAL
from ._helpers import DATE_TIME, NULL_STR, Schema, errors, json_response, list_of, path_param, ref

_REASONS = {
    400: "Bad request",
    404: "Unknown job",
    409: "The job's status does not allow this",
}
_JOB_ID = path_param("job_id")
JOB_STATUSES = list(STATUSES)

_STATUS_PROPS: dict[str, Schema] = {
    "job_id": {"type": "string"},
    "status": {
        "type": "string",
        "enum": JOB_STATUSES,
        "description": "LM Studio's downloading, paused, completed and failed; queued (waiting "
        "for a free slot) and cancelled (stopped for good, partial file removed) are our "
        "extensions",
    },
    "downloaded_bytes": {"type": "integer", "minimum": 0},
    "total_size_bytes": {"type": "integer", "minimum": 0},
    "started_at": DATE_TIME,
    "bytes_per_second": {"type": "number", "minimum": 0},
    "estimated_completion": {
        **DATE_TIME,
        "nullable": True,
        "description": "Present while downloading, from the first progress report; null only "
        "while the total size is unknown or no byte has arrived yet",
    },
    "completed_at": DATE_TIME,
    "error": NULL_STR,
    "model_id": NULL_STR,
    "file": NULL_STR,
    "url": {"type": "string"},
    "sha256": NULL_STR,
    "version": {
        "type": "integer",
        "description": "Server-issued state version, increasing with every change of the job "
        "(also across restarts): keep the state with the highest version.",
    },
}

SCHEMAS: dict[str, Schema] = {
    "DownloadJobStatus": {
        "type": "object",
        "description": "LM Studio's download job status object, plus error, model_id, "
        "file, url and sha256. bytes_per_second and estimated_completion only while "
        "downloading; completed_at only when completed.",
        "required": ["job_id", "status", "downloaded_bytes", "total_size_bytes"],
        "properties": _STATUS_PROPS,
    },
    "DownloadJob": {
        "type": "object",
        "description": "The full job: the status object plus where it lands and its hook.",
        "required": ["job_id", "status", "downloaded_bytes", "total_size_bytes", "url"],
        "properties": {
            **_STATUS_PROPS,
            "created_at": DATE_TIME,
            "dest": {"type": "string"},
            "hook": NULL_STR,
            "hook_args": {"type": "object", "additionalProperties": True},
        },
    },
    "DownloadJobList": list_of(ref("DownloadJob")),
    "DownloadStatusGroups": {
        "type": "object",
        "description": "LM Studio's grouping of the jobs by status (downloading, paused, "
        "completed, failed), with the groups of our two extra statuses: queued and cancelled.",
        "required": ["downloading", "queued", "paused", "completed", "failed"],
        "properties": {
            group: {"type": "array", "items": ref("DownloadJobStatus")} for group in STATUS_GROUPS
        },
    },
    "PartialFile": {
        "type": "object",
        "required": ["name", "files", "size_bytes"],
        "properties": {
            "name": {"type": "string"},
            "files": {"type": "array", "items": {"type": "string"}},
            "size_bytes": {"type": "integer"},
            "downloaded_bytes": {"type": "integer", "nullable": True},
            "modified_at": {"type": "string"},
            "job_id": NULL_STR,
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/models/download/status": {
        "get": {
            "operationId": "download_status",
            "summary": "Download jobs grouped by status (LM Studio)",
            "responses": {"200": json_response(ref("DownloadStatusGroups"), "Jobs by status")},
        }
    },
    "/v1/models/download/status/{job_id}": {
        "get": {
            "operationId": "download_job_status",
            "summary": "One download job's status (LM Studio)",
            "parameters": [_JOB_ID],
            "responses": {
                "200": json_response(ref("DownloadJobStatus"), "The job"),
                **errors(_REASONS, 404),
            },
        }
    },
    "/v1/downloads": {
        "get": {
            "operationId": "list_downloads",
            "summary": "List download jobs",
            "parameters": [
                {"name": "model_id", "in": "query", "schema": {"type": "string"}},
                {"name": "status", "in": "query", "schema": _STATUS_PROPS["status"]},
            ],
            "responses": {
                "200": json_response(ref("DownloadJobList"), "The jobs"),
                **errors({400: "Bad filter"}, 400),
            },
        },
        "post": {
            "operationId": "create_download",
            "summary": "Download any http(s) URL into the files store",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["url"],
                            "properties": {
                                "url": {"type": "string", "pattern": "^https?://"},
                                "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                                "filename": {"type": "string"},
                                "purpose": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "202": json_response(ref("DownloadJob"), "Queued (or joined an existing job)"),
                **errors({400: "Bad URL, checksum, file name or purpose"}, 400),
            },
        },
    },
    "/v1/downloads/clear": {
        "post": {
            "operationId": "clear_finished_downloads",
            "summary": "Forget finished jobs (completed, failed, cancelled by default)",
            "description": "Each cleared job is published once more on v1/events with "
            "cleared: true, so lists drop it.",
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "status": {
                                    "type": "array",
                                    "items": {"type": "string", "enum": list(TERMINAL)},
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": json_response(
                    {
                        "type": "object",
                        "required": ["object", "cleared"],
                        "properties": {
                            "object": {"type": "string", "enum": ["list"]},
                            "cleared": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "The ids of the cleared jobs",
                ),
                **errors({400: "Not a list of finished statuses"}, 400),
            },
        }
    },
    "/v1/downloads/partials": {
        "get": {
            "operationId": "list_partial_downloads",
            "summary": "Partial files that no live job owns",
            "responses": {
                "200": json_response(list_of(ref("PartialFile")), "Orphaned partial files"),
            },
        }
    },
    "/v1/downloads/partials/{name}": {
        "delete": {
            "operationId": "delete_partial_download",
            "summary": "Delete an orphaned partial file and its journal",
            "parameters": [path_param("name")],
            "responses": {
                "200": json_response(
                    {
                        "type": "object",
                        "required": ["name", "deleted"],
                        "properties": {
                            "name": {"type": "string"},
                            "deleted": {"type": "boolean"},
                        },
                    },
                    "Deleted",
                ),
                **errors(
                    {
                        400: "Not a partial file name",
                        404: "No such partial file",
                        409: "The file belongs to a live job",
                    },
                    400,
                    404,
                    409,
                ),
            },
        }
    },
    "/v1/downloads/{job_id}": {
        "get": {
            "operationId": "get_download",
            "summary": "One download job",
            "parameters": [_JOB_ID],
            "responses": {
                "200": json_response(ref("DownloadJob"), "The job"),
                **errors(_REASONS, 404),
            },
        }
    },
    **{
        f"/v1/downloads/{{job_id}}/{action}": {
            "post": {
                "operationId": f"{action}_download",
                "summary": f"{action.capitalize()} a download job",
                "parameters": [_JOB_ID],
                "responses": {
                    "200": json_response(ref("DownloadJob"), "The job after the change"),
                    **errors(_REASONS, 404, 409),
                },
            }
        }
        for action in ("pause", "resume", "cancel")
    },
}
