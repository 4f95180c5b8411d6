"""ipywidgets faces of jupyter-modelfiles, and the notebook entry points that display them.

``browser()``, ``files_browser()``, ``upload()`` display a widget and return it; ``download(...)``
starts a download, shows its progress bar and returns the :class:`Job`.
"""

from __future__ import annotations

from typing import Any

from ..client import ModelFilesClient, jobs_of, models_of
from ._events import EventListener, listener_for
from ._files import FilesBrowser
from ._models import ModelBrowser
from ._progress import DownloadProgress, Job
from ._upload import UploadControl

__all__ = [
    "DownloadProgress",
    "EventListener",
    "FilesBrowser",
    "Job",
    "ModelBrowser",
    "UploadControl",
    "browser",
    "download",
    "files_browser",
    "jobs_of",
    "listener_for",
    "models_of",
    "show_jobs",
    "upload",
]


def _show(widget: Any) -> None:
    from IPython.display import display

    display(widget)


def browser(
    client: ModelFilesClient | None = None, *, source: str | None = None, display: bool = True
) -> ModelBrowser:
    """Display the model browser (search the catalog, download with one click)."""
    widget = ModelBrowser(client, source=source)
    if display:
        _show(widget)
    return widget


def files_browser(client: ModelFilesClient | None = None, *, display: bool = True) -> FilesBrowser:
    """Display the files browser (list, search, delete, signed URLs)."""
    widget = FilesBrowser(client)
    if display:
        _show(widget)
    return widget


def upload(
    client: ModelFilesClient | None = None, *, purpose: str = "user_data", display: bool = True
) -> UploadControl:
    """Display the upload control (browser -> server over HTTP, with progress)."""
    widget = UploadControl(client, purpose=purpose)
    if display:
        _show(widget)
    return widget


def download(
    url_or_model: str,
    file: str | None = None,
    quant: str | None = None,
    *,
    sha256: str | None = None,
    client: ModelFilesClient | None = None,
    display: bool = True,
) -> Job | list[Job]:
    """Download a URL or a catalog model (one ``file`` or a ``quant``), showing progress.

    Returns the :class:`Job` (a list when a model download starts several files).
    """
    client = client or ModelFilesClient()
    jobs = client.download(url_or_model, file=file, quantization=quant, sha256=sha256)
    return show_jobs(jobs, client, display=display)


def show_jobs(
    jobs: list[dict[str, Any]], client: ModelFilesClient, *, display: bool = True
) -> Job | list[Job]:
    """A progress bar per started job (status objects); the :class:`Job` handles."""
    bars = [DownloadProgress(job, client) for job in jobs]
    if display:
        from ipywidgets import VBox

        _show(bars[0] if len(bars) == 1 else VBox(bars))
    handles = [bar.job for bar in bars]
    return handles[0] if len(handles) == 1 else handles
