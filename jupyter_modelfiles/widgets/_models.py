"""The model browser: the catalog as a table (the columns and states of JupyterLab's Model
files view), built from ipywidgets; a model's files with their size, RAM and state, and
one-click downloads with progress."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..client import ModelFilesClient, jobs_of, models_of
from ..errors import ModelFilesError
from ..formatting import describe_bytes, human_bytes
from ._progress import DownloadProgress, Job

__all__ = ["ModelBrowser", "fit_of"]

# (key, header, CSS grid width) of the table's columns, as in the labextension's main view
COLUMNS = (
    ("name", "Model", "minmax(90px, 2fr)"),
    ("provider", "Provider", "auto"),
    ("format", "Format", "auto"),
    ("parameters", "Params", "auto"),
    ("context", "Context", "auto"),
    ("size", "Size", "auto"),
    ("ram", "RAM", "auto"),
    ("state", "State", "minmax(120px, 1.5fr)"),
)
STATES = (
    ("any state", ""),
    ("downloaded", "downloaded"),
    ("not downloaded", "not-downloaded"),
    ("downloading", "downloading"),
    ("loaded", "loaded"),
)


def fit_of(ram: Any, memory: dict[str, Any] | None) -> str | None:
    """ "fits" within 80% of the free memory (and RAM budget), "tight" up to all, else
    "too big"; ``None`` when either is unknown (the labextension's rule)."""
    if not memory or not isinstance(ram, (int, float)) or ram <= 0:
        return None
    free = int(memory.get("available_bytes") or 0)
    room = min(free, int(memory.get("ram_budget_bytes") or free))
    if ram <= 0.8 * room:
        return "fits"
    return "tight" if ram <= room else "too big"


def _value(descriptor: Any) -> int | None:
    """A Pieces byte descriptor ``{value, readable}`` or a plain number, as bytes."""
    if isinstance(descriptor, dict):
        descriptor = descriptor.get("value")
    return int(descriptor) if isinstance(descriptor, (int, float)) and descriptor else None


def provider_of(model: dict[str, Any]) -> str:
    org = model.get("organization_name")
    if org:
        return str(org)
    model_id = str(model.get("id", ""))
    return model_id.split("/")[0] if "/" in model_id else ""


def quantizations_of(model: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for entry in model.get("files") or []:
        quant = entry.get("quantization") if isinstance(entry, dict) else None
        if quant and quant != "unknown" and quant not in found:
            found.append(str(quant))
    if not found and model.get("quantization"):
        found.append(str(model["quantization"]))
    return found


def state_words(model: dict[str, Any]) -> str:
    """downloaded / downloading / loaded (with its measured memory) / not downloaded."""
    words = []
    if model.get("downloading"):
        words.append("downloading")
    if model.get("downloaded"):
        words.append("downloaded")
    if model.get("loaded"):
        rss = model.get("loaded_rss_bytes")
        words.append(f"loaded · {human_bytes(rss)}" if rss else "loaded")
    return ", ".join(words) or "not downloaded"


def _sort_value(model: dict[str, Any], key: str) -> Any:
    values = {
        "name": str(model.get("name") or model.get("id")).lower(),
        "provider": provider_of(model).lower(),
        "format": str(model.get("format") or ""),
        "parameters": model.get("parameters") or -1,
        "context": model.get("context_length") or -1,
        "size": _value(model.get("bytes")) or -1,
        "ram": _value(model.get("ram")) or -1,
        "state": (
            bool(model.get("loaded")),
            bool(model.get("downloading")),
            bool(model.get("downloaded")),
        ),
    }
    return values[key]


def _matches(model: dict[str, Any], state: str) -> bool:
    if state == "downloaded":
        return bool(model.get("downloaded"))
    if state == "not-downloaded":
        return not model.get("downloaded")
    if state == "downloading":
        return bool(model.get("downloading"))
    if state == "loaded":
        return bool(model.get("loaded"))
    return True


def _cell(text: str, *, number: bool = False) -> w.HTML:
    """A table cell: compact lines (an HTML widget's default line height is a button's);
    a number keeps its width, words wrap."""
    return w.HTML(
        f"<div style='line-height:1.35;padding-top:4px;overflow-wrap:break-word'>{text}</div>",
        layout=w.Layout(min_width="max-content" if number else "0", overflow="hidden"),
    )


def _fit_badge(fit: str | None) -> str:
    if fit is None:
        return ""
    color = {"fits": "success", "tight": "warn", "too big": "error"}[fit]
    return (
        f"<br><span class='modelfiles-fit' style='color:var(--jp-{color}-color1);"
        f"border:1px solid currentColor;border-radius:8px;padding:0 4px;font-size:smaller'>"
        f"{fit}</span>"
    )


class ModelRow:
    """The cells of one model in the table, and its Files and Download buttons."""

    def __init__(self, browser: ModelBrowser, model: dict[str, Any]):
        self.model = model
        self.model_id = str(model["id"])
        name = str(model.get("name") or self.model_id)
        ident = (
            f"<br><span style='opacity:.7;font-size:smaller'>{html.escape(self.model_id)}</span>"
            if name != self.model_id
            else ""
        )
        quants = ", ".join(quantizations_of(model))
        ram, size = _value(model.get("ram")), _value(model.get("bytes"))
        self.files_button = w.Button(description="Files", icon="list", layout=_auto())
        self.files_button.on_click(lambda _: browser.select(self.model_id))
        self.download_button = w.Button(
            description="Download",
            icon="download",
            layout=_auto(),
            disabled=bool(model.get("downloading")),
        )
        self.download_button.on_click(lambda _: browser.download(self.model_id))
        self.state = _cell(html.escape(state_words(model)))
        context = model.get("context_length")
        self.cells: list[w.Widget] = [
            _cell(f"<b>{html.escape(name)}</b>{ident}"),
            _cell(html.escape(provider_of(model))),
            _cell(
                html.escape(str(model.get("format") or ""))
                + (f"<br><span style='opacity:.7'>{html.escape(quants)}</span>" if quants else "")
            ),
            _cell(
                _nobreak(f"{model['parameters']} B") if model.get("parameters") else "", number=True
            ),
            _cell(f"{context:,}" if isinstance(context, int) else "", number=True),
            _cell(_nobreak(human_bytes(size)) if size else "", number=True),
            _cell(
                (_nobreak(human_bytes(ram)) if ram else "")
                + _fit_badge(fit_of(ram, browser.memory)),
                number=True,
            ),
            w.VBox(
                [self.state, w.HBox([self.files_button, self.download_button], layout=_wrap())],
                layout=w.Layout(min_width="0"),
            ),
        ]


class ModelFileRow(w.HBox):
    """One file of a model: name, quantization, format, size, RAM; Download, or where it is."""

    def __init__(self, browser: ModelBrowser, model_id: str, model_file: dict[str, Any]):
        self.model_file = model_file
        name = str(model_file.get("name") or model_file.get("id"))
        details = [
            str(model_file.get("quantization") or ""),
            str(model_file.get("format") or ""),
            human_bytes(model_file.get("sizeBytes")),
        ]
        if model_file.get("maxRamUsage"):
            ram = model_file["maxRamUsage"]
            details.append(f"RAM ≈ {human_bytes(ram)}")
            fit = fit_of(ram, browser.memory)
            if fit:
                details.append(fit)
        done = bool(model_file.get("isDownloaded"))
        path = (model_file.get("downloadStatus") or {}).get("localPath") if done else None
        self.path = Path(path) if path else None
        self.label = w.HTML(
            f"<code>{html.escape(name)}</code> &nbsp;<span style='opacity:.7'>"
            + " · ".join(html.escape(d) for d in details if d)
            + "</span>"
            + (
                f"<br><span style='opacity:.7;word-break:break-all'>{html.escape(path)}</span>"
                if path
                else ""
            ),
            layout=w.Layout(flex="1", min_width="0"),
        )
        self.download_button = w.Button(
            description="Downloaded" if done else "Download",
            icon="check" if done else "download",
            disabled=done,
            layout=w.Layout(width="auto"),
        )
        key = str(model_file.get("id") or name)
        self.download_button.on_click(lambda _: browser.download(model_id, key))
        super().__init__(
            [self.label, self.download_button], layout=w.Layout(width="100%", align_items="center")
        )


class ModelBrowser(w.VBox):
    """The catalog as a sortable, filterable table; a model's files; one-click downloads."""

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
        self.rows: list[ModelRow] = []
        self.model_files: list[dict[str, Any]] = []
        self.progress: list[DownloadProgress] = []
        self.memory: dict[str, Any] | None = None
        self.sort_key, self.ascending = "name", True
        self.query = w.Text(
            placeholder="search models (name, provider, quantization)",
            continuous_update=False,
            layout=w.Layout(flex="1", min_width="120px"),
        )
        self.state_filter = w.Dropdown(options=STATES, value="", layout=_auto())
        self.search_button = w.Button(description="Search", icon="search", layout=_auto())
        self.memory_label = w.HTML()
        self.headers = {
            key: w.Button(
                description=title,
                tooltip=f"Sort by {title}",
                layout=w.Layout(width="auto", min_width="max-content", padding="0 4px"),
            )
            for key, title, _ in COLUMNS
        }
        for key, button in self.headers.items():
            button.add_class("modelfiles-sort")
            button.style.font_weight = "bold"
            button.on_click(lambda _, key=key: self.sort_by(key))
        self.table = w.GridBox(
            layout=w.Layout(
                grid_template_columns=" ".join(width for _, _, width in COLUMNS),
                grid_gap="2px 6px",
                width="100%",
                align_items="flex-start",
            )
        )
        self.table.add_class("modelfiles-table")
        self.details = w.HTML()
        self.files_box = w.VBox(layout=w.Layout(width="100%"))
        self.downloads = w.VBox(layout=w.Layout(width="100%"))
        self.message = w.HTML()
        self.query.observe(lambda _: self.search(), names="value")
        self.state_filter.observe(lambda _: self.redraw(), names="value")
        self.search_button.on_click(lambda _: self.search())
        super().__init__(
            [
                w.HBox([self.query, self.state_filter, self.search_button], layout=_wrap()),
                self.memory_label,
                self.table,
                self.details,
                self.files_box,
                self.downloads,
                self.message,
            ],
            layout=w.Layout(width="100%", overflow="hidden"),
        )
        self.add_class("modelfiles-browser")
        if auto_search:
            self.search()

    def _load_memory(self) -> None:
        try:
            self.memory = self.client.system_memory()
        except ModelFilesError:
            self.memory = None  # an older server: no "fits" hints
        if self.memory:
            self.memory_label.value = (
                f"<span style='opacity:.7'>{human_bytes(self.memory['available_bytes'])} free of "
                f"{human_bytes(self.memory['total_bytes'])} memory</span>"
            )

    def search(self, text: str | None = None) -> list[dict[str, Any]]:
        if text is not None and text != self.query.value:
            self.query.value = text  # the observer runs the search
            return self.models
        if self.memory is None:
            self._load_memory()
        try:
            answer = self.client.list_models(self.query.value.strip() or None, source=self.source)
        except ModelFilesError as error:
            self._error(error)
            return []
        self.models = models_of(answer)
        notes = [] if self.models else ["<i>no models match</i>"]
        if isinstance(answer, dict):
            notes += [f"<i>{html.escape(str(w))}</i>" for w in answer.get("warnings") or []]
        self.message.value = "<br>".join(notes)
        self.redraw()
        return self.models

    def sort_by(self, key: str) -> None:
        """Sort by a column; the same column again reverses the order."""
        self.ascending = not self.ascending if key == self.sort_key else True
        self.sort_key = key
        self.redraw()

    def visible(self) -> list[dict[str, Any]]:
        shown = [m for m in self.models if _matches(m, self.state_filter.value)]
        return sorted(
            shown, key=lambda m: _sort_value(m, self.sort_key), reverse=not self.ascending
        )

    def redraw(self) -> None:
        for key, title, _ in COLUMNS:
            arrow = (" ▲" if self.ascending else " ▼") if key == self.sort_key else ""
            self.headers[key].description = title + arrow
        self.rows = [ModelRow(self, model) for model in self.visible()]
        cells: list[w.Widget] = list(self.headers.values())
        for row in self.rows:
            cells.extend(row.cells)
        self.table.children = cells

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
            self.message.value = f"<code>{html.escape(model_id)}</code> is already downloaded"
        return [bar.job for bar in bars]

    def _error(self, error: ModelFilesError) -> None:
        self.message.value = (
            f"<span style='color:var(--jp-error-color1,#d32f2f)'>"
            f"{html.escape(error.message)}</span>"
        )


def _nobreak(text: str) -> str:
    """``12.0 MiB`` on one line in a narrow column."""
    return html.escape(text).replace(" ", "&nbsp;")


def _auto() -> w.Layout:
    return w.Layout(width="auto")


def _wrap() -> w.Layout:
    return w.Layout(flex_flow="row wrap", width="100%", min_width="0")
