"""The command line's progress bars: in place on a terminal, plain lines to a pipe."""

from __future__ import annotations

import io

from jupyter_modelfiles.terminal_bars import TerminalBars

MiB = 1 << 20


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_to_a_pipe_each_bar_prints_one_plain_line_when_it_ends() -> None:
    out = io.StringIO()
    bar = TerminalBars(out).bar(3 * MiB, "weights.gguf")
    for _ in range(3):
        bar.update(MiB)
    assert out.getvalue() == ""  # nothing before plain_interval has passed
    bar.close()
    bar.close()  # a second close prints nothing more
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert lines[0].startswith("weights.gguf: 100% |")
    assert "3.0 MiB/3.0 MiB" in lines[0] and "MB" not in lines[0].replace("MiB", "")


def test_to_a_pipe_long_transfers_print_a_line_every_interval() -> None:
    out = io.StringIO()
    bar = TerminalBars(out, plain_interval=0).bar(None, "big.bin")
    bar.update(1536)
    bar.update(MiB)
    lines = out.getvalue().splitlines()
    assert lines == [lines[0], lines[1]] and lines[0].startswith("big.bin: 1.5 KiB")
    assert lines[1].startswith("big.bin: 1.0 MiB")  # no total: no percentage, no bar


def test_on_a_terminal_bars_are_redrawn_in_place_together() -> None:
    out = FakeTerminal()
    board = TerminalBars(out, min_interval=0)
    first, second = board.bar(2 * MiB, "a.bin"), board.bar(4 * MiB, "b.bin")
    first.update(MiB)
    second.update(4 * MiB)
    second.set_postfix_str("completed")
    text = out.getvalue()
    assert "\x1b[1A\r" in text  # back up one line to redraw both
    last_draw = text.rsplit("\r", 1)[1]
    assert "a.bin:  50% |" in last_draw and "b.bin: 100% |" in last_draw
    assert last_draw.rstrip().endswith("completed\x1b[K")
    first.update(MiB)
    first.close()
    assert not out.getvalue().endswith("\n")  # b.bin is still open
    second.close()
    assert out.getvalue().endswith("\n")  # the finished bars stay above what follows


def test_disabled_bars_draw_nothing_and_a_closed_pipe_stops_drawing() -> None:
    quiet = io.StringIO()
    bar = TerminalBars(quiet, disable=True, min_interval=0).bar(10, "x")
    bar.update(10)
    bar.close()
    assert quiet.getvalue() == ""

    bar = TerminalBars(ClosedPipe(), plain_interval=0).bar(10, "x")
    bar.update(5)  # BrokenPipeError swallowed: progress is not worth failing a download
    bar.update(5)
    bar.close()
    assert bar.n == 10
