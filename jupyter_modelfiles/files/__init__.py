"""The uploaded-files store: streamed uploads, listing, content and signed URLs (no Tornado).

Names are imported on first use, so ``import jupyter_modelfiles`` (which the CLI and
``download --standalone`` pay at every start) does not load SQLite, asyncio and the models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

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


__getattr__ = lazy_names(__name__, _HOMES)
