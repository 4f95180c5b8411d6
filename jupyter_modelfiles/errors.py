"""The exception hierarchy of jupyter-modelfiles, documented in one place.

Core services raise these; the handlers turn them into JSON errors
``{"error": {"code": ..., "message": ...}}`` with ``status`` as the HTTP status.
Codes follow the Anaconda AI Navigator ``Error`` schema where one fits.
"""

from __future__ import annotations


class ModelFilesError(Exception):
    """Base class: a clear message, an error code and an HTTP status."""

    status: int = 400
    code: str = "INVALID_REQUEST"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def to_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidRequest(ModelFilesError):
    """The request is malformed or a value is out of range (400)."""


class NotFound(ModelFilesError):
    """The file, model, model file or job does not exist (404)."""

    status = 404
    code = "NOT_FOUND"


class Conflict(ModelFilesError):
    """The request is valid but the current state forbids it (409)."""

    status = 409
    code = "CONFLICT"


class Forbidden(ModelFilesError):
    """A signed URL was tampered with or has expired (403)."""

    status = 403
    code = "FORBIDDEN"


class PayloadTooLarge(ModelFilesError):
    """An upload crossed the configured size limit (413)."""

    status = 413
    code = "PAYLOAD_TOO_LARGE"


class RequestTimeout(ModelFilesError):
    """An upload body stopped arriving for longer than the idle timeout (408)."""

    status = 408
    code = "REQUEST_TIMEOUT"


class RangeNotSatisfiable(ModelFilesError):
    """A ``Range`` header asks for bytes the file does not have (416)."""

    status = 416
    code = "RANGE_NOT_SATISFIABLE"


class InsufficientStorage(ModelFilesError):
    """The disk has no room for the file (507)."""

    status = 507
    code = "INSUFFICIENT_STORAGE"


class UpstreamError(ModelFilesError):
    """A remote origin (catalog, Hub, download URL) failed or is unreachable (502)."""

    status = 502
    code = "UPSTREAM_ERROR"
