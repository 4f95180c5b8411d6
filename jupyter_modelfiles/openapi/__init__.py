"""The OpenAPI document of the modelfiles API, in one place.

Each API area (files, downloads, models, runtime, websockets) declares its ``PATHS`` and
``SCHEMAS`` in its own module; :func:`build_document` merges them, adds the shared ``Error``
schema and the 403 every operation can answer. The ``v1/openapi.json`` handler serves it.
"""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any

from .._version import __version__
from . import downloads, files, models, runtime, uploads, websockets
from ._helpers import ERROR_SCHEMA, add_auth_refusals, json_response

AREAS: tuple[ModuleType, ...] = (files, uploads, downloads, models, runtime, websockets)

#: The paths the Pieces seed names in the singular (``/model/{model}``...): each is also served
#: and documented at ``/v1/model/...``, an alias of the plural path.
PIECES_SINGULAR: tuple[str, ...] = (
    "/v1/models/update",
    "/v1/models/{model_id}",
    "/v1/models/{model_id}/download",
    "/v1/models/{model_id}/download/cancel",
    "/v1/models/{model_id}/download/progress",
    "/v1/models/{model_id}/load",
    "/v1/models/{model_id}/unload",
)


def singular(path: str) -> str:
    """The Pieces seed's singular form of a plural models path."""
    return path.replace("/v1/models", "/v1/model", 1)


def _alias(path: str, item: dict[str, Any]) -> dict[str, Any]:
    alias = copy.deepcopy(item)
    for operation in alias.values():
        if "operationId" in operation:
            operation["operationId"] += "_singular"
        operation["description"] = (
            f"The Pieces seed's singular path: an alias of `{path}`. "
            + operation.get("description", "")
        ).strip()
    return alias


_DOCUMENT_PATH: dict[str, Any] = {
    "/v1/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {
                "200": json_response({"type": "object"}, "The OpenAPI 3.0 document"),
            },
        }
    }
}


def build_paths() -> dict[str, Any]:
    """Every documented path with its operations (the 403 refusal included)."""
    paths: dict[str, Any] = {}
    for fragment in (*(area.PATHS for area in AREAS), _DOCUMENT_PATH):
        for path, item in fragment.items():
            if path in paths:
                raise ValueError(f"{path} is documented twice")
            paths[path] = copy.deepcopy(item)
    for path in PIECES_SINGULAR:
        paths[singular(path)] = _alias(path, paths[path])
    add_auth_refusals(paths)
    return paths


def build_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": copy.deepcopy(ERROR_SCHEMA)}
    for area in AREAS:
        for name, schema in area.SCHEMAS.items():
            if name in schemas:
                raise ValueError(f"schema {name} is declared twice ({area.__name__})")
            schemas[name] = copy.deepcopy(schema)
    return schemas


def build_document(server_path: str = "/modelfiles") -> dict[str, Any]:
    """The whole API document, with ``servers`` at ``server_path``."""
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
            "schemas": build_schemas(),
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "paths": build_paths(),
    }


__all__ = ["AREAS", "PIECES_SINGULAR", "build_document", "singular"]
