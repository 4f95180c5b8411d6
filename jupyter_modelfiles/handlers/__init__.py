"""Tornado handlers: one module per API area; ``default_handlers`` is the route table."""

from __future__ import annotations

from typing import Any

from . import downloads, files, models, openapi, runtime

default_handlers: list[tuple[str, Any]] = [
    *files.default_handlers,
    *downloads.default_handlers,
    *runtime.default_handlers,
    *openapi.default_handlers,
    # Last: the model snapshot route's {model_id} matches anything (after downloads, runtime).
    *models.default_handlers,
]
