"""The widgets in a real Chromium inside a real ``jupyter lab``: a 200 MiB upload straight from
the browser to ``POST v1/files`` (never through the comm channel), and a live download bar.

It uses the shared lab process and browser fixtures of ``tests/browser/conftest.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from ..origin import Origin, running_origin
from .conftest import LabProcess, _ensure_built, first_slice_reset, run_notebook

pytestmark = pytest.mark.browser

MiB = 1024 * 1024
UPLOAD_BYTES = 200 * MiB


class WidgetLab(LabProcess):
    """The shared lab process, with an upload limit that fits the 200 MiB upload."""

    @property
    def notebooks(self) -> Path:
        return self.workdir / "notebooks"

    def files(self) -> list[dict[str, Any]]:
        with self.api() as api:
            response = api.get("files", params={"page_size": 100})
        assert response.status_code == 200, response.text
        return list(response.json()["data"])


@pytest.fixture
def origin() -> Iterator[Origin]:
    with running_origin() as running:
        yield running


def _running(tmp_path: Path, *args: str) -> Iterator[WidgetLab]:
    """A started widget lab under ``tmp_path/lab`` with extra server arguments."""
    lab = WidgetLab(tmp_path / "lab", base_url="/widgets%40lab/", extra_args=list(args))
    lab.workdir.mkdir()
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def widget_lab(tmp_path: Path) -> Iterator[WidgetLab]:
    _ensure_built()
    yield from _running(tmp_path, f"--ModelFilesApp.max_upload_size={UPLOAD_BYTES + MiB}")


def _notebook(path: Path, download_url: str) -> None:
    cells = [
        nbformat.v4.new_code_cell(
            "import json\n"
            "import jupyter_modelfiles as mf\n"
            "control = mf.upload(purpose='batch')\n"
            "control.on_upload(lambda record: open('uploaded.json', 'w').write(json.dumps(record)))"
        ),
        nbformat.v4.new_code_cell(f"job = mf.download({download_url!r})"),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)


def _upload_reaches(page: Any, statuses: list[str], timeout: float) -> None:
    """Wait until the first upload control's ``data-status`` is one of ``statuses``."""
    page.wait_for_function(
        "(statuses) => { const el = document.querySelector('.modelfiles-upload');"
        " return el !== null && statuses.includes(el.dataset.status); }",
        arg=statuses,
        timeout=timeout * 1000,
    )


