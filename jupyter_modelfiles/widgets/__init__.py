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
from ._group import GroupProgress, JobGroup
from ._models import ModelBrowser, jobs_of, models_of
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
    """Start a download of a URL, a Hugging Face URL or a catalog model; the job statuses.

    For a catalog model, only the jobs this request started or joined (the server's
    ``started``), never the model's earlier runs or other quantizations.
    """
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
    if isinstance(answer, dict) and isinstance(answer.get("started"), list):
        jobs = [job for job in answer["started"] if isinstance(job, dict)]
        if not jobs:  # nothing to fetch: the chosen files are local already
            jobs = [
                {
                    "job_id": "",
                    "status": "already_downloaded",
                    "model_id": answer.get("id", url_or_model),
                    "files": _chosen_files(answer, file, quant),
                }
            ]
        return jobs
    jobs = jobs_of(answer)
    if not jobs and isinstance(answer, dict) and answer.get("status"):
        jobs = [{"job_id": "", "url": url_or_model, **answer}]
    return jobs


def _chosen_files(snapshot: dict[str, Any], file: str | None, quant: str | None) -> list[str]:
    """The files of a model snapshot a download of ``file`` / ``quant`` / the default means."""
    files = [f for f in snapshot.get("files") or [] if isinstance(f, dict)]
    if file:
        return [file]
    wanted = (quant or snapshot.get("quantization") or "").upper()
    return [
        str(f.get("name"))
        for f in files
        if f.get("isDownloaded") and str(f.get("quantization") or "").upper() == wanted
    ]


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
    jobs = start_download(client, url_or_model, file, quant, sha256)
    if len(jobs) == 1:
        bar: DownloadProgress | GroupProgress = DownloadProgress(jobs[0], client)
    else:
        model_id = next((j.get("model_id") for j in jobs if j.get("model_id")), url_or_model)
        group = JobGroup(client, [Job(client, job) for job in jobs], model_id=model_id)
        bar = GroupProgress(group)
    if display:
        _show(bar)
    return bar.job
