"""The uploaded-files store: streamed uploads, listing, content and signed URLs (no Tornado)."""

from __future__ import annotations

from .models import FileRecord, ListQuery, ListResult
from .store import FileStore

__all__ = ["FileRecord", "FileStore", "ListQuery", "ListResult"]
