"""A streaming ``multipart/form-data`` parser that finds boundaries with ``bytes.find``.

Part data is handed out in large slices as soon as it cannot be the start of a delimiter, so
the cost per byte is a C-speed search, not a Python loop, and a read that holds no delimiter
is handed on as it is, without a copy. benchmarks/bench_multipart.py measures it against
python-multipart and streaming-form-data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import Message
from email.parser import HeaderParser

MAX_HEADER_BYTES = 16 * 1024
MAX_PREAMBLE_BYTES = 64 * 1024


class MultipartError(ValueError):
    """The body is not valid multipart/form-data."""


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_QUOTE = re.compile(r'(?<!\\)"')


def _join_quoted_lines(text: str) -> str:
    """Header lines with a raw line break inside a quoted value put back together.

    Browsers send CR and LF in a file name as ``%0D``/``%0A``, but a hand-made request may put
    them raw inside ``filename="..."``; a header parser then cuts the name at the break.
    """
    lines: list[str] = []
    for line in _LINE_BREAK.split(text):
        if lines and len(_QUOTE.findall(lines[-1])) % 2:
            lines[-1] += line
        else:
            lines.append(line)
    return "\r\n".join(lines)


class PartHeaders:
    """The headers of one part, with the ``Content-Disposition`` parameters parsed."""

    def __init__(self, raw: bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        self.message: Message = HeaderParser().parsestr(_join_quoted_lines(text))
        disposition = self.message.get("Content-Disposition", "")
        if not disposition.lower().startswith("form-data"):
            raise MultipartError("every part needs 'Content-Disposition: form-data'")
        self.name: str = self._param("name") or ""
        self.filename: str | None = self._param("filename")
        self.content_type: str | None = self.message.get("Content-Type")

    def _param(self, key: str) -> str | None:
        value = self.message.get_param(key, header="Content-Disposition")
        if value is None:
            return None
        if isinstance(value, tuple):  # RFC 2231 encoded
            charset, _, text = value
            return text.encode("latin-1", "replace").decode(charset or "utf-8", "replace")
        return str(value)


class StreamingMultipartParser:
    """Feed body bytes with :meth:`write`; callbacks get part starts, data and ends."""

    def __init__(
        self,
        boundary: bytes,
        on_part_begin: Callable[[PartHeaders], None],
        on_part_data: Callable[[bytes], None],
        on_part_end: Callable[[], None],
    ):
        if not boundary or len(boundary) > 200:
            raise MultipartError("invalid multipart boundary")
        self._first = b"--" + boundary
        self._delimiter = b"\r\n--" + boundary
        self._on_begin = on_part_begin
        self._on_data = on_part_data
        self._on_end = on_part_end
        self._buffer = b""
        self._state = "preamble"
        self._preamble_bytes = 0
        self.complete = False

    def _partial_delimiter_start(self) -> int:
        """Where the buffer's end could be the start of a delimiter (its length if nowhere)."""
        buffer, delimiter = self._buffer, self._delimiter
        index = buffer.find(b"\r", max(0, len(buffer) - len(delimiter) + 1))
        while index >= 0:
            if delimiter.startswith(buffer[index:]):
                return index
            index = buffer.find(b"\r", index + 1)
        return len(buffer)

    def write(self, data: bytes) -> None:
        self._buffer = self._buffer + data if self._buffer else data
        while True:
            if self._state == "preamble":
                index = self._buffer.find(self._first)
                if index < 0:
                    keep = len(self._first) - 1
                    if len(self._buffer) > 64 * 1024:
                        raise MultipartError("no multipart boundary found at the start")
                    self._buffer = (
                        self._buffer[-keep:] if len(self._buffer) > keep else self._buffer
                    )
                    return
                self._buffer = self._buffer[index + len(self._first) :]
                self._state = "after_delimiter"
            elif self._state == "after_delimiter":
                if len(self._buffer) < 2:
                    return
                marker = self._buffer[:2]
                if marker == b"--":
                    self._state = "epilogue"
                    self.complete = True
                    self._buffer = b""
                    return
                if marker != b"\r\n":
                    raise MultipartError("malformed multipart delimiter")
                self._buffer = self._buffer[2:]
                self._state = "headers"
            elif self._state == "headers":
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buffer) > MAX_HEADER_BYTES:
                        raise MultipartError("multipart part headers are too large")
                    return
                if end > MAX_HEADER_BYTES:
                    raise MultipartError("multipart part headers are too large")
                self._on_begin(PartHeaders(self._buffer[:end]))
                self._buffer = self._buffer[end + 4 :]
                self._state = "body"
            elif self._state == "body":
                index = self._buffer.find(self._delimiter)
                if index >= 0:
                    if index:
                        self._on_data(self._buffer[:index])
                    self._on_end()
                    self._buffer = self._buffer[index + len(self._delimiter) :]
                    self._state = "after_delimiter"
                    continue
                # Everything before a possible start of the delimiter at the end is data; most
                # reads have none, and are handed on whole, without a copy.
                cut = self._partial_delimiter_start()
                if cut == len(self._buffer):
                    if cut:
                        self._on_data(self._buffer)
                    self._buffer = b""
                else:
                    if cut:
                        self._on_data(self._buffer[:cut])
                    self._buffer = self._buffer[cut:]
                return
            else:  # epilogue: ignore
                self._buffer = b""
                return
