"""Small builders shared by the API areas of the document: refs, JSON responses, errors."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Schema = dict[str, Any]

ERROR_SCHEMA: Schema = {
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

NULL_STR: Schema = {"type": "string", "nullable": True}
NULL_INT: Schema = {"type": "integer", "nullable": True}
DATE_TIME: Schema = {"type": "string", "format": "date-time"}

AUTH_REFUSAL = "Not authenticated or not authorized (Jupyter token or cookie + XSRF)"


def ref(name: str) -> Schema:
    """A reference to ``#/components/schemas/{name}``."""
    return {"$ref": f"#/components/schemas/{name}"}


ERROR = ref("Error")


def json_response(schema: Schema, description: str = "OK") -> Schema:
    """A response whose body is JSON of ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(reasons: Mapping[int, str], *codes: int) -> dict[str, Schema]:
    """JSON error responses for ``codes``, described by the area's ``reasons``."""
    return {str(code): json_response(ERROR, reasons[code]) for code in codes}


def list_of(item: Schema, *, required: tuple[str, ...] = ("object", "data")) -> Schema:
    """``{object: "list", data: [item]}``."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": item},
        },
    }


def path_param(name: str, description: str | None = None) -> Schema:
    param: Schema = {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
    if description:
        param["description"] = description
    return param


MODEL_ID = path_param("model_id", "Model id; may contain '/' (raw or %2F-encoded)")


def add_auth_refusals(paths: dict[str, Any]) -> None:
    """Every operation can answer 403 (no or bad credentials, or a failed XSRF check).

    An area that gives 403 a further meaning (an expired signature, a gated repository)
    documents it itself; this adds the plain refusal everywhere else.
    """
    refusal = json_response(ERROR, AUTH_REFUSAL)
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("403", copy.deepcopy(refusal))
