"""Several download jobs started by one request (a model of several files) seen as one.

:class:`JobGroup` has the :class:`Job` interface (``wait``, ``pause``, ``resume``,
``cancel``, ``paths``) with aggregate progress; :class:`GroupProgress` is its one bar.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..client import TERMINAL_STATUSES, ModelFilesClient
from ..formatting import human_bytes, human_duration, human_speed
from ._events import EventListener, listener_for
from ._progress import _BAR_STYLE, Job, _escape, _red, local_paths

__all__ = ["GroupProgress", "JobGroup", "aggregate"]

# The state a group shows: the most pressing of its members' states.
_ORDER = ("failed", "downloading", "queued", "paused", "cancelled", "completed")


def aggregate(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """One status object for several jobs: summed bytes and speed, the latest ETA."""
    states = {str(s.get("status", "")) for s in statuses}
    if states <= {"completed", "already_downloaded"}:
        state = "completed"
    elif states & {"downloading", "queued"}:
        state = "downloading" if "downloading" in states else "queued"
    else:
        state = next((s for s in _ORDER if s in states), "queued")
    totals = [int(s.get("total_size_bytes") or 0) for s in statuses]
    etas = sorted(str(s["estimated_completion"]) for s in statuses if s.get("estimated_completion"))
    errors = [
        f"{s.get('file') or s.get('job_id')}: {s['error']}" for s in statuses if s.get("error")
    ]
    return {
        "status": state,
        "downloaded_bytes": sum(int(s.get("downloaded_bytes") or 0) for s in statuses),
        "total_size_bytes": sum(totals) if all(totals) else None,
        "bytes_per_second": sum(float(s.get("bytes_per_second") or 0) for s in statuses),
        "estimated_completion": etas[-1] if etas else None,
        "error": "; ".join(errors) or None,
        "files": [s.get("file") for s in statuses],
    }


class JobGroup:
    """The jobs of one download request, with the controls and progress of a single job."""

    def __init__(self, client: ModelFilesClient, jobs: list[Job], model_id: str | None = None):
        self.client = client
        self.jobs = jobs
        self.model_id = model_id

    @property
    def id(self) -> str:
        return ",".join(job.id for job in self.jobs)

    @property
    def status(self) -> dict[str, Any]:
        return aggregate([job.status for job in self.jobs])

    @property
    def state(self) -> str:
        return str(self.status["status"])

    @property
    def finished(self) -> bool:
        return all(job.finished for job in self.jobs)

    @property
    def progress(self) -> float:
        """Done as a fraction of the total (0 while the total is unknown)."""
        status = self.status
        total = status["total_size_bytes"]
        if status["status"] == "completed":
            return 1.0
        return min(1.0, status["downloaded_bytes"] / total) if total else 0.0

    def _each(self, action: str, only: tuple[str, ...]) -> dict[str, Any]:
        for job in self.jobs:
            if job.state in only:
                getattr(job, action)()
        return self.status

    def pause(self) -> dict[str, Any]:
        return self._each("pause", ("queued", "downloading"))

    def resume(self) -> dict[str, Any]:
        return self._each("resume", ("paused", "failed"))

    def cancel(self) -> dict[str, Any]:
        return self._each("cancel", ("queued", "downloading", "paused", "failed"))

    def refresh(self) -> dict[str, Any]:
        for job in self.jobs:
            job.refresh()
        return self.status

    def wait(self, timeout: float | None = None, poll: float = 0.25) -> dict[str, Any]:
        """Block until every job completes, fails or is cancelled."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in self.jobs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            job.wait(left, poll)
        return self.status

    @property
    def paths(self) -> list[Path]:
        """Where the files are once downloaded (empty before)."""
        files = [str(job.status.get("file") or "") for job in self.jobs]
        return local_paths(self.client, self.model_id, files)

    def __repr__(self) -> str:
        status = self.status
        done, total = status["downloaded_bytes"], status["total_size_bytes"]
        return (
            f"<JobGroup {len(self.jobs)} files {status['status']} "
            f"{human_bytes(done)} / {human_bytes(total)}>"
        )


