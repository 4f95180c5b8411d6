"""The model browser: search the catalog, see each file's quantization/size/RAM, download."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..client import ModelFilesClient, jobs_of, models_of
from ..errors import ModelFilesError
from ..formatting import describe_bytes, human_bytes
from ._progress import DownloadProgress, Job

__all__ = ["ModelBrowser"]


class ModelFileRow(w.HBox):
    """One file of a model with its Download button."""

    def __init__(self, browser: ModelBrowser, model_id: str, model_file: dict[str, Any]):
        self.model_file = model_file
        name = str(model_file.get("name") or model_file.get("id"))
        details = [
            str(model_file.get("quantization") or ""),
            str(model_file.get("format") or ""),
            human_bytes(model_file.get("sizeBytes")),
        ]
        if model_file.get("maxRamUsage"):
            details.append(f"RAM ≈ {human_bytes(model_file['maxRamUsage'])}")
        done = bool(model_file.get("isDownloaded"))
        self.label = w.HTML(
            f"<code>{html.escape(name)}</code> &nbsp;<span style='opacity:.7'>"
            + " · ".join(html.escape(d) for d in details if d)
            + "</span>"
            + (" ✅" if done else ""),
            layout=w.Layout(flex="1"),
        )
        self.download_button = w.Button(
            description="Downloaded" if done else "Download",
            icon="check" if done else "download",
            disabled=done,
            layout=w.Layout(width="auto"),
        )
        key = str(model_file.get("id") or name)
        self.download_button.on_click(lambda _: browser.download(model_id, key))
        super().__init__([self.label, self.download_button])


class ModelBrowser(w.VBox):
    """Search the catalog, pick a model, download a file with one click."""

    def __init__(
        self,
        client: ModelFilesClient | None = None,
        *,
        source: str | None = None,
        auto_search: bool = True,
    ):
        self.client = client or ModelFilesClient()
        self.source = source  # hub, manifest, custom or local; None searches everywhere
        self.models: list[dict[str, Any]] = []
        self.model_files: list[dict[str, Any]] = []
        self.progress: list[DownloadProgress] = []
        self.query = w.Text(
            placeholder="search models (name, provider, quantization)",
            continuous_update=False,
            layout=w.Layout(flex="1"),
        )
        self.search_button = w.Button(description="Search", icon="search", layout=_auto())
        self.results = w.Select(options=[], rows=8, layout=w.Layout(width="100%"))
        self.details = w.HTML()
        self.files_box = w.VBox()
        self.downloads = w.VBox()
        self.message = w.HTML()
        self.query.observe(lambda _: self.search(), names="value")
        self.search_button.on_click(lambda _: self.search())
        self.results.observe(self._on_select, names="value")
        super().__init__(
            [
                w.HBox([self.query, self.search_button]),
                self.results,
                self.details,
                self.files_box,
                self.downloads,
                self.message,
            ]
        )
        if auto_search:
            self.search()

    def search(self, text: str | None = None) -> list[dict[str, Any]]:
        if text is not None and text != self.query.value:
            self.query.value = text  # the observer runs the search
            return self.models
        try:
            answer = self.client.list_models(self.query.value.strip() or None, source=self.source)
        except ModelFilesError as error:
            self._error(error)
            return []
        self.models = models_of(answer)
        self.results.options = [(self._label(model), str(model["id"])) for model in self.models]
        notes = [] if self.models else ["<i>no models match</i>"]
        if isinstance(answer, dict):
            notes += [f"<i>{html.escape(str(w))}</i>" for w in answer.get("warnings") or []]
        self.message.value = "<br>".join(notes)
        return self.models

    def _label(self, model: dict[str, Any]) -> str:
        bits = [str(model.get("name") or model["id"])]
        if model.get("quantization"):
            bits.append(str(model["quantization"]))
        size = describe_bytes(model.get("bytes"))
        if size:
            bits.append(size)
        if model.get("downloaded"):
            bits.append("downloaded")
        if model.get("loaded"):
            bits.append("loaded")
        return " · ".join(bits)

    def _on_select(self, change: dict[str, Any]) -> None:
        if change.get("new"):
            self.select(str(change["new"]))

    def select(self, model_id: str) -> None:
        """Show a model's details and files."""
        model = next((m for m in self.models if str(m.get("id")) == model_id), {"id": model_id})
        try:
            self.model_files = self.client.model_files(model_id)
        except ModelFilesError as error:
            self._error(error)
            return
        description = html.escape(str(model.get("description") or ""))
        ram = describe_bytes(model.get("ram"))
        self.details.value = (
            f"<b>{html.escape(str(model.get('name') or model_id))}</b> "
            f"<code>{html.escape(model_id)}</code><br>{description}"
            + (f"<br>RAM ≈ {html.escape(ram)}" if ram else "")
        )
        self.files_box.children = [
            ModelFileRow(self, model_id, model_file) for model_file in self.model_files
        ]

    def download(
        self, model_id: str, file: str | None = None, quantization: str | None = None
    ) -> list[Job]:
        """Start downloading (one file, a quantization, or the default) and show progress."""
        try:
            answer = self.client.download_model(
                model_id, files=[file] if file else None, quantization=quantization
            )
        except ModelFilesError as error:
            self._error(error)
            return []
        bars = [DownloadProgress(job, self.client) for job in jobs_of(answer)]
        self.progress.extend(bars)
        self.downloads.children = tuple(self.downloads.children) + tuple(bars)
        if not bars:
            self.message.value = f"<code>{html.escape(model_id)}</code>: nothing to download"
        return [bar.job for bar in bars]

    def _error(self, error: ModelFilesError) -> None:
        self.message.value = (
            f"<span style='color:var(--jp-error-color1,#d32f2f)'>"
            f"{html.escape(error.message)}</span>"
        )


def _auto() -> w.Layout:
    return w.Layout(width="auto")
