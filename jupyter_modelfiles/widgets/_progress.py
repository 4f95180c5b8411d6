"""A download's progress bar with pause/resume/cancel, fed by the events WebSocket.

Composed of built-in ipywidgets the way ``tqdm.notebook`` is: a label, a bar and a text,
redrawn at most ~10 times a second; green when the job completes, red with the error when
it fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..client import TERMINAL_STATUSES, ModelFilesClient
from ..errors import ModelFilesError
from ..formatting import describe_job, human_bytes, human_duration, human_speed, job_label
from ..formatting import eta_seconds as _eta
from ._events import EventListener, listener_for

__all__ = ["DownloadProgress", "Job", "local_paths"]

_BAR_STYLE = {
    "completed": "success",
    "already_downloaded": "success",
    "failed": "danger",
    "cancelled": "warning",
    "paused": "info",
}


def local_paths(client: ModelFilesClient, model_id: str | None, files: list[str]) -> list[Path]:
    """The local paths of a model's ``files`` (ids, names or split parts) that are downloaded."""
    if not model_id:
        return []
    found: list[Path] = []
    for entry in client.model_files(model_id):
        names = {str(entry.get("id")), str(entry.get("name"))}
        stem = str(entry.get("name") or "").rsplit(".", 1)[0]
        wanted = any(f in names or (stem and f.startswith(stem + "-")) for f in files)
        path = (entry.get("downloadStatus") or {}).get("localPath")
        if wanted and entry.get("isDownloaded") and path and Path(path) not in found:
            found.append(Path(path))
    return found


def is_older(update: dict[str, Any], current: dict[str, Any]) -> bool:
    """Is ``update`` a state the server issued before ``current`` (or the same one)?"""
    new, old = update.get("version"), current.get("version")
    return isinstance(new, int) and isinstance(old, int) and new <= old


