"""Custom models: definitions users register (``POST v1/models``) and update, as pure functions.

The catalog checks ids against what exists and stores the result; these functions validate a
request body and build the :class:`CatalogModel`.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidRequest
from .manifest import model_from_dict
from .models import CatalogModel
from .shapes import now_iso

_SLUG = re.compile(r"[^a-z0-9._-]+")

#: Path words of the model routes (``{id}/files``, ``{id}/download``, ``{id}/load``...): an id
#: with one of them as a segment could not be reached by its raw path, so it is refused.
ROUTE_WORDS = frozenset({"files", "download", "load", "unload", "update"})


def custom_id(body: dict[str, Any]) -> str:
    """The id a registration asks for, or ``custom/<slug of its name>``."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("a custom model needs a 'name'")
    model_id = body.get("id")
    if model_id is None:
        model_id = "custom/" + (_SLUG.sub("-", name.strip().lower()).strip("-") or "model")
    if not isinstance(model_id, str) or not model_id.strip():
        raise InvalidRequest("'id' must be a non-empty string")
    check_reachable(model_id)
    return model_id


def check_reachable(model_id: str) -> None:
    """400 unless every route can reach ``model_id`` by its raw path (``org/name``)."""
    segments = model_id.split("/")
    if any(s in ("", ".", "..") or s != s.strip() for s in segments):
        raise InvalidRequest(
            f"'id' {model_id[:200]!r} has an empty, '.' or '..' segment or spaces around one; "
            "use names like 'org/my-model'"
        )
    words = sorted(ROUTE_WORDS.intersection(segments))
    if words:
        raise InvalidRequest(
            f"'id' {model_id[:200]!r} has the route word {words[0]!r} as a segment, so its URL "
            f"would be ambiguous (.../{words[0]}/ names a route); choose another id or name "
            f"(route words: {', '.join(sorted(ROUTE_WORDS))})"
        )


def new_custom(body: dict[str, Any], model_id: str) -> CatalogModel:
    """The model a registration body describes (``{name, description?, files, id?}``)."""
    name = str(body["name"]).strip()
    model = model_from_dict(
        {**body, "id": model_id, "name": name}, source="custom", origin="request"
    )
    model.created = now_iso()
    model.updated = model.created
    return model


def updated_custom(current: CatalogModel, body: dict[str, Any]) -> CatalogModel:
    """``current`` with the fields ``body`` gives replaced (files too, when given)."""
    merged: dict[str, Any] = {
        "id": current.id,
        "name": body.get("name", current.name),
        "description": body.get("description", current.description),
        "parameters": body.get("parameters", current.parameters),
        "context_length": body.get("context_length", current.context_length),
    }
    if "files" in body:
        merged["files"] = body["files"]
    else:
        merged["files"] = [
            {
                "url": p.url,
                "name": p.filename,
                "size": p.size,
                "sha256": p.sha256,
                "quantization": s.quantization,
                "format": s.format,
            }
            for s in current.files
            for p in s.parts
        ]
    if not isinstance(merged["name"], str) or not merged["name"].strip():
        raise InvalidRequest("'name' must be a non-empty string")
    if merged["description"] is not None and not isinstance(merged["description"], str):
        raise InvalidRequest("'description' must be a string")
    model = model_from_dict(merged, source="custom", origin="request")
    model.created = current.created
    model.updated = now_iso()
    return model
