"""The container of the running services that the handlers, CLI and tests reach."""

from __future__ import annotations

from dataclasses import dataclass

from .catalog.service import Catalog
from .downloads.manager import DownloadManager
from .events import EventBus
from .files.store import FileStore
from .runtime.manager import RuntimeManager
from .state import Database


@dataclass
class Services:
    """Everything the extension built at start-up; handlers reach it through a property.

    The services do not know each other beyond what their constructors take: the catalog uses
    the download manager; the runtime loads paths and knows no catalog (the handlers ask the
    catalog to resolve a model, then the runtime to load it).
    """

    db: Database
    events: EventBus
    files: FileStore
    downloads: DownloadManager
    runtime: RuntimeManager
    catalog: Catalog
