"""Loading downloaded models into memory, one worker process per model, within a RAM budget.

A worker is ``python -m jupyter_modelfiles.runtime.worker`` speaking JSON lines over pipes. A
native loader that crashes takes down only its worker (the load fails with
:class:`~jupyter_modelfiles.runtime.loaders.LoadFailed`); unloading ends the process, so the
operating system gets the memory back. Memory is the worker's RSS measured with psutil.

Admission: before starting a worker the manager estimates the need from the files' sizes; if
the loaded models plus that need exceed ``ram_budget_bytes`` it unloads the least recently used
models until it fits, and refuses (:class:`~jupyter_modelfiles.errors.Conflict`) a model that
cannot fit even alone. ``unload_after`` unloads models idle for that many seconds (keep-alive).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from ..errors import Conflict
from ..events import EventBus
from ..formatting import human_bytes
from ..processes import exit_message, kill_and_reap
from .loaders import LoaderRegistry, LoadFailed, registry

log = logging.getLogger(__name__)

#: Memory of an idle worker (interpreter + numpy) counted on top of the files' sizes.
WORKER_BASELINE_BYTES = 48 * 1024 * 1024
#: How much more than the file sizes a format needs in memory while loaded.
FORMAT_FACTOR = {"gguf": 1.0, "safetensors": 1.0, "onnx": 1.5}
#: Extra fixed memory of a format's runtime library (onnxruntime is ~30 MiB more than numpy).
FORMAT_OVERHEAD = {"onnx": 32 * 1024 * 1024}
DEFAULT_BUDGET_SHARE = 0.6
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


class WorkerDied(Exception):
    """The worker process ended before answering."""


class _Worker:
    """A worker process and its pipes; all methods block (call them from a thread)."""

    def __init__(self, python: str = sys.executable):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH", "")) if p
        )
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.process = subprocess.Popen(
            [python, "-m", "jupyter_modelfiles.runtime.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            encoding="utf-8",
            close_fds=True,
        )
        self.pid = self.process.pid
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._request_lock = threading.Lock()
        threading.Thread(
            target=self._read_stdout, daemon=True, name="modelfiles-worker-out"
        ).start()
        threading.Thread(
            target=self._read_stderr, daemon=True, name="modelfiles-worker-err"
        ).start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self._answers.put(json.loads(line))
            except ValueError:
                self.stderr_tail.append(line.rstrip())
        self._answers.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_tail.append(line.rstrip())

    def _next(self, timeout: float | None) -> dict[str, Any]:
        try:
            answer = self._answers.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"worker {self.pid} did not answer within {timeout} s") from None
        if answer is None:
            self._answers.put(None)  # later callers see the end too
            raise WorkerDied(self.describe_exit())
        return answer

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        return self._next(timeout)

    def request(self, message: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        with self._request_lock:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(json.dumps(message) + "\n")
                self.process.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                raise WorkerDied(self.describe_exit()) from None
            return self._next(timeout)

    def describe_exit(self, settle: float = 0.05) -> str:
        try:
            code: int | None = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        if settle:
            time.sleep(settle)  # let the stderr reader catch the last lines
        return exit_message(f"worker process {self.pid}", code, self.stderr_tail)

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss(self) -> int:
        try:
            return int(psutil.Process(self.pid).memory_info().rss)
        except (psutil.Error, OSError):
            return 0

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit; kill it if it does not within ``timeout``."""
        if self.alive():
            with contextlib.suppress(WorkerDied, TimeoutError, OSError):
                self.request({"op": "exit"}, timeout=timeout)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_pipes()

    def kill(self) -> None:
        kill_and_reap(self.process, timeout=10)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdin,):
            if pipe is not None:
                with contextlib.suppress(OSError, ValueError):
                    pipe.close()


@dataclass
class _Loaded:
    model_id: str
    format: str
    paths: list[Path]
    worker: _Worker
    load_time_ms: float
    loaded_at: str
    estimate_bytes: int
    rss: int
    summary: dict[str, Any] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def default_ram_budget(share: float = DEFAULT_BUDGET_SHARE) -> int:
    """``share`` of the memory available now."""
    return int(psutil.virtual_memory().available * share)


