"""Tornado handlers: one module per API area; ``default_handlers`` is the route table."""

from __future__ import annotations

import re
from typing import Any

from ..openapi import PIECES_SINGULAR, singular
from . import downloads, files, models, openapi, runtime, uploads, websockets


def _path(pattern: str) -> str:
    """A route regex as its documented path: ``(?P<model_id>.+)`` -> ``{model_id}``."""
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern).removesuffix("/?")


def pieces_aliases(routes: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The singular routes of the Pieces seed (``/model/{id}``...), in the order of
    ``routes`` so the snapshot's catch-all stays last."""
    return [
        (singular(pattern), *rest)
        for pattern, *rest in routes
        if _path(pattern).removeprefix("/modelfiles") in PIECES_SINGULAR
    ]


_PLURAL: list[tuple[Any, ...]] = [
    *files.default_handlers,
    *uploads.default_handlers,
    *downloads.default_handlers,
    *websockets.default_handlers,
    *runtime.default_handlers,
    *openapi.default_handlers,
    # Last: the model snapshot route's {model_id} matches anything (after the routes above).
    *models.default_handlers,
]
default_handlers: list[tuple[Any, ...]] = [*_PLURAL, *pieces_aliases(_PLURAL)]
