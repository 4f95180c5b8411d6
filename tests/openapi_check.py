"""Validate API responses against the served OpenAPI document (the one schema source).

``strict=True`` applies ``additionalProperties: false`` to every documented object that does
not say otherwise, so a field the server sends but the document does not name fails.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any

import jsonschema

from jupyter_modelfiles.openapi import build_document


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    return build_document("/modelfiles")


def _to_json_schema(node: Any, strict: bool = False) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema (``nullable``, ``exclusiveMinimum`` booleans, refs).

    ``strict``: an object with ``properties`` admits no other field unless it says so.
    """
    if isinstance(node, list):
        return [_to_json_schema(item, strict) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {
        key: (
            {name: _to_json_schema(sub, strict) for name, sub in value.items()}
            if key == "properties"
            else _to_json_schema(value, strict)
        )
        for key, value in node.items()
    }
    if strict and "properties" in out:
        out.setdefault("additionalProperties", False)
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/$defs/")
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    if out.get("exclusiveMinimum") is True:
        out["exclusiveMinimum"] = out.pop("minimum", 0)
    return out


def _with_defs(schema: dict[str, Any], strict: bool) -> dict[str, Any]:
    out = _to_json_schema(copy.deepcopy(schema), strict)
    components = document()["components"]["schemas"]
    out["$defs"] = {
        name: _to_json_schema(copy.deepcopy(s), strict) for name, s in components.items()
    }
    return out


def component_schema(name: str, *, strict: bool = False) -> dict[str, Any]:
    """The JSON Schema of ``#/components/schemas/{name}`` (e.g. a WebSocket message)."""
    assert name in document()["components"]["schemas"], f"no schema {name} in the document"
    return _with_defs({"$ref": f"#/components/schemas/{name}"}, strict)


def _route_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^}]+\\\}", "(.+)", re.escape(template))
    return re.compile(f"^{pattern}/?$")


def schema_for(
    path: str, method: str, status: int, *, strict: bool = False
) -> dict[str, Any] | None:
    """The JSON Schema of a documented response, or raise if the response is undocumented."""
    doc = document()
    candidates = [t for t in doc["paths"] if _route_regex(t).match(path)]
    if not candidates:
        raise AssertionError(f"route {path} is not in the OpenAPI document")
    # Prefer the most specific template: the most literal text (so ``{model_id}/files/{file_id}``
    # beats ``{model_id}``, whose parameter can swallow slashes), then fewest parameters.
    candidates.sort(key=lambda t: (-len(re.sub(r"\{[^}]+\}", "", t)), t.count("{")))
    for template in candidates:
        operation = doc["paths"][template].get(method.lower())
        if operation is None:
            continue
        responses = operation["responses"]
        response = (
            responses.get(str(status))
            or responses.get(f"{str(status)[0]}XX")
            or responses.get("default")
        )
        if response is None:
            raise AssertionError(f"{method} {template} does not document status {status}")
        content = response.get("content", {}).get("application/json")
        if content is None:
            return None
        return _with_defs(content["schema"], strict)
    raise AssertionError(f"{method} {path} is not documented")


def validate_response(
    path: str, method: str, status: int, payload: Any, *, strict: bool = False
) -> None:
    schema = schema_for(path, method, status, strict=strict)
    if schema is not None:
        jsonschema.validate(payload, schema)
