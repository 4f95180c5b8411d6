"""The thin base handler every modelfiles route builds on.

It sets the authorization resource, reaches the services through a property, parses query
arguments strictly and turns :class:`~jupyter_modelfiles.errors.ModelFilesError` (and any
unexpected exception) into a JSON error without a stack trace (:class:`JSONErrorsMixin`, which
the WebSockets share).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web

from ..errors import InsufficientStorage, InvalidRequest, ModelFilesError, code_for_status
from ..services import Services
from ..state import is_disk_full

AUTH_RESOURCE = "modelfiles"


class JSONErrorsMixin(JupyterHandler):
    """JSON errors without a stack trace, shared by the REST handlers and the WebSockets.

    A :class:`~jupyter_modelfiles.errors.ModelFilesError` becomes its status and
    ``{"error": {"code", "message"}}`` and is logged as one info line; any other exception is
    a 500 with a generic message (its traceback goes to the server log only).
    """

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        error = _mapped(exc_info[1] if exc_info else None)
        if isinstance(error, ModelFilesError):
            status_code, body = error.status, error.to_json()
        elif isinstance(error, web.HTTPError):
            message = error.log_message or self._reason
            if error.args and error.log_message:
                try:
                    message = error.log_message % error.args[1:]
                except TypeError:
                    pass
            body = {"error": {"code": code_for_status(status_code), "message": message}}
        else:
            body = {
                "error": {
                    "code": "INTERNAL_SERVER_ERROR",
                    "message": "internal error; see the Jupyter server log",
                }
            }
        for name in ("Content-Disposition", "Content-Range", "Content-Length", "ETag"):
            self.clear_header(name)
        if isinstance(error, ModelFilesError):
            for name, value in error.headers.items():
                self.set_header(name, value)
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        value = _mapped(value)
        if isinstance(value, ModelFilesError):
            self.log.info(
                "%s %s -> %s: %s",
                self.request.method,
                self.request.path,
                value.status,
                value.message,
            )
            return
        super().log_exception(typ, value, tb)


def _mapped(error: BaseException | None) -> BaseException | None:
    """A full disk (SQLite's "database or disk is full", ENOSPC) is a 507, never a 500."""
    if error is not None and not isinstance(error, ModelFilesError) and is_disk_full(error):
        return InsufficientStorage(
            f"no space left on the disk: {error}; free some space and try again"
        )
    return error


class ModelFilesHandler(JSONErrorsMixin, APIHandler):
    """Base class: ``auth_resource``, services, JSON in and out, JSON errors."""

    auth_resource = AUTH_RESOURCE

    @property
    def services(self) -> Services:
        return self.settings["modelfiles"]

    # -- output ------------------------------------------------------------------------
    def write_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(payload))

    # -- input -------------------------------------------------------------------------
    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object; an empty body is ``{}``."""
        raw = self.request.body
        if not raw or not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise InvalidRequest("request body is nested too deeply to be read") from None
        if not isinstance(body, dict):
            raise InvalidRequest("request body must be a JSON object")
        return body

    def query_str(self, name: str, default: str | None = None) -> str | None:
        value = self.get_query_argument(name, None)
        return default if value is None else value

    def query_list(self, name: str) -> list[str]:
        """Repeated (``?a=x&a=y``) and comma-separated (``?a=x,y``) values."""
        values: list[str] = []
        for raw in self.get_query_arguments(name):
            values.extend(v.strip() for v in raw.split(",") if v.strip())
        return values

    def query_int(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidRequest(
                f"query parameter {name!r} must be an integer, got {raw!r}"
            ) from None
        if minimum is not None and value < minimum:
            raise InvalidRequest(f"query parameter {name!r} must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise InvalidRequest(f"query parameter {name!r} must be <= {maximum}, got {value}")
        return value

    def query_float(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise InvalidRequest(
                f"query parameter {name!r} must be a number, got {raw!r}"
            ) from None
        if (
            value != value
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
        ):
            raise InvalidRequest(
                f"query parameter {name!r} must be between {minimum} and {maximum}, got {raw!r}"
            )
        return value

    def query_bool(self, name: str) -> bool | None:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return None
        lowered = raw.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise InvalidRequest(f"query parameter {name!r} must be true or false, got {raw!r}")


def path_id(raw: str) -> str:
    """A path parameter decoded once (so ``org%2Fname`` and ``org/name`` are the same id)."""
    return unquote(raw)