class Job:
    """A handle on one download job: its latest status and the controls."""

    def __init__(self, client: ModelFilesClient, status: dict[str, Any]):
        self.client = client
        self.status: dict[str, Any] = dict(status)
        self._done = threading.Event()
        self._lock = threading.Lock()
        if self.finished:
            self._done.set()

    @property
    def id(self) -> str:
        return str(self.status.get("job_id", ""))

    @property
    def state(self) -> str:
        return str(self.status.get("status", ""))

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATUSES

    def _update(self, status: dict[str, Any]) -> bool:
        """Take a newer state; one with a version not above the current one is dropped
        (a reply that arrives after a newer event), so nothing older replaces it."""
        with self._lock:
            if is_older(status, self.status):
                return False
            self.status = {**self.status, **status}
        if self.finished:
            self._done.set()
        return True

    def refresh(self) -> dict[str, Any]:
        self._update(self.client.get_download(self.id))
        return self.status

    def pause(self) -> dict[str, Any]:
        self._update(self.client.pause_download(self.id))
        return self.status

    def resume(self) -> dict[str, Any]:
        self._update(self.client.resume_download(self.id))
        return self.status

    def cancel(self) -> dict[str, Any]:
        self._update(self.client.cancel_download(self.id))
        return self.status

    def wait(self, timeout: float | None = None, poll: float = 0.25) -> dict[str, Any]:
        """Block until the job completes, fails or is cancelled (polls as a safety net)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.wait(poll):
            self.refresh()
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"download {self.id} is still {self.state} after {timeout}s")
        return self.status

    @property
    def paths(self) -> list[Path]:
        """Where the file is once downloaded (model files; empty before, or for URL jobs)."""
        files = self.status.get("files") or [self.status.get("file")]
        return local_paths(self.client, self.status.get("model_id"), [str(f) for f in files if f])

    @property
    def path(self) -> Path | None:
        paths = self.paths
        return paths[0] if paths else None

    def __repr__(self) -> str:
        return f"<Job {self.id} {describe_job(self.status)}>"


class DownloadProgress(w.VBox):
    """One job: name, bar, bytes/speed/ETA, and pause/resume/cancel buttons."""

    def __init__(
        self,
        job: Job | dict[str, Any],
        client: ModelFilesClient | None = None,
        *,
        listen: bool = True,
        min_interval: float = 0.1,
    ):
        if isinstance(job, Job):
            self.job = job
        else:
            self.job = Job(client or ModelFilesClient(), job)
        self.client = self.job.client
        self.min_interval = min_interval
        self._last_draw = 0.0
        self._pending: dict[str, Any] | None = None
        # Held while a state is taken AND drawn: the events listener and a button's reply may
        # deliver the same state; whichever comes second returns only once it is drawn.
        self._lock = threading.Lock()
        self._drawn: dict[str, Any] = {}
        self.title = w.HTML()
        self.bar = w.FloatProgress(min=0.0, max=100.0, value=0.0, bar_style="")
        self.bar.layout.flex = "2"
        self.info = w.HTML(layout=w.Layout(min_width="0"))
        self.error = w.HTML()
        self.pause_button = w.Button(description="Pause", icon="pause", tooltip="Pause")
        self.resume_button = w.Button(description="Resume", icon="play", tooltip="Resume")
        self.cancel_button = w.Button(description="Cancel", icon="stop", tooltip="Cancel")
        for button in (self.pause_button, self.resume_button, self.cancel_button):
            button.layout.width = "auto"
        self.pause_button.on_click(lambda _: self._control(self.job.pause))
        self.resume_button.on_click(lambda _: self._control(self.job.resume))
        self.cancel_button.on_click(lambda _: self._control(self.job.cancel))
        row = w.HBox(
            [self.bar, self.info, self.pause_button, self.resume_button, self.cancel_button],
            layout=w.Layout(align_items="center", width="100%", flex_flow="row wrap"),
        )
        # never wider than the output area: the row wraps instead of overflowing
        super().__init__([self.title, row, self.error], layout=w.Layout(width="100%"))
        self._unwatch: Callable[[], None] | None = None
        with self._lock:
            self._draw_newer(dict(self.job.status))
        if listen and self.job.id:
            self.listen(listener_for(self.client))

    def listen(self, listener: EventListener) -> None:
        """Follow the job's events; catch up with one GET once the listener is connected."""
        self._unwatch = listener.watch("job", self.job.id, self.update)

        def catch_up() -> None:
            listener.connected.wait(10)
            try:
                self.update(self.client.get_download(self.job.id))
            except Exception:
                pass

        if not self.job.finished:
            threading.Thread(target=catch_up, daemon=True, name="modelfiles-catch-up").start()

    @property
    def status(self) -> dict[str, Any]:
        return self.job.status

    def update(self, status: dict[str, Any]) -> None:
        """New job state (any thread); redraws at most every ``min_interval`` s, finals always."""
        with self._lock:
            # The job may hold a newer state than ``status`` that was never drawn: the
            # buttons' Job.pause/resume/cancel take their reply before handing it here.
            self.job._update(status)
            if is_older(self.job.status, self._drawn):
                return  # drawn already
            now = time.monotonic()
            final = self.job.finished or self.job.state == "paused"
            if not final and now - self._last_draw < self.min_interval:
                self._pending = self.job.status
                return
            self._last_draw = now
            self._pending = None
            self._draw_newer(dict(self.job.status))
        if self.job.finished and self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def flush(self) -> None:
        """Draw a state held back by the throttle."""
        with self._lock:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._draw_newer(pending)

    def _draw_newer(self, job: dict[str, Any]) -> None:
        """Draw ``job`` unless a newer state was drawn already (call with ``_lock`` held)."""
        if is_older(job, self._drawn):
            return
        self._drawn = job
        self._draw(job)

    def _control(self, action: Any) -> None:
        try:
            self.update(action())
            self.error.value = ""
        except ModelFilesError as error:
            self.error.value = _red(error.message)

    def _draw(self, job: dict[str, Any]) -> None:
        state = str(job.get("status", ""))
        done = int(job.get("downloaded_bytes") or 0)
        total = job.get("total_size_bytes")
        self.title.value = f"<b>{_escape(job_label(job))}</b> <code>{_escape(state)}</code>"
        if state in ("completed", "already_downloaded"):
            self.bar.value = 100.0
        elif total:
            self.bar.value = min(100.0, 100.0 * done / int(total))
        self.bar.bar_style = _BAR_STYLE.get(state, "")
        parts = [f"{human_bytes(done)} / {human_bytes(total)}"]
        if state == "downloading":
            if job.get("bytes_per_second"):
                parts.append(human_speed(job["bytes_per_second"]))
            eta = _eta(job)
            if eta is not None:
                parts.append(f"ETA {human_duration(eta)}")
        self.info.value = "&nbsp; ".join(_escape(p) for p in parts)
        self.pause_button.disabled = state not in ("downloading", "queued")
        self.resume_button.disabled = state != "paused"
        self.cancel_button.disabled = state in TERMINAL_STATUSES
        error = str(job.get("error") or "") if state == "failed" else ""
        if "checksum mismatch" in error:
            error += (
                ". The origin's file differs from the expected SHA-256, so downloading it again "
                "would fail the same way: check the expected checksum (or re-read the catalog)."
            )
        self.error.value = _red(error) if error else ""


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def _red(text: str) -> str:
    return f'<span style="color:var(--jp-error-color1, #d32f2f)">{_escape(text)}</span>'
