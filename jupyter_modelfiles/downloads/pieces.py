"""The scheduler of bounded pieces (the finished byte ranges are :class:`..intervals.Intervals`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

#: The smallest range request while several connections share a file (the tail's pieces).
MIN_PIECE = 16 * 1024 * 1024
#: The largest single range request; the piece size shrinks from here toward MIN_PIECE.
MAX_PIECE = 64 * 1024 * 1024
#: Pieces end on multiples of this (where they are larger): a piece's bytes then start and end
#: on the disk's blocks, so ``O_DIRECT`` can write every buffer of the next piece. Halving the
#: untaken bytes toward MIN_PIECE would otherwise soon end a piece mid-block, and from there
#: on every buffer would go through the page cache.
PIECE_ALIGN = 64 * 1024


@dataclass
class Piece:
    """One bounded range request: ``next`` advances as bytes land; ``end`` never moves."""

    start: int
    end: int
    next: int

    @property
    def remaining(self) -> int:
        return self.end - self.next


class Scheduler:
    """Hands out bounded pieces from the front of the untaken bytes, one request each.

    A piece is ``clamp(untaken / (2 * sharing), min_piece, max_piece)`` bytes: large while
    much is left, shrinking toward ``min_piece`` at the end so the tail is shared by every
    connection instead of crawling on one. A piece is never cut short once asked for (an
    aborted request makes the origin send bytes nobody keeps); a failed connection gives its
    unfetched remainder back with :meth:`release`. With ``sharing == 1`` (one connection and no
    others to come) a piece is the whole hole: one request, nothing to share.
    """

    def __init__(
        self,
        holes: list[tuple[int, int]],
        min_piece: int = MIN_PIECE,
        max_piece: int = MAX_PIECE,
        sharing: int = 1,
    ):
        self.lock = threading.Lock()
        self.min_piece = max(1, min_piece)
        self.max_piece = max(self.min_piece, max_piece)
        self.sharing = max(1, sharing)
        self.untaken: list[tuple[int, int]] = sorted((s, e) for s, e in holes if e > s)
        self.active: list[Piece] = []

    def set_sharing(self, sharing: int) -> None:
        """How many connections share what is left (1: the rest goes in one request)."""
        with self.lock:
            self.sharing = max(1, sharing)

    def piece_size(self) -> int:
        """The size of the next piece (call with the lock held)."""
        untaken = sum(e - s for s, e in self.untaken)
        if self.sharing == 1:
            return untaken
        return max(self.min_piece, min(self.max_piece, untaken // (2 * self.sharing)))

    def take(self) -> Piece | None:
        with self.lock:
            if not self.untaken:
                return None
            size = self.piece_size()
            start, end = self.untaken[0]
            cut = min(end, start + size)
            aligned = cut - cut % PIECE_ALIGN
            if cut < end and aligned > start:
                cut = aligned
            if end - cut < self.min_piece // 2:
                cut = end  # no sliver left behind for one more request
            if cut < end:
                self.untaken[0] = (cut, end)
            else:
                self.untaken.pop(0)
            piece = Piece(start, cut, start)
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
                merged: list[tuple[int, int]] = []
                for s, e in self.untaken:
                    if merged and merged[-1][1] == s:
                        merged[-1] = (merged[-1][0], e)
                    else:
                        merged.append((s, e))
                self.untaken = merged

    def finish(self, piece: Piece) -> None:
        with self.lock:
            if piece in self.active:
                self.active.remove(piece)
