"""The model catalog routes (Pieces snapshot/download/update, Anaconda ModelFile, LM Studio
download). Model ids may contain ``/``: every route accepts them raw and ``%2F``-encoded.

These routes must be listed AFTER the downloads and runtime routes (``/models/download/status``,
``/models/{id}/load``...): the snapshot route's ``{model_id}`` matches anything.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import InvalidRequest
from .base import ModelFilesHandler, path_id


class CatalogHandler(ModelFilesHandler):
    """Base of the catalog routes: reaches the ``Catalog`` service."""

    @property
    def catalog(self) -> Any:
        catalog = getattr(self.services, "catalog", None) or self.services.extra.get("catalog")
        if catalog is None:
            raise web.HTTPError(404, "the model catalog is not configured")
        return catalog


class ModelsHandler(CatalogHandler):
    """``GET v1/models`` (list with filters) and ``POST v1/models`` (register a custom model)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        result = await self.catalog.list_models(
            search=self.query_str("search"),
            source=self.query_str("source"),
            format=self.query_str("format"),
            quantization=self.query_str("quantization"),
            downloaded=self.query_bool("downloaded"),
            loaded=self.query_bool("loaded"),
            page=self.query_int("page", 1, minimum=1, maximum=100_000),
            page_size=self.query_int("page_size", 50, minimum=1, maximum=200),
        )
        self.write_json(result)

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.write_json(await self.catalog.register_custom(self.json_body()), status=201)


class ModelUpdateHandler(CatalogHandler):
    """``POST v1/models/update``: custom models only."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.write_json(await self.catalog.update_custom(self.json_body()))


class LMStudioDownloadHandler(CatalogHandler):
    """``POST v1/models/download`` ``{model, quantization?}`` -> job status."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        if "model" not in body:
            raise InvalidRequest("the body needs 'model': a catalog id or a Hugging Face URL")
        self.write_json(
            await self.catalog.download_lmstudio(body["model"], body.get("quantization"))
        )


class ModelHandler(CatalogHandler):
    """``GET v1/models/{id}`` snapshot; ``DELETE`` removes its local files."""

    @web.authenticated
    @authorized
    async def get(self, model_id: str) -> None:
        self.write_json(await self.catalog.snapshot(path_id(model_id)))

    @web.authenticated
    @authorized
    async def delete(self, model_id: str) -> None:
        forget = bool(self.query_bool("forget"))
        self.write_json(await self.catalog.delete_local(path_id(model_id), forget=forget))


class ModelFilesListHandler(CatalogHandler):
    """``GET v1/models/{id}/files?downloaded=`` -> ``{data: [ModelFile]}``."""

    @web.authenticated
    @authorized
    async def get(self, model_id: str) -> None:
        files = await self.catalog.model_files(path_id(model_id), self.query_bool("downloaded"))
        self.write_json({"data": files})


class ModelFileHandler(CatalogHandler):
    """``GET/PATCH/DELETE v1/models/{id}/files/{file_id}``."""

    @web.authenticated
    @authorized
    async def get(self, model_id: str, file_id: str) -> None:
        self.write_json(
            {"data": await self.catalog.model_file(path_id(model_id), path_id(file_id))}
        )

    @web.authenticated
    @authorized
    async def patch(self, model_id: str, file_id: str) -> None:
        action = self.json_body().get("action")
        if not isinstance(action, str):
            raise InvalidRequest("the body needs 'action': start, pause or resume")
        status = await self.catalog.file_action(path_id(model_id), path_id(file_id), action)
        self.write_json({"data": status})

    @web.authenticated
    @authorized
    async def delete(self, model_id: str, file_id: str) -> None:
        self.write_json(
            {"data": await self.catalog.delete_file(path_id(model_id), path_id(file_id))}
        )


class ModelDownloadHandler(CatalogHandler):
    """``POST v1/models/{id}/download`` (body ``{files?, quantization?}``) -> snapshot."""

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        body = self.json_body()
        snapshot = await self.catalog.download_model(
            path_id(model_id), files=body.get("files"), quantization=body.get("quantization")
        )
        self.write_json(snapshot)


