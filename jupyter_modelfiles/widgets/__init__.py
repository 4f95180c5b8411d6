"""ipywidgets faces of jupyter-modelfiles, and the notebook entry points that display them.

``browser()``, ``files_browser()``, ``upload()`` display a widget and return it; ``download(...)``
starts a download, shows its progress bar and returns the :class:`Job` (a :class:`JobGroup` for a
model of several files).
"""

from __future__ import annotations

from typing import Any

from ..client import ModelFilesClient, jobs_of, models_of
from ._events import EventListener, listener_for
from ._files import FilesBrowser
from ._group import GroupProgress, JobGroup
from ._models import ModelBrowser
from ._progress import DownloadProgress, Job
from ._upload import UploadControl

__all__ = [
    "DownloadProgress",
    "EventListener",
    "FilesBrowser",
    "GroupProgress",
    "Job",
    "JobGroup",
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
) -> Job | JobGroup:
    """Download a URL or a catalog model (one ``file`` or a ``quant``), showing progress.

    Returns one :class:`Job` for one file; for a model of several files one
    :class:`JobGroup` with the aggregate progress and the same ``wait()``, ``pause()``,
    ``resume()``, ``cancel()`` and ``paths``.
    """
    client = client or ModelFilesClient()
    jobs = client.download(url_or_model, file=file, quantization=quant, sha256=sha256)
    return show_jobs(jobs, client, display=display, model_id=url_or_model)


def show_jobs(
    jobs: list[dict[str, Any]],
    client: ModelFilesClient,
    *,
    display: bool = True,
    model_id: str | None = None,
) -> Job | JobGroup:
    """One progress bar for started jobs (status objects): a :class:`Job`, or a
    :class:`JobGroup` with the aggregate progress when one request started several files."""
    if len(jobs) == 1:
        bar: DownloadProgress | GroupProgress = DownloadProgress(jobs[0], client)
    else:
        model_id = next((j.get("model_id") for j in jobs if j.get("model_id")), model_id)
        group = JobGroup(client, [Job(client, job) for job in jobs], model_id=model_id)
        bar = GroupProgress(group)
    if display:
        _show(bar)
    return bar.job
