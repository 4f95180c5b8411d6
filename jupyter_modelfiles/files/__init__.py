"""The uploaded-files store: streamed uploads, listing, content and signed URLs (no Tornado).

Names are imported on first use, so ``import jupyter_modelfiles`` (which the CLI and
``download --standalone`` pay at every start) does not load SQLite, asyncio and the models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import FileRecord, ListQuery, ListResult
    from .store import FileStore

__all__ = ["FileRecord", "FileStore", "ListQuery", "ListResult"]

_HOMES = {
    "FileRecord": "models",
    "ListQuery": "models",
    "ListResult": "models",
    "FileStore": "store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
