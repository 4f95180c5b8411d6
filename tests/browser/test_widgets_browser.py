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
from .conftest import LabProcess, _ensure_built, run_notebook

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


@pytest.fixture
def widget_lab(tmp_path: Path) -> Iterator[WidgetLab]:
    _ensure_built()
    lab = WidgetLab(
        tmp_path / "lab",
        base_url="/widgets%40lab/",
        extra_args=[f"--ModelFilesApp.max_upload_size={UPLOAD_BYTES + MiB}"],
    )
    lab.workdir.mkdir()
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


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
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    run_notebook(page, widget_lab, "widgets.ipynb")

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
    page.wait_for_function(
        "() => { const el = document.querySelector('.modelfiles-upload');"
        " return el && el.dataset.status === 'uploading'; }",
        timeout=10_000,
    )
    page.wait_for_function(
        "() => { const el = document.querySelector('.modelfiles-upload');"
        " return el && (el.dataset.status === 'done' || el.dataset.status === 'error'); }",
        timeout=180_000,
    )
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
    context.close()
    assert not [e for e in errors if "modelfiles" in e.lower()], errors
