"""ipywidgets faces of jupyter-modelfiles, and the notebook entry points that display them.

``browser()``, ``files()``, ``upload()`` display a widget and return it; ``download(...)``
starts a download, shows its progress bar and returns the :class:`Job`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..client import ModelFilesClient
from ._events import EventListener, listener_for
from ._files import FilesBrowser
from ._models import ModelBrowser, jobs_of, models_of
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
    "files",
    "jobs_of",
    "listener_for",
    "models_of",
    "start_download",
    "upload",
]

HUB_HOSTS = ("huggingface.co", "www.huggingface.co", "hf.co")


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


def files(client: ModelFilesClient | None = None, *, display: bool = True) -> FilesBrowser:
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


def start_download(
    client: ModelFilesClient,
    url_or_model: str,
    file: str | None = None,
    quant: str | None = None,
    sha256: str | None = None,
) -> list[dict[str, Any]]:
    """Start a download of a URL, a Hugging Face URL or a catalog model; the job statuses."""
    parts = urlsplit(url_or_model)
    if parts.scheme in ("http", "https"):
        if (parts.hostname or "").lower() in HUB_HOSTS:
            answer = client.download_model_ref(url_or_model, quantization=quant)
        else:
            answer = client.start_download(url_or_model, sha256=sha256, filename=file)
    else:
        answer = client.download_model(
            url_or_model, files=[file] if file else None, quantization=quant
        )
    jobs = jobs_of(answer)
    if not jobs and isinstance(answer, dict) and answer.get("status"):
        jobs = [{"job_id": "", "url": url_or_model, **answer}]
    return jobs


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
    jobs = start_download(client, url_or_model, file, quant, sha256)
    bars = [DownloadProgress(job, client) for job in jobs]
    if display:
        from ipywidgets import VBox

        _show(bars[0] if len(bars) == 1 else VBox(bars))
    handles = [bar.job for bar in bars]
    return handles[0] if len(handles) == 1 else handles
