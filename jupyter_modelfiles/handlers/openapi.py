"""The OpenAPI document, merged from the fragments each handler module declares."""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .._version import __version__
from .base import ModelFilesHandler

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def _fragment_modules() -> list[ModuleType]:
    from . import files

    modules: list[ModuleType] = [files]
    for name in ("downloads", "models", "runtime", "events"):
        try:
            modules.append(__import__(f"{__package__}.{name}", fromlist=["OPENAPI"]))
        except ImportError:
            continue
    return modules


def _document_auth_refusals(paths: dict[str, Any]) -> None:
    """Every operation can answer 403 (no or bad credentials, or a failed XSRF check)."""
    refusal = {
        "description": "Not authenticated or not authorized (Jupyter auth, XSRF, signature)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("403", copy.deepcopy(refusal))


def build_document(server_path: str = "/modelfiles") -> dict[str, Any]:
    """The whole API document, with ``servers`` at ``server_path``."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for module in _fragment_modules():
        fragment = getattr(module, "OPENAPI", None)
        if not fragment:
            continue
        for path, item in fragment.get("paths", {}).items():
            paths.setdefault(path, {}).update(copy.deepcopy(item))
        schemas.update(copy.deepcopy(fragment.get("schemas", {})))
    _document_auth_refusals(paths)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "jupyter-modelfiles",
            "version": __version__,
            "description": "Model catalogs, downloads, an uploaded-files store and model "
            "loading, served by a Jupyter server. Every route requires Jupyter auth "
            "(token or cookie + XSRF) except signed file URLs.",
        },
        "servers": [{"url": server_path}],
        "security": [{"token": []}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
            },
        },
        "paths": paths,
    }


class OpenAPIHandler(ModelFilesHandler):
    """``GET v1/openapi.json``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from jupyter_server.utils import url_path_join

        self.write_json(build_document(url_path_join(self.base_url, "modelfiles")))


default_handlers = [(r"/modelfiles/v1/openapi\.json", OpenAPIHandler)]
