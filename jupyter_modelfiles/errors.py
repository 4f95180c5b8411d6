"""The exception hierarchy of jupyter-modelfiles, documented in one place.

Core services raise these; the handlers turn them into JSON errors
``{"error": {"code": ..., "message": ...}}`` with ``status`` as the HTTP status, and the client
turns such an answer back into the same class. Codes follow the Anaconda AI Navigator ``Error``
schema where one fits.

::

    ModelFilesError                 400 INVALID_REQUEST (the base)
     +-- InvalidRequest             400 INVALID_REQUEST
     |    +-- UsageProblem          400 INVALID_USAGE      (CLI and magics: bad arguments)
     +-- Forbidden                  403 FORBIDDEN          (also 401)
     +-- NotFound                   404 NOT_FOUND
     +-- MethodNotAllowed           405 METHOD_NOT_ALLOWED
     +-- Conflict                   409 CONFLICT
     +-- PayloadTooLarge            413 PAYLOAD_TOO_LARGE
     +-- RangeNotSatisfiable        416 RANGE_NOT_SATISFIABLE
     +-- Unprocessable              422 UNPROCESSABLE
     |    +-- UnsupportedFormat     422 UNSUPPORTED_FORMAT (no loader for the format)
     |    |    +-- UnsafeFormat     422 UNSAFE_FORMAT      (a pickle, without a safe loader)
     |    +-- LoadFailed            422 LOAD_FAILED        (the loader raised or its worker died)
     +-- UpstreamError              502 UPSTREAM_ERROR
     +-- ServerNotFound             503 SERVER_NOT_FOUND   (client: no server found or reached)
     +-- InsufficientStorage        507 INSUFFICIENT_STORAGE

:data:`BY_STATUS` is the one table from HTTP status to class (and so to code):
:func:`code_for_status` gives the code of a bare HTTP error, :func:`error_class` the class the
client raises for an answer.
"""

from __future__ import annotations

__all__ = [
    "BY_STATUS",
    "Conflict",
    "Forbidden",
    "InsufficientStorage",
    "InvalidRequest",
    "LoadFailed",
    "LoaderNotInstalled",
    "MethodNotAllowed",
    "ModelFilesError",
    "NotFound",
    "PayloadTooLarge",
    "RangeNotSatisfiable",
    "ServerNotFound",
    "Unprocessable",
    "UnsafeFormat",
    "UnsupportedFormat",
    "UpstreamError",
    "UsageProblem",
    "code_for_status",
    "error_class",
]


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


class UsageProblem(InvalidRequest):
    """Bad command-line or magic arguments, found before any request (CLI exit status 2)."""

    code = "INVALID_USAGE"


class Forbidden(ModelFilesError):
    """No or a wrong token, or a signed URL was tampered with or has expired (403)."""

    status = 403
    code = "FORBIDDEN"


class NotFound(ModelFilesError):
    """The file, model, model file or job does not exist (404)."""

    status = 404
    code = "NOT_FOUND"


class MethodNotAllowed(ModelFilesError):
    """The route exists but not with this HTTP method (405)."""

    status = 405
    code = "METHOD_NOT_ALLOWED"


class Conflict(ModelFilesError):
    """The request is valid but the current state forbids it (409)."""

    status = 409
    code = "CONFLICT"


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


class Unprocessable(ModelFilesError):
    """The request is well formed but its subject cannot be processed (422)."""

    status = 422
    code = "UNPROCESSABLE"


class UnsupportedFormat(Unprocessable):
    """No loader exists for the model's format, or the format is unsafe (422)."""

    code = "UNSUPPORTED_FORMAT"


class LoaderNotInstalled(UnsupportedFormat):
    """A built-in format whose packages (an extra of jupyter-modelfiles) are not installed (422)."""

    code = "LOADER_NOT_INSTALLED"


class UnsafeFormat(UnsupportedFormat):
    """A pickle-based format (code runs when loaded) with no safe loader registered (422)."""

    code = "UNSAFE_FORMAT"


class LoadFailed(Unprocessable):
    """The loader raised or its worker process died while loading (422)."""

    code = "LOAD_FAILED"


class UpstreamError(ModelFilesError):
    """A remote origin (catalog, Hub, download URL) failed or is unreachable (502)."""

    status = 502
    code = "UPSTREAM_ERROR"


class ServerNotFound(ModelFilesError):
    """The client found or reached no running Jupyter server with jupyter-modelfiles (503)."""

    status = 503
    code = "SERVER_NOT_FOUND"


class InsufficientStorage(ModelFilesError):
    """The disk has no room for the file (507)."""

    status = 507
    code = "INSUFFICIENT_STORAGE"


#: The one status -> error table. A status missing here has no class of its own.
BY_STATUS: dict[int, type[ModelFilesError]] = {
    400: InvalidRequest,
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    416: RangeNotSatisfiable,
    422: Unprocessable,
    502: UpstreamError,
    507: InsufficientStorage,
}


def code_for_status(status: int) -> str:
    """The error code of an HTTP status (``INVALID_REQUEST`` / ``INTERNAL_SERVER_ERROR`` else)."""
    known = BY_STATUS.get(status)
    if known is not None:
        return known.code
    return "INTERNAL_SERVER_ERROR" if status >= 500 else "INVALID_REQUEST"


def error_class(status: int, code: str | None = None) -> type[ModelFilesError]:
    """The class for an error answer: the subclass named by ``code`` when it has this status,
    else the class of the status, else :class:`ModelFilesError`."""
    base = BY_STATUS.get(status, ModelFilesError)
    if code:
        for cls in _subclasses(base):
            if cls.code == code and cls.status == status:
                return cls
    return base


def _subclasses(cls: type[ModelFilesError]) -> list[type[ModelFilesError]]:
    found: list[type[ModelFilesError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found
