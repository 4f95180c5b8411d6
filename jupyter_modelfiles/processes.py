"""Helpers shared by the server's worker processes (model loads and downloads)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterable
from typing import Any


def how_it_ended(code: int | None) -> str:
    """A worker's end in words, from its return code (None: still running)."""
    if code is None:
        return "closed its pipe"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def exit_message(what: str, code: int | None, stderr_tail: Iterable[str]) -> str:
    """``"<what> was killed by SIGKILL: <last stderr lines>"``."""
    tail = [line for line in stderr_tail if line.strip()][-3:]
    return f"{what} {how_it_ended(code)}" + (f": {' | '.join(tail)}" if tail else "")


def kill_and_reap(process: subprocess.Popen[Any], timeout: float) -> None:
    """SIGKILL ``process`` (if it still runs) and wait up to ``timeout`` s for its exit."""
    with contextlib.suppress(OSError):
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
