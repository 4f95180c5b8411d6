"""The widgets in a real Chromium inside a real ``jupyter lab``: a 200 MiB upload straight from
the browser to ``POST v1/files`` (never through the comm channel), and a live download bar.

Self-contained (its own lab process and browser), so it runs with or without the sidebar's
browser fixtures in ``tests/browser/conftest.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest

from ..jupyter_process import REPO, free_port
from ..origin import Origin, running_origin

pytestmark = pytest.mark.browser

MiB = 1024 * 1024
UPLOAD_BYTES = 200 * MiB
CHROMIUM = os.environ.get("MODELFILES_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]


@pytest.fixture
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """Playwright's sync API owns this thread's loop; give pytest-jupyter a private one."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def jp_server_cleanup() -> Iterator[None]:
    yield


class Lab:
    """``python -m jupyterlab`` on 127.0.0.1 with token auth, a base_url and state in tmp."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.notebooks = workdir / "notebooks"
        self.notebooks.mkdir()
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base_url = "/widgets%40lab/"
        self.log = workdir / "lab.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "JUPYTER_CONFIG_DIR": str(self.workdir / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(self.workdir / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.workdir / "workspaces"),
        }
        for name in ("JUPYTER_MODELFILES_URL", "JUPYTER_MODELFILES_TOKEN", "JPY_PARENT_PID"):
            env.pop(name, None)
        args = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.base_url={self.base_url}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.notebooks}",
            "--ServerApp.jpserver_extensions={'jupyter_modelfiles': True}",
            f"--ModelFilesApp.root_dir={self.workdir / 'modelfiles'}",
            f"--ModelFilesApp.max_upload_size={UPLOAD_BYTES + MiB}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text()[-3000:])
            try:
                ok = httpx.get(f"{self.url}api/status", params={"token": self.token}, timeout=2)
                if ok.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"jupyter lab did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def files(self) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.url}modelfiles/v1/files",
            headers={"Authorization": f"token {self.token}"},
            params={"page_size": 100},
        )
        assert response.status_code == 200, response.text
        return list(response.json()["data"])


@pytest.fixture
def origin() -> Iterator[Origin]:
    with running_origin() as running:
        yield running


@pytest.fixture
def widget_lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


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
    widget_lab: Lab, chromium: Any, origin: Origin, tmp_path: Path
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

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{widget_lab.url}lab/tree/widgets.ipynb?token={widget_lab.token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=90_000)
    page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
    select = page.locator(".jp-Dialog button", has_text="Select")
    try:  # JupyterLab may ask which kernel to start
        select.wait_for(timeout=10_000)
        select.click()
    except Exception:
        pass
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

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
