"""Tornado handlers: one module per API area; ``default_handlers`` is the route table."""

from __future__ import annotations

from typing import Any

from . import downloads, files, models, openapi, runtime, websockets

default_handlers: list[tuple[str, Any]] = [
    *files.default_handlers,
    *downloads.default_handlers,
    *websockets.default_handlers,
    *runtime.default_handlers,
    *openapi.default_handlers,
    # Last: the model snapshot route's {model_id} matches anything (after the routes above).
    *models.default_handlers,
]
