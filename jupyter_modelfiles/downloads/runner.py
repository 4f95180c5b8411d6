"""Where a job's engine runs: a worker process per running file, or a thread (tests, CLI).

Both runners take the same JSON description of the engine (:mod:`.spec`) and implement
:class:`~.shared.EngineRunner` plus :meth:`stop`, so the manager and the team seam see one
interface (``JobRunner``). :class:`ProcessRunner` keeps the data path out of the server process
entirely: the server's event loop only reads a few progress lines a second from a pipe (with
``add_reader``, no thread), so the engine's threads never take the server's GIL. A worker that
dies (killed, out of memory, a crash) fails its job with a message saying how it ended.

:class:`WorkerPool` starts the processes from the event loop's thread (the kernel's
parent-death signal is tied to the spawning thread) and can start some ahead of time
(``prewarm``): a server that restarts with interrupted jobs spawns their workers while it is
still starting, so recovery does not wait for an interpreter to start.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Protocol

from ..processes import exit_message, kill_and_reap
from .engine import DownloadError, DownloadResult, FileDownload, ProbeResult, Stopped
from .shared import Progress
from .spec import engine_from_spec, result_from_json

log = logging.getLogger(__name__)

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
#: Seconds a worker may take to exit after its answer (or a stop) before it is killed.
EXIT_GRACE = 15.0

SpecFor = Callable[[Path, Path, Path], dict[str, Any]]


class JobRunner(Protocol):
    """Runs one job's engine (``probe`` and/or ``download``); ``stop`` from the loop."""

    async def probe(self) -> ProbeResult: ...

    async def download(
        self, partial: Path, journal: Path, dest: Path, on_progress: Progress
    ) -> DownloadResult: ...

    def stop(self, reason: str) -> None: ...

    def rearm(self) -> None:
        """Forget an earlier ``stop``: the next operation runs (team mode, after a pause for
        a lost coordinator whose lock came back)."""


class ThreadRunner:
    """The engine in a thread of ``executor`` (the standalone way; tests of the engine)."""

    def __init__(self, spec_for: SpecFor, probe_paths: tuple[Path, Path, Path], executor: Executor):
        self.spec_for = spec_for
        self.probe_paths = probe_paths
        self.executor = executor
        self._engine: FileDownload | None = None
        self._stopped: str | None = None

    def stop(self, reason: str) -> None:
        self._stopped = self._stopped or reason
        if self._engine is not None:
            self._engine.stop(reason)

    def rearm(self) -> None:
        self._stopped = None

    async def _in_thread(self, engine: FileDownload, work: Callable[[], Any]) -> Any:
        self._engine = engine
        if self._stopped is not None:
            engine.stop(self._stopped)  # stopped before the engine existed
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, work)
        finally:
            self._engine = None

    async def probe(self) -> ProbeResult:
        engine = engine_from_spec(self.spec_for(*self.probe_paths))
        result: ProbeResult = await self._in_thread(engine, engine.probe)
        return result

    async def download(
        self, partial: Path, journal: Path, dest: Path, on_progress: Progress
    ) -> DownloadResult:
        engine = engine_from_spec(self.spec_for(partial, journal, dest), on_progress)
        result: DownloadResult = await self._in_thread(engine, engine.run)
        return result


class WorkerDied(DownloadError):
    """The worker process ended without answering."""


