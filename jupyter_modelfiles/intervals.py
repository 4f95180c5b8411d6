"""Byte ranges: a sorted set of disjoint intervals (a download's finished pieces, the bytes
of a sliced upload that have arrived)."""

from __future__ import annotations


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
