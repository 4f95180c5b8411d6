"""Byte-range bookkeeping: a set of finished intervals and an aria2-style piece scheduler."""

from __future__ import annotations

import threading
from dataclasses import dataclass

MIN_PIECE = 16 * 1024 * 1024


class Intervals:
    """A sorted list of disjoint half-open ``[start, end)`` byte intervals."""

    def __init__(self, items: list[tuple[int, int]] | None = None):
        self.items: list[tuple[int, int]] = []
        for start, end in items or []:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        merged: list[tuple[int, int]] = []
        placed = False
        for s, e in self.items:
            if e < start:
                merged.append((s, e))
            elif s > end:
                if not placed:
                    merged.append((start, end))
                    placed = True
                merged.append((s, e))
            else:
                start, end = min(s, start), max(e, end)
        if not placed:
            merged.append((start, end))
        merged.sort()
        self.items = merged

    def total(self) -> int:
        return sum(e - s for s, e in self.items)

    def prefix(self) -> int:
        """End of the contiguous run that starts at byte 0."""
        if self.items and self.items[0][0] == 0:
            return self.items[0][1]
        return 0

    def missing(self, size: int) -> list[tuple[int, int]]:
        """The holes in ``[0, size)``."""
        holes: list[tuple[int, int]] = []
        cursor = 0
        for s, e in self.items:
            if s > cursor:
                holes.append((cursor, min(s, size)))
            cursor = max(cursor, e)
        if cursor < size:
            holes.append((cursor, size))
        return [(s, e) for s, e in holes if e > s]

    def copy(self) -> Intervals:
        clone = Intervals()
        clone.items = list(self.items)
        return clone


@dataclass
class Piece:
    """A range one connection is fetching: ``next`` advances as bytes land, ``end`` may shrink."""

    start: int
    end: int
    next: int

    @property
    def remaining(self) -> int:
        return self.end - self.next


class Scheduler:
    """Hands out ranges: holes first; then a free worker bisects the largest remainder.

    ``end`` of an active piece only shrinks under the lock; the owner re-reads it between reads
    and stops at the new end.
    """

    def __init__(self, holes: list[tuple[int, int]], min_piece: int = MIN_PIECE):
        self.lock = threading.Lock()
        self.min_piece = max(1, min_piece)
        self.untaken: list[tuple[int, int]] = sorted(holes)
        self.active: list[Piece] = []

    def take(self) -> Piece | None:
        with self.lock:
            if self.untaken:
                start, end = self.untaken.pop(0)
                piece = Piece(start, end, start)
                self.active.append(piece)
                return piece
            if not self.active:
                return None
            largest = max(self.active, key=lambda p: p.remaining)
            if largest.remaining < 2 * self.min_piece:
                return None
            middle = largest.next + largest.remaining // 2
            piece = Piece(middle, largest.end, middle)
            largest.end = middle
            self.active.append(piece)
            return piece

    def release(self, piece: Piece) -> None:
        """Give back what a failed connection did not fetch."""
        with self.lock:
            if piece in self.active:
                self.active.remove(piece)
            if piece.next < piece.end:
                self.untaken.append((piece.next, piece.end))
                self.untaken.sort()

    def finish(self, piece: Piece) -> None:
        with self.lock:
            if piece in self.active:
                self.active.remove(piece)

    def has_work(self) -> bool:
        with self.lock:
            return bool(self.untaken or self.active)

    def outstanding(self) -> bool:
        """Whether any range is still untaken (a worker should keep trying)."""
        with self.lock:
            return bool(self.untaken)