class ModelDownloadCancelHandler(CatalogHandler):
    """``POST v1/models/{id}/download/cancel`` -> snapshot."""

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        self.write_json(await self.catalog.cancel_model(path_id(model_id)))


_M = r"/modelfiles/v1/models"
default_handlers: list[tuple[str, Any]] = [
    (rf"{_M}/?", ModelsHandler),
    (rf"{_M}/update/?", ModelUpdateHandler),
    (rf"{_M}/download/?", LMStudioDownloadHandler),
    (rf"{_M}/(?P<model_id>.+)/files/(?P<file_id>[^/]+)/?", ModelFileHandler),
    (rf"{_M}/(?P<model_id>.+)/files/?", ModelFilesListHandler),
    (rf"{_M}/(?P<model_id>.+)/download/cancel/?", ModelDownloadCancelHandler),
    (rf"{_M}/(?P<model_id>.+)/download/?", ModelDownloadHandler),
    (rf"{_M}/(?P<model_id>.+?)/?", ModelHandler),
]


# -- OpenAPI ------------------------------------------------------------------------------
def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERR = _ref("Error")
_MODEL_ID = {
    "name": "model_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "Model id; may contain '/' (raw or %2F-encoded)",
}
_FILE_ID = {"name": "file_id", "in": "path", "required": True, "schema": {"type": "string"}}
_BYTES = {
    "type": "object",
    "required": ["value", "readable"],
    "properties": {"value": {"type": "integer"}, "readable": {"type": "string"}},
}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad request",
        403: "Forbidden (gated repo, not a custom model)",
        404: "Unknown model or file",
        409: "Conflict",
        502: "Upstream (Hub, manifest) failed",
    }
    return {str(c): _json(_ERR, text[c]) for c in codes}


