"""Downloads: the one-file engine and the job manager (no Tornado imports).

Names are imported on first use: ``download --standalone`` needs only the engine, not the
job manager with its SQLite and asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .engine import DownloadError, DownloadResult, EngineConfig, FileDownload, Stopped
    from .jobs import DownloadRequest, Job, pieces_progress
    from .manager import DownloadManager

__all__ = [
    "DownloadError",
    "DownloadManager",
    "DownloadRequest",
    "DownloadResult",
    "EngineConfig",
    "FileDownload",
    "Job",
    "Stopped",
    "pieces_progress",
]

_HOMES = {
    "DownloadError": "engine",
    "DownloadResult": "engine",
    "EngineConfig": "engine",
    "FileDownload": "engine",
    "Stopped": "engine",
    "DownloadRequest": "jobs",
    "Job": "jobs",
    "pieces_progress": "jobs",
    "DownloadManager": "manager",
}


__getattr__ = lazy_names(__name__, _HOMES)