class GroupProgress(w.VBox):
    """One bar for a group of jobs, with pause/resume/cancel for all of them."""

    def __init__(self, group: JobGroup, *, listen: bool = True, min_interval: float = 0.1):
        self.group = group
        self.job = group  # the same attribute as DownloadProgress
        self.min_interval = min_interval
        self._last_draw = 0.0
        self._lock = threading.Lock()
        self.title = w.HTML()
        self.bar = w.FloatProgress(min=0.0, max=100.0, value=0.0, layout=w.Layout(flex="2"))
        self.info = w.HTML(layout=w.Layout(min_width="0"))
        self.error = w.HTML()
        self.pause_button = w.Button(description="Pause", icon="pause", layout=_auto())
        self.resume_button = w.Button(description="Resume", icon="play", layout=_auto())
        self.cancel_button = w.Button(description="Cancel", icon="stop", layout=_auto())
        self.pause_button.on_click(lambda _: self._control(group.pause))
        self.resume_button.on_click(lambda _: self._control(group.resume))
        self.cancel_button.on_click(lambda _: self._control(group.cancel))
        row = w.HBox(
            [self.bar, self.info, self.pause_button, self.resume_button, self.cancel_button],
            layout=w.Layout(align_items="center", width="100%", flex_flow="row wrap"),
        )
        super().__init__([self.title, row, self.error], layout=w.Layout(width="100%"))
        self._unwatch: list[Any] = []
        self.draw()
        if listen:
            self.listen(listener_for(group.client))

    def _follow(self, job: Job) -> Callable[[dict[str, Any]], None]:
        """The event callback of one member job."""
        return lambda data: self.update(job, data)

    def listen(self, listener: EventListener) -> None:
        for job in self.group.jobs:
            self._unwatch.append(listener.watch("job", job.id, self._follow(job)))

        def catch_up() -> None:
            listener.connected.wait(10)
            for job in self.group.jobs:
                try:
                    self.update(job, self.group.client.get_download(job.id))
                except Exception:
                    pass

        threading.Thread(target=catch_up, daemon=True, name="modelfiles-catch-up").start()

    def update(self, job: Job, status: dict[str, Any]) -> None:
        """A member's new state (any thread); redraws at most every ``min_interval`` s."""
        if not job._update(status):
            return
        now = time.monotonic()
        if not self.group.finished and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self.draw()

    def _control(self, action: Any) -> None:
        try:
            action()
            self.error.value = ""
        except Exception as error:  # a ModelFilesError, shown in the widget
            self.error.value = _red(getattr(error, "message", str(error)))
        self.draw()

    def draw(self) -> None:
        status = self.group.status
        state = str(status["status"])
        done, total = status["downloaded_bytes"], status["total_size_bytes"]
        label = self.group.model_id or "download"
        self.title.value = (
            f"<b>{_escape(label)}</b> · {len(self.group.jobs)} files <code>{_escape(state)}</code>"
        )
        self.bar.value = 100.0 * self.group.progress
        self.bar.bar_style = _BAR_STYLE.get(state, "")
        parts = [f"{human_bytes(done)} / {human_bytes(total)}"]
        if state == "downloading" and status["bytes_per_second"]:
            parts.append(human_speed(status["bytes_per_second"]))
            if total and status["bytes_per_second"] > 0:
                parts.append(f"ETA {human_duration((total - done) / status['bytes_per_second'])}")
        self.info.value = "&nbsp; ".join(_escape(p) for p in parts)
        states = {job.state for job in self.group.jobs}
        self.pause_button.disabled = not states & {"downloading", "queued"}
        self.resume_button.disabled = not states & {"paused"}
        self.cancel_button.disabled = states <= set(TERMINAL_STATUSES)
        self.error.value = _red(str(status["error"])) if status.get("error") else ""


def _auto() -> w.Layout:
    return w.Layout(width="auto")