OPENAPI: dict[str, Any] = {
    "paths": {
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
                "responses": {"200": _json(_ref("ModelList"), "Models"), **_errors(400, 502)},
            },
            "post": {
                "summary": "Register a custom model (name, description, files by URL)",
                "requestBody": {"content": {"application/json": {"schema": _ref("CustomModel")}}},
                "responses": {"201": _json(_ref("Model"), "The new model"), **_errors(400, 409)},
            },
        },
        "/v1/models/update": {
            "post": {
                "summary": "Update a custom model (custom: true only)",
                "requestBody": {"content": {"application/json": {"schema": _ref("CustomModel")}}},
                "responses": {
                    "200": _json(_ref("Model"), "The updated model"),
                    **_errors(400, 403, 404, 502),
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
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {
                                "status": {"type": "string"},
                                "job_id": {"type": "string"},
                            },
                        },
                        "The job status object, or {status: already_downloaded}",
                    ),
                    **_errors(400, 403, 404, 409, 502),
                },
            }
        },
        "/v1/models/{model_id}": {
            "get": {
                "summary": "Model snapshot (Pieces Model fields plus files, jobs)",
                "parameters": [_MODEL_ID],
                "responses": {
                    "200": _json(_ref("Model"), "Snapshot"),
                    **_errors(400, 403, 404, 502),
                },
            },
            "delete": {
                "summary": "Delete the local files of a model (forget=true: a custom definition)",
                "parameters": [
                    _MODEL_ID,
                    {"name": "forget", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {
                    "200": _json(
                        {
                            "oneOf": [
                                _ref("Model"),
                                {
                                    "type": "object",
                                    "required": ["id", "deleted"],
                                    "properties": {
                                        "id": {"type": "string"},
                                        "deleted": {"type": "boolean"},
                                    },
                                },
                            ]
                        },
                        "Snapshot",
                    ),
                    **_errors(400, 403, 404, 502),
                },
            },
        },
        "/v1/models/{model_id}/files": {
            "get": {
                "summary": "Anaconda: list the files of a model",
                "parameters": [
                    _MODEL_ID,
                    {"name": "downloaded", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["data"],
                            "properties": {"data": {"type": "array", "items": _ref("ModelFile")}},
                        },
                        "Files",
                    ),
                    **_errors(400, 403, 404, 502),
                },
            }
        },
        "/v1/models/{model_id}/files/{file_id}": {
            "get": {
                "summary": "Anaconda: one model file",
                "parameters": [_MODEL_ID, _FILE_ID],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["data"],
                            "properties": {"data": _ref("ModelFile")},
                        },
                        "File",
                    ),
                    **_errors(400, 403, 404, 502),
                },
            },
            "patch": {
                "summary": "Anaconda: start, pause or resume the download of a file",
                "parameters": [_MODEL_ID, _FILE_ID],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["action"],
                                "properties": {
                                    "action": {
                                        "type": "string",
                                        "enum": ["start", "pause", "resume"],
                                    }
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["data"],
                            "properties": {"data": _ref("DownloadStatus")},
                        },
                        "Status",
                    ),
                    **_errors(400, 403, 404, 409, 502),
                },
            },
            "delete": {
                "summary": "Anaconda: delete the local copy of a file",
                "parameters": [_MODEL_ID, _FILE_ID],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["data"],
                            "properties": {"data": _ref("ModelFile")},
                        },
                        "File",
                    ),
                    **_errors(400, 403, 404, 502),
                },
            },
        },
        "/v1/models/{model_id}/download": {
            "post": {
                "summary": "Pieces: download a model (body: files or quantization)",
                "parameters": [_MODEL_ID],
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
                    "200": _json(_ref("Model"), "Snapshot with its jobs"),
                    **_errors(400, 403, 404, 409, 502),
                },
            }
        },
        "/v1/models/{model_id}/download/cancel": {
            "post": {
                "summary": "Pieces: cancel the downloads of a model",
                "parameters": [_MODEL_ID],
                "responses": {
                    "200": _json(_ref("Model"), "Snapshot"),
                    **_errors(400, 403, 404, 409, 502),
                },
            }
        },
    },
    "schemas": {
        "Download": {
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
                "downloadedRatio": {"type": "number", "minimum": 0, "maximum": 1},
                "transferredBytes": {"type": "number"},
                "totalBytes": {"type": "number"},
                "paused": {"type": "boolean"},
                "downloadTimeTaken": {"type": "number"},
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
                "progress": _ref("Download"),
                "localPath": {"type": "string"},
            },
        },
        "ModelFile": {
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
                "downloadStatus": _ref("DownloadStatus"),
            },
        },
        "Model": {
            "type": "object",
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
                    "properties": {"value": {"type": "string"}, "readable": {"type": "string"}},
                },
                "description": {"type": "string"},
                "cloud": {"type": "boolean"},
                "custom": {"type": "boolean"},
                "downloaded": {"type": "boolean"},
                "downloading": {"type": "boolean"},
                "loaded": {"type": "boolean"},
                "quantization": {"type": "string", "nullable": True},
                "parameters": {"type": "number", "nullable": True},
                "ram": _BYTES,
                "bytes": _BYTES,
                "foundation": {"type": "string"},
                "provider": {"type": "string"},
                "type": {"type": "string", "enum": ["UNKNOWN", "BALANCED", "SPEED", "ACCURACY"]},
                "usage": {"type": "string"},
                "unique": {"type": "string"},
                "source": {"type": "string", "enum": ["hub", "manifest", "custom"]},
                "format": {"type": "string", "nullable": True},
                "files": {"type": "array", "items": _ref("ModelFile")},
                "jobs": {"type": "array", "items": {"type": "object"}},
                "started": {
                    "type": "array",
                    "items": {"type": "object"},
                    "description": "POST .../download only: the jobs this request started "
                    "or joined (none when the chosen files are already local)",
                },
                "loaded_rss_bytes": {"type": "integer", "nullable": True},
                "load_time_ms": {"type": "number", "nullable": True},
            },
        },
        "ModelList": {
            "type": "object",
            "required": ["iterable", "total", "page", "page_size", "has_more"],
            "properties": {
                "iterable": {"type": "array", "items": _ref("Model")},
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "page_size": {"type": "integer"},
                "has_more": {"type": "boolean"},
                "warnings": {"type": "array", "items": {"type": "string"}},
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
    },
}

# Every route answers 403 without Jupyter auth (or for a gated repo / non-custom model).
for _item in OPENAPI["paths"].values():
    for _op in _item.values():
        _op["responses"].setdefault("403", _json(_ERR, "Forbidden"))