def _run_notebook(context: Any, lab: LabProcess, name: str) -> tuple[Any, list[str]]:
    """Open the notebook ``name`` of ``lab`` in a new page and run all its cells."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    run_notebook(page, lab, name)
    return page, errors


def test_upload_control_sends_200_mib_from_the_browser_and_the_bar_turns_green(
    widget_lab: WidgetLab, browser: Any, origin: Origin, tmp_path: Path
) -> None:
    origin.add("live.bin", 12 * MiB, seed=31)
    origin.rate = 4 * MiB  # ~3 s: the bar is seen moving before it turns green
    _notebook(widget_lab.notebooks / "widgets.ipynb", origin.url("live.bin"))
    big = tmp_path / "big-input.bin"
    with open(big, "wb") as handle:
        block = os.urandom(MiB)
        for _ in range(UPLOAD_BYTES // MiB):
            handle.write(block)
    digest = hashlib.sha256(big.read_bytes()).hexdigest()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page, errors = _run_notebook(context, widget_lab, "widgets.ipynb")

    # The download bar (second cell) renders, moves, and turns green.
    bar = page.locator(".widget-hprogress").first
    bar.wait_for(timeout=60_000)
    bar.locator(".progress-bar-success").wait_for(timeout=60_000)
    assert "12.0 MiB / 12.0 MiB" in page.locator(".jp-OutputArea", has=bar).inner_text()

    # The upload control (first cell): pick 200 MiB, upload, watch the bar reach 100 %.
    control = page.locator(".modelfiles-upload").first
    control.wait_for(timeout=30_000)
    control.locator(".modelfiles-upload-input").set_input_files(str(big))
    control.locator(".modelfiles-upload-start").click()
    _upload_reaches(page, ["uploading"], timeout=10)
    _upload_reaches(page, ["done", "error"], timeout=180)
    label = control.locator(".modelfiles-upload-label").inner_text()
    assert control.get_attribute("data-status") == "done", label
    assert control.locator(".modelfiles-upload-bar").evaluate("el => el.value") == 100
    assert "big-input.bin" in label and "200.0 MiB" in label

    stored = {f["filename"]: f for f in widget_lab.files()}["big-input.bin"]
    assert stored["bytes"] == UPLOAD_BYTES and stored["sha256"] == digest
    assert stored["purpose"] == "batch"

    # The kernel learned the result through the widget state (its callback wrote it down).
    marker = widget_lab.notebooks / "uploaded.json"
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert json.loads(marker.read_text())["id"] == stored["id"]

    # A slice whose request breaks (the first slice request is reset before it reaches the
    # server) is retried after asking the server what it kept: the file arrives whole.
    resumed = tmp_path / "resumed.bin"
    resumed_data = os.urandom(3 * MiB + 5)
    resumed.write_bytes(resumed_data)
    with first_slice_reset(page) as slices:
        control.locator(".modelfiles-upload-input").set_input_files(str(resumed))
        control.locator(".modelfiles-upload-start").click()
        _upload_reaches(page, ["uploading"], timeout=10)
        _upload_reaches(page, ["done", "error"], timeout=60)
    label = control.locator(".modelfiles-upload-label").inner_text()
    assert control.get_attribute("data-status") == "done", label
    assert len(slices) == 2 and all("offset=0" in url for url in slices)
    stored = {f["filename"]: f for f in widget_lab.files()}["resumed.bin"]
    assert stored["sha256"] == hashlib.sha256(resumed_data).hexdigest()
    control.locator(".modelfiles-upload-input").set_input_files(str(big))

    # Cancel: Chromium's throttling keeps the upload going long enough to press it; the
    # control reads "cancelled" and the server deletes the partial file of the sliced upload.
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2**20},
    )
    control.locator(".modelfiles-upload-start").click()
    tmp_dir = widget_lab.root / "files" / ".tmp"
    deadline = time.monotonic() + 30
    while not list(tmp_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_dir.iterdir()), "the sliced upload made no partial file"
    control.locator(".modelfiles-upload-cancel").click()
    _upload_reaches(page, ["cancelled"], timeout=10)
    assert control.locator(".modelfiles-upload-label").inner_text() == "cancelled"
    deadline = time.monotonic() + 10
    while list(tmp_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_dir.iterdir()) == []
    assert [f["filename"] for f in widget_lab.files()].count("big-input.bin") == 1
    cdp.detach()
    context.close()
    assert not [e for e in errors if "modelfiles" in e.lower()], errors


@pytest.fixture
def catalog_lab(tmp_path: Path, origin: Origin) -> Iterator[WidgetLab]:
    """A lab whose catalog (a manifest) lists a one-file model and a split model."""
    _ensure_built()
    files = {
        "chat-7b.Q4_K_M.gguf": origin.add("chat-7b.Q4_K_M.gguf", 3 * MiB, seed=41),
        "chat-7b.Q8_0.gguf": origin.add("chat-7b.Q8_0.gguf", 5 * MiB, seed=42),
        "big-70b.Q2_K-00001-of-00002.gguf": origin.add("big-70b.Q2_K-00001-of-00002.gguf", 6 * MiB),
        "big-70b.Q2_K-00002-of-00002.gguf": origin.add("big-70b.Q2_K-00002-of-00002.gguf", 6 * MiB),
    }

    def entry(name: str) -> dict[str, Any]:
        data = files[name]
        return {
            "url": origin.url(name),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }

    manifest = tmp_path / "catalog.json"
    manifest.write_text(
        json.dumps(
            {
                "models": [
                    {
                        "id": "acme/chat-7b-instruct",
                        "name": "Chat 7B Instruct",
                        "provider": "Acme Labs",
                        "parameters": 7.2,
                        "context_length": 8192,
                        "files": [entry("chat-7b.Q4_K_M.gguf"), entry("chat-7b.Q8_0.gguf")],
                    },
                    {
                        "id": "acme/big-70b",
                        "name": "Big 70B (split GGUF)",
                        "parameters": 70.0,
                        "files": [entry(n) for n in files if n.startswith("big-70b")],
                    },
                ]
            }
        )
    )
    yield from _running(tmp_path, f"--ModelFilesApp.manifests={manifest}")


def test_model_browser_table_and_a_group_download_fit_the_output(
    catalog_lab: WidgetLab, browser: Any, origin: Origin, tmp_path: Path
) -> None:
    from .conftest import screenshot_path

    origin.rate = 2 * MiB  # the split model takes a few seconds: its one bar is seen moving
    cells = [
        nbformat.v4.new_code_cell(
            "import jupyter_modelfiles as mf\nmodels = mf.browser(source='manifest')"
        ),
        nbformat.v4.new_code_cell("job = mf.download('acme/big-70b')\ntype(job).__name__"),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, catalog_lab.notebooks / "models.ipynb")

    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page, errors = _run_notebook(context, catalog_lab, "models.ipynb")

    # the browser is a table of ipywidgets with the main view's columns
    table = page.locator(".modelfiles-table").first
    table.wait_for(timeout=60_000)
    for header in ("Model ▲", "Provider", "Format", "Params", "Context", "Size", "RAM", "State"):
        table.locator(".modelfiles-sort", has_text=header).first.wait_for()
    assert "Chat 7B Instruct" in table.inner_text() and "8,192" in table.inner_text()
    assert "Acme Labs" in table.inner_text()
    # one object for the split model: one bar with the aggregate progress
    page.locator(".jp-OutputArea-output", has_text="'JobGroup'").wait_for(timeout=60_000)
    group = page.locator(".jp-OutputArea", has_text="acme/big-70b · 2 files").first
    group.wait_for(timeout=30_000)
    assert group.locator(".widget-hprogress").count() == 1
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-OutputArea')]
            .some(a => /acme\\/big-70b · 2 files/.test(a.textContent)
                 && /downloading/.test(a.textContent))""",
        timeout=30_000,
    )
    page.locator(".jp-OutputArea", has_text="12.0 MiB / 12.0 MiB").first.wait_for(timeout=60_000)
    # nothing sticks out of the output's right edge
    overflowing = page.evaluate(
        """() => [...document.querySelectorAll('.jp-OutputArea-output')]
            .filter(el => el.scrollWidth > el.clientWidth + 1)
            .map(el => el.textContent.slice(0, 60))"""
    )
    assert overflowing == []
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('.modelfiles-table')].flatMap(table => {
            const edge = table.getBoundingClientRect().right;
            return [...table.querySelectorAll('button')]
                .filter(b => b.getBoundingClientRect().right > edge + 1)
                .map(b => b.textContent);
        })"""
    )
    assert clipped == []
    table.locator(".modelfiles-sort", has_text="Size").first.click()
    table.locator(".modelfiles-sort", has_text="Size ▲").first.wait_for(timeout=10_000)
    page.locator(".jp-Notebook").first.screenshot(
        path=str(screenshot_path(tmp_path, "notebook-widgets.png"))
    )
    context.close()
    origin.rate = None
    assert not [e for e in errors if "modelfiles" in e.lower()], errors
