"""Answering a refused upload while its body is still arriving ("lingering close").

An upload handler that refuses a request before its body has arrived (too large, a bad slice,
a malformed header) answers at once, then reads and drops the rest of the body, up to
``DRAIN_BYTES``: a client still sending (a browser's XHR of a large body) then reads the JSON
error, where closing at once would reset the connection under it and lose the answer.
"""

from __future__ import annotations

from typing import Any

from .base import ModelFilesHandler

DRAIN_BYTES = 64 << 20  # read and drop at most this much of a refused body before closing


class LingeringRefusal(ModelFilesHandler):
    """For ``stream_request_body`` handlers: :meth:`_answer_early`, then :meth:`_drop` the
    body's chunks in ``data_received`` and :meth:`_end_drain` when it has ended (from the
    method's handler) or is given up on (the idle timeout)."""

    _body_method = "POST"  # the method whose body streams in (other methods are not refused early)
    _draining = False
    _answered = False
    _drained = 0
    _declared: int | None = None  # the body's Content-Length, if any
    _received = 0  # bytes of the body received before it was refused

    @property
    def _body_complete(self) -> bool:
        """Whether Tornado has read the whole request body (it resolves this future then)."""
        future = getattr(self.request, "_body_future", None)
        return future is not None and future.done()

    def _may_linger(self) -> bool:
        """Whether a refusal can be answered now and the body read after it (not when the
        client waits for ``100 Continue``: it sends no body after an answer)."""
        return self.request.headers.get("Expect", "").lower() != "100-continue"

    def _answer_early(self, error: BaseException) -> None:
        """Send the error now; finish (and keep or close the connection) once the body ends."""
        self._draining = not self._body_complete
        if not self._finished:
            self.send_error(getattr(error, "status", 500), exc_info=(type(error), error, None))

    def _drop(self, chunk: bytes) -> bool:
        """In ``data_received``: whether ``chunk`` belongs to a refused body (and is dropped)."""
        if not self._draining:
            return False
        self._drained += len(chunk)
        if self._drained > DRAIN_BYTES:
            self._end_drain()
        return True

    def finish(self, chunk: Any = None) -> Any:
        if not self._draining:
            return super().finish(chunk)
        if not self._answered:  # the error response, flushed while the body still arrives
            self._answered = True
            if chunk is not None:
                self.write(chunk)
            self.set_header("Content-Length", str(sum(map(len, self._write_buffer))))
            return self.flush()
        return None  # send_error() calls finish() again: the real one is in _end_drain()

    def _will_close(self) -> bool:
        """Whether the connection ends with this early answer (the body is not all read)."""
        if not self._draining:
            return True
        rest = None if self._declared is None else self._declared - self._received
        return rest is not None and rest > DRAIN_BYTES

    def _end_drain(self) -> None:
        """The refused body has ended (or is given up on): finish the response."""
        self._draining = False
        if not self._finished:
            super().finish()  # Tornado closes the connection if the body was not all read

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if (
            self.request.method == self._body_method
            and not self._body_complete
            and self._will_close()
        ):
            # Answered before the body was read, and it will not all be read: the connection
            # is closed after this response, so a keep-alive client must be told.
            self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)
