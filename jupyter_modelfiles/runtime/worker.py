"""The worker process: holds one loaded model; JSON lines over its stdin/stdout.

Started by :class:`~jupyter_modelfiles.runtime.manager.RuntimeManager` as
``python -m jupyter_modelfiles.runtime.worker``. The protocol runs on a private copy of the
original stdout; fd 1 is pointed at stderr so that a native library printing to stdout cannot
corrupt it. Requests: ``{"op": "load", "format", "paths"}``, ``{"op": "ping"}``,
``{"op": "exit"}``; every answer is ``{"ok": true, ...}`` or ``{"ok": false, "error", "type"}``.
Unloading is the process exiting, so the memory goes back to the operating system.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any


def _protocol_streams() -> tuple[IO[str], IO[str]]:
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin, os.fdopen(out_fd, "w", buffering=1, encoding="utf-8")


def _rss() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:
        return 0


def _exit_with_parent() -> None:
    """End this worker when the server that started it is gone (even after ``kill -9``)."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def main() -> int:
    from .loaders import LoadFailed, describe, registry

    inp, out = _protocol_streams()
    _exit_with_parent()

    def reply(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    held: Any = None
    reply({"ok": True, "op": "ready", "pid": os.getpid(), "rss": _rss()})
    for line in inp:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError:
            reply({"ok": False, "error": "bad request line", "type": "ProtocolError"})
            continue
        op = request.get("op")
        if op == "exit":
            reply({"ok": True, "op": "exit"})
            return 0
        if op == "ping":
            reply({"ok": True, "op": "ping", "rss": _rss(), "loaded": held is not None})
            continue
        if op == "load":
            started = time.perf_counter()
            try:
                paths = [Path(p) for p in request["paths"]]
                loader = registry().resolve(request.get("format"), paths)
                missing = [str(p) for p in paths if not p.exists()]
                if missing:
                    raise LoadFailed(f"model files are missing: {', '.join(missing)}")
                held = loader.load(paths)
                summary = describe(loader, held)
            except BaseException as error:
                traceback.print_exc(file=sys.stderr)
                reply(
                    {"ok": False, "error": str(error) or repr(error), "type": type(error).__name__}
                )
                continue
            reply(
                {
                    "ok": True,
                    "op": "load",
                    "format": loader.format,
                    "load_time_ms": round((time.perf_counter() - started) * 1000, 1),
                    "rss": _rss(),
                    "summary": summary,
                }
            )
            continue
        reply({"ok": False, "error": f"unknown op {op!r}", "type": "ProtocolError"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
