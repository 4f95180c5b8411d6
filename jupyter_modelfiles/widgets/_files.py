"""The files browser: list, search, filter by purpose, page, delete, and signed URLs."""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Any

import ipywidgets as w

from ..client import ModelFilesClient
from ..errors import ModelFilesError
from ..files.models import PURPOSES
from ..formatting import human_bytes

__all__ = ["FilesBrowser"]

PURPOSE_OPTIONS = (("any purpose", ""), *((p, p) for p in PURPOSES))


class FileRow(w.HBox):
    """One stored file: name, size, purpose, date, and its buttons."""

    def __init__(self, browser: FilesBrowser, record: dict[str, Any]):
        self.record = record
        self.browser = browser
        created = datetime.fromtimestamp(int(record.get("created_at") or 0), tz=timezone.utc)
        self.label = w.HTML(
            f"<b>{html.escape(str(record.get('filename', '')))}</b>"
            f" &nbsp;<span style='opacity:.7'>{human_bytes(record.get('bytes'))}"
            f" · {html.escape(str(record.get('purpose', '')))}"
            f" · {created:%Y-%m-%d %H:%M} UTC · <code>{html.escape(str(record['id']))}</code>"
            "</span>",
            layout=w.Layout(flex="1"),
        )
        self.url_button = w.Button(description="Signed URL", icon="link", layout=_auto())
        self.delete_button = w.Button(
            description="Delete", icon="trash", button_style="", layout=_auto()
        )
        self.url_button.on_click(lambda _: browser.show_url(record["id"]))
        self.delete_button.on_click(lambda _: self._delete())
        super().__init__([self.label, self.url_button, self.delete_button])

    def _delete(self) -> None:
        """First click asks, second click deletes."""
        if self.delete_button.description != "Confirm":
            self.delete_button.description = "Confirm"
            self.delete_button.button_style = "danger"
            return
        self.browser.delete(self.record["id"])


class FilesBrowser(w.VBox):
    """Browse the uploaded-files store."""

    def __init__(
        self,
        client: ModelFilesClient | None = None,
        *,
        page_size: int = 20,
        auto_refresh: bool = True,
    ):
        self.client = client or ModelFilesClient()
        self.page = 0
        self.page_size = page_size
        self.total: int | None = None
        self.records: list[dict[str, Any]] = []
        self.search = w.Text(
            placeholder="search file names", continuous_update=False, layout=w.Layout(flex="1")
        )
        self.purpose = w.Dropdown(options=PURPOSE_OPTIONS, value="", layout=_auto())
        self.refresh_button = w.Button(description="Refresh", icon="refresh", layout=_auto())
        self.prev_button = w.Button(description="Previous", icon="arrow-left", layout=_auto())
        self.next_button = w.Button(description="Next", icon="arrow-right", layout=_auto())
        self.page_label = w.HTML()
        self.rows = w.VBox()
        self.url = w.Text(
            description="Signed URL",
            placeholder="click 'Signed URL' on a file; the link works without a token",
            layout=w.Layout(width="100%"),
        )
        self.message = w.HTML()
        self.search.observe(lambda _: self.go(0), names="value")
        self.purpose.observe(lambda _: self.go(0), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.prev_button.on_click(lambda _: self.go(self.page - 1))
        self.next_button.on_click(lambda _: self.go(self.page + 1))
        super().__init__(
            [
                w.HBox([self.search, self.purpose, self.refresh_button]),
                self.rows,
                w.HBox([self.prev_button, self.page_label, self.next_button]),
                self.url,
                self.message,
            ]
        )
        if auto_refresh:
            self.refresh()

    @property
    def pages(self) -> int:
        if not self.total:
            return 1
        return max(1, -(-self.total // self.page_size))

    def go(self, page: int) -> None:
        self.page = max(0, min(page, self.pages - 1))
        self.refresh()

    def refresh(self) -> None:
        """Fetch the current page with the current search and purpose."""
        try:
            listing = self.client.list_files(
                page=self.page,
                page_size=self.page_size,
                search=self.search.value.strip() or None,
                purpose=self.purpose.value or None,
            )
        except ModelFilesError as error:
            self._error(error)
            return
        self.records = list(listing.get("data", []))
        self.total = listing.get("total")
        if not self.records and self.page > 0 and self.total:
            self.go(self.pages - 1)
            return
        self.rows.children = [FileRow(self, record) for record in self.records] or [
            w.HTML("<i>no files</i>")
        ]
        total = "?" if self.total is None else str(self.total)
        self.page_label.value = f"&nbsp;page {self.page + 1} of {self.pages} ({total} files)&nbsp;"
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = not listing.get("has_more")
        self.message.value = ""

    def delete(self, file_id: str) -> None:
        try:
            self.client.delete_file(file_id)
        except ModelFilesError as error:
            self._error(error)
            return
        self.refresh()
        self.message.value = f"deleted <code>{html.escape(file_id)}</code>"

    def show_url(self, file_id: str, expiry: float | None = None) -> str | None:
        """Put a signed URL of ``file_id`` in the URL box (select it and copy)."""
        try:
            url = self.client.file_url(file_id, expiry=expiry)
        except ModelFilesError as error:
            self._error(error)
            return None
        self.url.value = url
        return url

    def _error(self, error: ModelFilesError) -> None:
        self.message.value = (
            f"<span style='color:var(--jp-error-color1,#d32f2f)'>"
            f"{html.escape(error.message)}</span>"
        )


def _auto() -> w.Layout:
    return w.Layout(width="auto")