class RuntimeManager:
    """Loads models into worker processes, accounts their memory, unloads LRU / idle ones."""

    def __init__(
        self,
        events: EventBus,
        *,
        ram_budget_bytes: int | None = None,
        unload_after: float | None = None,
        load_timeout: float | None = 600.0,
        loaders: LoaderRegistry | None = None,
        python: str = sys.executable,
    ):
        self.events = events
        self.ram_budget_bytes = int(ram_budget_bytes) if ram_budget_bytes else default_ram_budget()
        self.unload_after = float(unload_after) if unload_after else None
        self.load_timeout = load_timeout
        self.loaders = loaders or registry()
        self.python = python
        self._loaded: dict[str, _Loaded] = {}
        self._model_locks: dict[str, asyncio.Lock] = {}
        self._admission: asyncio.Lock | None = None
        self._reserved: dict[str, int] = {}
        self._starting: set[_Worker] = set()
        self._monitor: asyncio.Task[None] | None = None
        self._closed = False

    # -- queries ---------------------------------------------------------------------------
    def info(self, model_id: str) -> dict[str, Any] | None:
        """The loaded state of ``model_id`` (worker RSS measured now), or ``None``."""
        entry = self._loaded.get(model_id)
        if entry is None:
            return None
        if not entry.worker.alive():
            self._forget_dead(entry)
            return None
        entry.rss = entry.worker.rss() or entry.rss
        return self._info(entry)

    def loaded(self) -> list[dict[str, Any]]:
        """Every loaded model, most recently used first."""
        entries = sorted(self._loaded.values(), key=lambda e: e.last_used, reverse=True)
        return [info for e in entries if (info := self.info(e.model_id)) is not None]

    def used_bytes(self) -> int:
        """The measured RSS of all live workers (safe to call from a thread)."""
        return sum(e.worker.rss() for e in list(self._loaded.values()) if e.worker.alive())

    def touch(self, model_id: str) -> None:
        """Mark ``model_id`` as used now (for LRU eviction and the idle TTL)."""
        entry = self._loaded.get(model_id)
        if entry is not None:
            entry.last_used = time.monotonic()

    def estimate(self, fmt: str, paths: list[Path]) -> int:
        """Bytes a model is expected to take once loaded: files' sizes, factor, baseline."""
        size = 0
        for path in paths:
            with contextlib.suppress(OSError):
                size += Path(path).stat().st_size
        factor = FORMAT_FACTOR.get(fmt.lower(), 1.0)
        overhead = FORMAT_OVERHEAD.get(fmt.lower(), 0)
        return int(size * factor) + WORKER_BASELINE_BYTES + overhead

    # -- load / unload ---------------------------------------------------------------------
    def _lock_of(self, model_id: str) -> asyncio.Lock:
        """Serialises load/unload of one model; other models proceed meanwhile."""
        lock = self._model_locks.get(model_id)
        if lock is None:
            lock = self._model_locks[model_id] = asyncio.Lock()
        return lock

    def _admission_lock(self) -> asyncio.Lock:
        """Held while checking the budget, evicting and reserving memory for one load."""
        if self._admission is None:
            self._admission = asyncio.Lock()
        return self._admission

    async def load(self, model_id: str, fmt: str, paths: list[Path]) -> dict[str, Any]:
        """Load ``paths`` in a new worker (idempotent); evict LRU models to fit the budget."""
        if self._closed:
            raise Conflict("the model runtime is shut down")
        info = self.info(model_id)
        if info is not None:
            self.touch(model_id)
            return info
        files = [Path(p) for p in paths]
        async with self._lock_of(model_id):
            info = self.info(model_id)
            if info is not None:
                self.touch(model_id)
                return info
            loader = await asyncio.to_thread(self.loaders.resolve, fmt, files)
            missing = [str(p) for p in files if not p.is_file()]
            if not files or missing:
                raise Conflict(
                    f"model {model_id!r} has no local files to load"
                    + (f" (missing: {', '.join(missing)})" if missing else "")
                    + "; download it first"
                )
            need = await asyncio.to_thread(self.estimate, loader.format, files)
            if need > self.ram_budget_bytes:
                raise Conflict(
                    f"model {model_id!r} needs about {human_bytes(need)} of memory, more than the "
                    f"whole RAM budget ({human_bytes(self.ram_budget_bytes)}); raise "
                    "ModelFilesApp.ram_budget or use a smaller quantization"
                )
            async with self._admission_lock():
                await self._make_room(model_id, need)
                self._reserved[model_id] = need
            self.events.publish(
                "model", model_id, {"id": model_id, "loaded": False, "loading": True}
            )
            try:
                entry = await self._start(model_id, loader.format, files, need)
            except BaseException as error:
                payload: dict[str, Any] = {"id": model_id, "loaded": False, "loading": False}
                if isinstance(error, Exception):
                    payload["error"] = str(error)
                self.events.publish("model", model_id, payload)
                raise
            finally:
                self._reserved.pop(model_id, None)
            if self._closed:
                await asyncio.to_thread(entry.worker.kill)
                raise Conflict("the model runtime shut down while loading")
            self._loaded[model_id] = entry
            self._ensure_monitor()
        info = self._info(entry)
        self.events.publish("model", model_id, {**info, "loading": False})
        log.info(
            "loaded %s (%s) in worker %s: %s RSS in %.0f ms",
            model_id,
            entry.format,
            entry.worker.pid,
            human_bytes(entry.rss),
            entry.load_time_ms,
        )
        return info

    async def _make_room(self, model_id: str, need: int) -> None:
        """Unload least recently used models until ``need`` fits (loads in flight count)."""
        while True:
            used = await asyncio.to_thread(self.used_bytes)
            used += sum(self._reserved.values())
            if used + need <= self.ram_budget_bytes:
                return
            if not self._loaded:
                raise Conflict(
                    f"model {model_id!r} needs about {human_bytes(need)} of memory and other "
                    f"models are loading ({', '.join(sorted(self._reserved))}); the RAM budget "
                    f"({human_bytes(self.ram_budget_bytes)}) has no room now: retry when they "
                    "are loaded"
                )
            victim = min(self._loaded.values(), key=lambda e: e.last_used)
            log.info("evicting %s (least recently used) to fit the RAM budget", victim.model_id)
            await self._unload_locked(victim.model_id, reason="evicted")

    async def _start(self, model_id: str, fmt: str, paths: list[Path], need: int) -> _Loaded:
        worker = await asyncio.to_thread(_Worker, self.python)
        self._starting.add(worker)
        try:
            await asyncio.to_thread(worker.wait_ready)
            answer = await asyncio.to_thread(
                worker.request,
                {"op": "load", "format": fmt, "paths": [str(p) for p in paths]},
                self.load_timeout,
            )
        except WorkerDied as died:
            await asyncio.to_thread(worker.kill)
            raise LoadFailed(f"loading {model_id!r} ({fmt}) crashed: {died}") from None
        except TimeoutError as timeout:
            await asyncio.to_thread(worker.kill)
            raise LoadFailed(f"loading {model_id!r} ({fmt}) timed out: {timeout}") from None
        except BaseException:
            await asyncio.to_thread(worker.kill)
            raise
        finally:
            self._starting.discard(worker)
        if not answer.get("ok"):
            await asyncio.to_thread(worker.stop)
            raise LoadFailed(
                f"loading {model_id!r} ({fmt}) failed: {answer.get('type', 'Error')}: "
                f"{answer.get('error', 'unknown error')}"
            )
        rss = await asyncio.to_thread(worker.rss)
        return _Loaded(
            model_id=model_id,
            format=str(answer.get("format") or fmt),
            paths=paths,
            worker=worker,
            load_time_ms=float(answer.get("load_time_ms") or 0.0),
            loaded_at=_now_iso(),
            estimate_bytes=need,
            rss=rss or int(answer.get("rss") or 0),
            summary=dict(answer.get("summary") or {}),
        )

    async def unload(self, model_id: str, *, reason: str = "unload") -> dict[str, Any]:
        """End the worker of ``model_id`` (a no-op if it is not loaded)."""
        if model_id not in self._loaded and model_id not in self._model_locks:
            return {"id": model_id, "loaded": False, "loaded_rss_bytes": 0}  # never loaded
        async with self._lock_of(model_id):
            return await self._unload_locked(model_id, reason=reason)

    async def _unload_locked(self, model_id: str, *, reason: str) -> dict[str, Any]:
        entry = self._loaded.pop(model_id, None)
        result: dict[str, Any] = {"id": model_id, "loaded": False, "loaded_rss_bytes": 0}
        if entry is None:
            return result
        freed = await asyncio.to_thread(entry.worker.rss) or entry.rss
        await asyncio.to_thread(entry.worker.stop)
        result.update({"format": entry.format, "freed_rss_bytes": freed, "reason": reason})
        self.events.publish("model", model_id, result)
        log.info("unloaded %s (%s), freed %s", model_id, reason, human_bytes(freed))
        return result

    def _forget_dead(self, entry: _Loaded) -> None:
        if self._loaded.get(entry.model_id) is not entry:
            return
        del self._loaded[entry.model_id]
        entry.worker.kill()
        message = entry.worker.describe_exit(settle=0)
        log.warning("model %s: %s", entry.model_id, message)
        self.events.publish(
            "model",
            entry.model_id,
            {
                "id": entry.model_id,
                "loaded": False,
                "loaded_rss_bytes": 0,
                "reason": "crashed",
                "error": message,
            },
        )

    # -- background: idle TTL and dead workers ----------------------------------------------
    def _ensure_monitor(self) -> None:
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        interval = 1.0 if self.unload_after is None else max(0.05, min(1.0, self.unload_after / 4))
        while self._loaded and not self._closed:
            await asyncio.sleep(interval)
            for entry in list(self._loaded.values()):
                if not entry.worker.alive():
                    self._forget_dead(entry)
                    continue
                idle = time.monotonic() - entry.last_used
                if self.unload_after is not None and idle >= self.unload_after:
                    log.info("unloading %s after %.0f s idle", entry.model_id, idle)
                    async with self._lock_of(entry.model_id):
                        current = self._loaded.get(entry.model_id)
                        if current is entry and time.monotonic() - entry.last_used >= idle:
                            await self._unload_locked(entry.model_id, reason="idle")

    async def close(self) -> None:
        """Stop every worker (asked to exit, killed if it does not)."""
        self._closed = True
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._monitor
            self._monitor = None
        for worker in list(self._starting):  # loads in flight fail at once
            await asyncio.to_thread(worker.kill)
        entries = list(self._loaded.values())
        self._loaded.clear()
        for entry in entries:
            await asyncio.to_thread(entry.worker.stop, 2.0)

    # -- what the REST routes report --------------------------------------------------------
    def _info(self, entry: _Loaded) -> dict[str, Any]:
        return {
            "id": entry.model_id,
            "loaded": True,
            "loaded_rss_bytes": entry.rss,
            "load_time_ms": entry.load_time_ms,
            "loaded_at": entry.loaded_at,
            "format": entry.format,
            "pid": entry.worker.pid,
            "estimated_bytes": entry.estimate_bytes,
            "idle_seconds": round(time.monotonic() - entry.last_used, 3),
            "summary": entry.summary,
        }

    def runtime_fields(self, model_id: str) -> dict[str, Any]:
        """What a model snapshot carries about memory: ``loaded``, ``loaded_rss_bytes``..."""
        info = self.info(model_id)
        if info is None:
            return {
                "loaded": False,
                "loaded_rss_bytes": 0,
                "load_time_ms": None,
                "loaded_at": None,
                "pid": None,
            }
        return {
            key: info[key]
            for key in ("loaded", "loaded_rss_bytes", "load_time_ms", "loaded_at", "pid")
        }
