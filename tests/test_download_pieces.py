"""The piece scheduler: bounded requests from the front, shrinking toward the tail."""

from __future__ import annotations

from jupyter_modelfiles.downloads.pieces import PIECE_ALIGN, Piece, Scheduler

MiB = 1024 * 1024


def take_all(scheduler: Scheduler) -> list[Piece]:
    pieces = []
    while (piece := scheduler.take()) is not None:
        pieces.append(piece)
        scheduler.finish(piece)
    return pieces


def test_pieces_tile_the_holes_and_shrink_toward_the_tail() -> None:
    holes = [(0, 100 * MiB), (120 * MiB, 1000 * MiB)]
    pieces = take_all(Scheduler(holes, min_piece=4 * MiB, max_piece=64 * MiB, sharing=4))
    covered = [(p.start, p.end) for p in pieces]
    assert covered == sorted(covered)
    assert sum(e - s for s, e in covered) == 980 * MiB
    assert all(s >= 120 * MiB or e <= 100 * MiB for s, e in covered)  # holes only
    sizes = [e - s for s, e in covered]
    assert max(sizes) == 64 * MiB and sizes[0] == 64 * MiB
    assert all(size <= 6 * MiB for size in sizes[-8:])  # the tail: min_piece (+ a sliver)
    assert min(sizes) >= 2 * MiB  # never a sliver below half a min_piece


def test_one_connection_alone_asks_for_each_hole_at_once() -> None:
    scheduler = Scheduler([(0, 10 * MiB), (20 * MiB, 900 * MiB)], 1 * MiB, 4 * MiB, sharing=4)
    first = scheduler.take()
    assert first is not None and (first.start, first.end) == (0, 4 * MiB)
    scheduler.set_sharing(1)
    rest = take_all(scheduler)
    assert [(p.start, p.end) for p in rest] == [(4 * MiB, 10 * MiB), (20 * MiB, 900 * MiB)]


def test_release_gives_back_only_what_was_not_fetched() -> None:
    scheduler = Scheduler([(0, 64 * MiB)], min_piece=1 * MiB, max_piece=8 * MiB, sharing=2)
    piece = scheduler.take()
    assert piece is not None and (piece.start, piece.end) == (0, 8 * MiB)
    piece.next = 3 * MiB  # the connection failed after 3 MiB
    scheduler.release(piece)
    assert scheduler.untaken == [(3 * MiB, 64 * MiB)]
    again = scheduler.take()
    assert again is not None and again.start == 3 * MiB


def test_pieces_end_on_block_multiples_so_direct_writes_never_stop() -> None:
    """Halving the untaken bytes used to end pieces mid-block (a 1 GiB download fell back
    to the page cache for its last 230 MiB); every cut is now a multiple of PIECE_ALIGN."""
    size = 1024 * MiB + 12345  # an unaligned file end is still the last piece's end
    pieces = take_all(Scheduler([(0, size)], min_piece=16 * MiB, max_piece=64 * MiB, sharing=4))
    assert len({p.end - p.start for p in pieces}) > 3  # sizes did shrink toward the tail
    assert [p.end % PIECE_ALIGN for p in pieces[:-1]] == [0] * (len(pieces) - 1)
    assert pieces[-1].end == size

    resumed = Scheduler([(5 * MiB + 100, 300 * MiB)], min_piece=16 * MiB, sharing=4).take()
    assert resumed is not None and resumed.end % PIECE_ALIGN == 0  # aligned from here on
