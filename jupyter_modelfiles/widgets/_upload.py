"""The upload control: the browser sends the file straight to ``POST v1/files`` over HTTP.

The widget comm channel caps messages at ~10 MiB and would pass every byte through the kernel;
here the kernel only learns the progress (a few updates a second) and the resulting file
object. The browser side (anywidget ESM, ``upload.js``) posts to the page's own server
(``PageConfig`` baseUrl, ``_xsrf`` cookie), so no token travels through the notebook.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

from ..client import ModelFilesClient
from ..files.models import DEFAULT_PURPOSE, PURPOSES

__all__ = ["UploadControl"]


class UploadControl(anywidget.AnyWidget):
    """Pick a file in the browser and upload it with a progress bar."""

    _esm = Path(__file__).with_name("upload.js")

    api_url = t.Unicode("", help="Fallback API root when the page has no PageConfig.").tag(
        sync=True
    )
    purpose = t.Unicode(DEFAULT_PURPOSE).tag(sync=True)
    #: The store's purposes; the browser side replaces them with ``GET v1/files/purposes``.
    purposes = t.List(t.Unicode(), default_value=list(PURPOSES)).tag(sync=True)
    status = t.Unicode("idle", help="idle, uploading, done, error or cancelled").tag(sync=True)
    filename = t.Unicode("").tag(sync=True)
    uploaded_bytes = t.Int(0).tag(sync=True)
    total_bytes = t.Int(0).tag(sync=True)
    result = t.Dict(help="The file object the server returned.").tag(sync=True)
    error = t.Unicode("").tag(sync=True)

    def __init__(
        self,
        client: ModelFilesClient | None = None,
        *,
        purpose: str = DEFAULT_PURPOSE,
        **kwargs: Any,
    ):
        api_url = kwargs.pop("api_url", None)
        if api_url is None:
            try:
                api_url = (client or ModelFilesClient()).server.api_url
            except Exception:
                api_url = ""
        super().__init__(api_url=api_url, purpose=purpose, **kwargs)
        self._callbacks: list[Callable[[dict[str, Any]], None]] = []
        self._announced: str | None = None
        self.observe(self._on_change, names=["status", "result"])

    @property
    def progress(self) -> float:
        """0..1 of the current upload."""
        return self.uploaded_bytes / self.total_bytes if self.total_bytes else 0.0

    def on_upload(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call ``callback(file_object)`` after each finished upload."""
        self._callbacks.append(callback)

    def _on_change(self, change: dict[str, Any]) -> None:
        """Announce each finished upload once, whichever of status/result arrives last."""
        file_id = str(self.result.get("id", "")) if self.result else ""
        if self.status != "done" or not file_id or file_id == self._announced:
            return
        self._announced = file_id
        for callback in list(self._callbacks):
            callback(dict(self.result))
