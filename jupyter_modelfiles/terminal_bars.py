"""Byte progress bars for the terminal, from the standard library alone.

The command line draws these instead of tqdm's: ``import tqdm`` costs 40-60 ms at every start
(its version lookup scans the installed distributions), a visible share of a short command,
and tqdm labels 1024-based sizes "MB". These print IEC units like the rest of the project.
On a terminal the bars of one :class:`TerminalBars` are redrawn together in place at most
every ``min_interval`` seconds; to a pipe or a file each bar prints a plain line every
``plain_interval`` seconds and once when it closes, so logs stay readable.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import IO

from .formatting import human_bytes, human_duration, human_speed

__all__ = ["ByteBar", "TerminalBars"]

_SMOOTHING = 0.3  # weight of the latest interval in the shown speed
_PLAIN_WIDTH = 120  # columns of a plain line (to a pipe or a file)


class ByteBar:
    """One transfer of ``total`` bytes (None: unknown): ``update(k)``, ``close()``."""

    def __init__(self, group: TerminalBars, total: int | None, desc: str):
        self._group = group
        self.total = total
        self.desc = desc
        self.n = 0
        self.postfix = ""
        self.closed = False
        self._start = time.monotonic()
        self._last = (self._start, 0)
        self._rate: float | None = None

    def update(self, count: int = 1) -> None:
        self.n += count
        self._group.refresh()

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text
        if refresh:
            self._group.refresh()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._group.bar_closed(self)

    def __enter__(self) -> ByteBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _speed(self, now: float) -> float | None:
        if self.closed:  # the whole transfer's average
            elapsed = now - self._start
            return self.n / elapsed if elapsed > 0 else None
        then, before = self._last
        if now - then >= 0.05:
            latest = (self.n - before) / (now - then)
            rate = self._rate
            self._rate = latest if rate is None else rate + _SMOOTHING * (latest - rate)
            self._last = (now, self.n)
        return self._rate

    def line(self, width: int, now: float) -> str:
        """``desc  42% |#####     | 1.2 GiB/2.9 GiB 480.0 MiB/s 0:03 postfix``."""
        speed = self._speed(now)
        elapsed = now - self._start
        done = human_bytes(self.n)
        if self.total:
            fraction: float | None = min(1.0, self.n / self.total)
            left = (self.total - self.n) / speed if speed and not self.closed else None
            timing = human_duration(elapsed if self.closed or left is None else left)
            parts = [f"{done}/{human_bytes(self.total)}", human_speed(speed), timing]
        else:
            fraction = None
            parts = [done, human_speed(speed), human_duration(elapsed)]
        tail = " " + " ".join(part for part in (*parts, self.postfix) if part)
        head = f"{self.desc}: " if self.desc else ""
        if fraction is None:
            return (head + tail.lstrip())[:width]
        head += f"{fraction * 100:3.0f}% "
        room = width - len(head) - len(tail) - 2
        if room < 5:
            return (head + tail.lstrip())[:width]
        filled = int(room * fraction)
        return f"{head}|{'#' * filled}{' ' * (room - filled)}|{tail}"


class TerminalBars:
    """Bars drawn together on ``stream`` (stderr by default); ``disable`` draws nothing."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        disable: bool = False,
        min_interval: float = 0.1,
        plain_interval: float = 10.0,
    ):
        self._stream = stream if stream is not None else sys.stderr
        self._disable = disable
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._interval = min_interval if self._tty else plain_interval
        self._bars: list[ByteBar] = []
        self._lock = threading.Lock()
        self._drawn_lines = 0  # lines of the last in-place draw (terminal only)
        self._last_draw = 0.0

    def bar(self, total: int | None, desc: str) -> ByteBar:
        bar = ByteBar(self, total, desc)
        with self._lock:
            self._bars.append(bar)
        self.refresh(force=True)
        return bar

    def refresh(self, force: bool = False) -> None:
        if self._disable:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self._interval:
            return
        with self._lock:
            self._last_draw = now
            if self._tty:
                self._draw_in_place(now)
            elif not force:
                open_bars = [b for b in self._bars if not b.closed]
                self._write("".join(f"{b.line(_PLAIN_WIDTH, now)}\n" for b in open_bars))

    def bar_closed(self, bar: ByteBar) -> None:
        if self._disable:
            return
        now = time.monotonic()
        with self._lock:
            if self._tty:
                self._draw_in_place(now)
            else:
                self._write(f"{bar.line(_PLAIN_WIDTH, now)}\n")
            if all(b.closed for b in self._bars) and self._tty and self._drawn_lines:
                self._write("\n")  # leave the finished bars above the next output
                self._drawn_lines = 0
                self._bars.clear()

    def _draw_in_place(self, now: float) -> None:
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        up = f"\x1b[{self._drawn_lines - 1}A" if self._drawn_lines > 1 else ""
        lines = "\n".join(f"{b.line(width, now)}\x1b[K" for b in self._bars)
        self._write(f"{up}\r{lines}")
        self._drawn_lines = len(self._bars)

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed pipe: progress is not worth failing for
            self._disable = True
