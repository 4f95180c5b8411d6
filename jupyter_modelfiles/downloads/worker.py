"""A download worker process: runs ONE engine operation; JSON lines over its stdin/stdout.

Started by :class:`~.runner.WorkerPool` as ``python -m jupyter_modelfiles.downloads.worker``
(few imports: the engine and the standard library). It says ``{"op": "ready"}``, then reads one
request, ``{"op": "download", "spec": {...}}`` (see :mod:`.spec`; probes run in the server's
threads), runs it and answers with exactly one of ``{"op": "result", ...}``,
``{"op": "stopped", "reason"}``, ``{"op": "failed", "message", "no_space"}`` (a
``DownloadError``) or ``{"op": "crashed", "message", "type"}`` (anything else), then exits.
While downloading it sends ``{"op": "progress", "done", "total"}`` at most
:data:`PROGRESS_INTERVAL` apart. Later input lines ``{"op": "stop", "reason"}`` stop the engine
(which commits its journal). End of input (the server closed the pipe or died) stops it too.

Dying with the server: on Linux the kernel sends the worker SIGTERM when the server dies
(``PR_SET_PDEATHSIG``, even after ``kill -9``); elsewhere the closed pipe does the same. Either
way the engine stops as on a pause: it fsyncs what it wrote and commits its journal, so the next
server resumes from the last byte written rather than the last periodic commit, and the worker
exits within :data:`DEATH_GRACE` seconds whatever happens (a new server needs longer than that
to start and spawn the file's next worker). Its CPU priority is lowered by
``MODELFILES_WORKER_NICE`` once its imports are done (a job starts promptly; the data path then
yields to the server and kernels). The protocol runs on a private copy of stdout; fd 1 points
at stderr.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import IO, Any

#: Seconds between progress lines (the manager's events are coalesced further).
PROGRESS_INTERVAL = 0.25
#: Seconds a worker whose server died may take to commit its journal before it is ended.
DEATH_GRACE = 3
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Be killed when the server (our parent) dies; exit now if it already has."""
    parent = int(os.environ.get("MODELFILES_PARENT_PID") or 0)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if parent and os.getppid() != parent:
        os._exit(1)  # the server died before the death signal was armed


def _lower_priority() -> None:
    try:
        increment = int(os.environ.get("MODELFILES_WORKER_NICE") or 0)
        if increment > 0:
            os.nice(increment)
    except (OSError, ValueError):
        pass


class _Channel:
    """The protocol's output, safe to write from the engine's threads."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message) + "\n"
        with self.lock:
            try:
                self.out.write(line)
                self.out.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass  # the server is gone; the engine is stopped by the input's end


class _Progress:
    """Coalesces the engine's progress calls to one line per :data:`PROGRESS_INTERVAL`."""

    def __init__(self, channel: _Channel) -> None:
        self.channel = channel
        self.sent_at = 0.0
        self.last: tuple[int, int | None] | None = None
        self.sent: tuple[int, int | None] | None = None

    def __call__(self, done: int, total: int | None) -> None:
        self.last = (done, total)
        now = time.monotonic()
        if now - self.sent_at >= PROGRESS_INTERVAL:
            self.sent_at = now
            self.flush()

    def flush(self) -> None:
        last = self.last
        if last is not None and last != self.sent:
            self.sent = last
            self.channel.send({"op": "progress", "done": last[0], "total": last[1]})


def _watch_input(inp: IO[str], stop: Any) -> None:
    for line in inp:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("op") == "stop":
            stop(str(message.get("reason") or "stop"))
    signal.alarm(DEATH_GRACE)  # end of input: the server is gone or closing
    stop("close")


def _on_sigterm(stop: Any) -> None:
    """SIGTERM (the server died, or asked): stop the engine, committing its journal, within
    :data:`DEATH_GRACE` seconds (then SIGALRM's default action ends the process)."""

    def handler(signum: int, frame: Any) -> None:
        signal.alarm(DEATH_GRACE)
        if stop is None:
            os._exit(0)  # a spare: nothing to save
        # Not here: the interrupted frame may hold a lock that stop() takes.
        threading.Thread(target=stop, args=("close",), daemon=True).start()

    signal.signal(signal.SIGTERM, handler)


def main() -> int:
    _on_sigterm(None)
    _die_with_parent()
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    channel = _Channel(os.fdopen(out_fd, "w", encoding="utf-8"))
    # Imported before the request: a prewarmed worker starts downloading at once.
    from .engine import DownloadError, Stopped
    from .spec import engine_from_spec, result_to_json

    _lower_priority()
    channel.send({"op": "ready", "pid": os.getpid()})
    first = sys.stdin.readline()
    if not first.strip():
        return 0  # a spare worker the server no longer needs
    request = json.loads(first)
    progress = _Progress(channel)
    engine = engine_from_spec(request["spec"], progress)
    _on_sigterm(engine.stop)
    threading.Thread(
        target=_watch_input, args=(sys.stdin, engine.stop), daemon=True, name="input"
    ).start()
    try:
        result = engine.run()
        progress.flush()
        channel.send({"op": "result", **result_to_json(result)})
    except Stopped as stopped:
        progress.flush()
        channel.send({"op": "stopped", "reason": stopped.reason})
    except DownloadError as error:
        progress.flush()
        channel.send({"op": "failed", "message": error.message, "no_space": error.no_space})
    except BaseException as error:  # reported to the server, then the worker exits
        import traceback

        traceback.print_exc(file=sys.stderr)
        message = str(error) or repr(error)
        channel.send({"op": "crashed", "message": message, "type": type(error).__name__})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