class _Worker:
    """One ``python -m jupyter_modelfiles.downloads.worker`` and its pipes, read by the loop."""

    def __init__(self, nice: int, python: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH", "")) if p
        )
        env["MODELFILES_PARENT_PID"] = str(os.getpid())
        env["MODELFILES_WORKER_NICE"] = str(max(0, nice))
        self.process = subprocess.Popen(
            [python, "-m", "jupyter_modelfiles.downloads.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            close_fds=True,
            bufsize=0,
        )
        self.pid = self.process.pid
        self.messages: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._partial = {"out": b"", "err": b""}
        self._open: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the worker's output in ``loop`` (what it wrote meanwhile waits in the pipe)."""
        self._loop = loop
        for name, pipe in (("out", self.process.stdout), ("err", self.process.stderr)):
            assert pipe is not None
            fd = pipe.fileno()
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._readable, fd, name)
            self._open.add(fd)

    def _readable(self, fd: int, name: str) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            assert self._loop is not None
            self._loop.remove_reader(fd)
            self._open.discard(fd)
            if name == "out":
                self.messages.put_nowait(None)
            return
        lines = (self._partial[name] + data).split(b"\n")
        self._partial[name] = lines.pop()
        for line in lines:
            if name == "err":
                if line.strip():
                    self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())
                continue
            try:
                self.messages.put_nowait(json.loads(line))
            except ValueError:
                self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())

    def send(self, message: dict[str, Any]) -> bool:
        stdin = self.process.stdin
        if stdin is None:
            return False
        try:
            stdin.write(json.dumps(message).encode() + b"\n")
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def alive(self) -> bool:
        return self.process.poll() is None

    async def next(self) -> dict[str, Any] | None:
        message = await self.messages.get()
        if message is None:
            self.messages.put_nowait(None)  # later readers see the end too
        return message

    async def how_it_ended(self) -> str:
        try:
            code = await asyncio.wait_for(asyncio.to_thread(self.process.wait), 5)
        except asyncio.TimeoutError:
            return f"download worker {self.pid} closed its output but did not exit"
        await asyncio.sleep(0.05)  # the last stderr lines
        return exit_message(f"download worker {self.pid}", code, self.stderr_tail)

    async def close(self, grace: float = EXIT_GRACE) -> None:
        """Let the worker exit (its answer was read or it was stopped); kill it after
        ``grace`` seconds; reap it."""
        with contextlib.suppress(OSError, ValueError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            await asyncio.wait_for(asyncio.to_thread(self.process.wait), grace)
        except asyncio.TimeoutError:
            log.warning("download worker %s did not exit within %s s; killed", self.pid, grace)
            self.kill()
        self._stop_reading()

    def kill(self) -> None:
        kill_and_reap(self.process, timeout=5)
        self._stop_reading()

    def _stop_reading(self) -> None:
        for fd in list(self._open):
            with contextlib.suppress(Exception):
                if self._loop is not None:
                    self._loop.remove_reader(fd)
            self._open.discard(fd)
        for pipe in (self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError, ValueError):
                if pipe is not None:
                    pipe.close()


class WorkerPool:
    """Starts download worker processes (from the loop's thread); keeps prewarmed spares."""

    def __init__(self, *, nice: int = 0, python: str = sys.executable) -> None:
        self.nice = nice
        self.python = python
        self._spares: list[_Worker] = []
        self._busy: set[_Worker] = set()

    def prewarm(self, count: int) -> None:
        """Start ``count`` workers now (from the thread that will run the loop: the kernel
        sends the parent-death signal when the spawning thread ends)."""
        for _ in range(count):
            self._spares.append(_Worker(self.nice, self.python))

    def take(self) -> _Worker:
        while self._spares:
            worker = self._spares.pop(0)
            if worker.alive():
                break
            worker.kill()
        else:
            worker = _Worker(self.nice, self.python)
        worker.attach(asyncio.get_running_loop())
        self._busy.add(worker)
        return worker

    def release(self, worker: _Worker) -> None:
        self._busy.discard(worker)

    def close(self) -> None:
        """Kill the spares and any worker still running (their jobs were stopped first)."""
        spares, self._spares = self._spares, []
        for worker in [*spares, *self._busy]:
            worker.kill()
        self._busy.clear()


class ProcessRunner:
    """The engine in a worker process of ``pool``, one process per download. A probe (one
    small request) runs in a thread of ``executor``: a process start costs ~0.3 s of CPU,
    and in team mode every server that joins another's transfer probes, for the key."""

    def __init__(
        self,
        spec_for: SpecFor,
        probe_paths: tuple[Path, Path, Path],
        pool: WorkerPool,
        executor: Executor,
    ):
        self.spec_for = spec_for
        self.probe_paths = probe_paths
        self.pool = pool
        self._prober = ThreadRunner(spec_for, probe_paths, executor)
        self._worker: _Worker | None = None
        self._stopped: str | None = None

    def stop(self, reason: str) -> None:
        self._stopped = self._stopped or reason
        self._prober.stop(reason)
        if self._worker is not None:
            self._worker.send({"op": "stop", "reason": reason})

    def rearm(self) -> None:
        self._stopped = None
        self._prober.rearm()

    async def probe(self) -> ProbeResult:
        return await self._prober.probe()

    async def download(
        self, partial: Path, journal: Path, dest: Path, on_progress: Progress
    ) -> DownloadResult:
        answer = await self._run("download", self.spec_for(partial, journal, dest), on_progress)
        return result_from_json(answer)

    async def _run(
        self, op: str, spec: dict[str, Any], on_progress: Progress | None
    ) -> dict[str, Any]:
        if self._stopped is not None:
            raise Stopped(self._stopped)
        worker = self.pool.take()
        try:
            if not worker.send({"op": op, "spec": spec}):
                raise WorkerDied(await worker.how_it_ended())
            self._worker = worker
            while True:
                message = await worker.next()
                if message is None:
                    raise WorkerDied(
                        f"{await worker.how_it_ended()} before the download finished; "
                        "resume the job to continue from its journal"
                    )
                kind = message.get("op")
                if kind == "progress":
                    if on_progress is not None:
                        on_progress(int(message["done"]), message.get("total"))
                elif kind == "result":
                    return message
                elif kind == "stopped":
                    raise Stopped(str(message.get("reason") or "stop"))
                elif kind == "failed":
                    raise DownloadError(
                        str(message.get("message")), no_space=bool(message.get("no_space"))
                    )
                elif kind == "crashed":
                    raise DownloadError(
                        f"the download worker {worker.pid} failed: "
                        f"{message.get('type')}: {message.get('message')}"
                    )
        except asyncio.CancelledError:
            worker.kill()
            raise
        finally:
            self._worker = None
            self.pool.release(worker)
            if worker.alive() or worker._open:
                await worker.close()
