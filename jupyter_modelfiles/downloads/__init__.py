"""Downloads: the one-file engine and the job manager (no Tornado imports)."""

from __future__ import annotations

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
