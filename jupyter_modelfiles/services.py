"""The container of the running services that the handlers, CLI and tests reach."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .downloads.manager import DownloadManager
from .events import EventBus
from .files.store import FileStore
from .runtime.manager import RuntimeManager
from .state import Database


@dataclass
class Services:
    """Everything the extension built at start-up; handlers reach it through a property."""

    db: Database
    events: EventBus
    files: FileStore
    downloads: DownloadManager
    runtime: RuntimeManager | None = None
    catalog: Any = None  # catalog.service.Catalog
    extra: dict[str, Any] = field(default_factory=dict)
