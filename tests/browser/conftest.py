"""Browser fixtures: a real ``jupyter lab`` with the built extension, driven by Debian's chromium.

The lab server runs as a subprocess with token auth, a base_url, its state in tmp, the
modelfiles server extension enabled and the built labextension (``jupyter_modelfiles/labextension``)
made discoverable through ``JUPYTER_PATH``. If the labextension is not built yet, it is built
once with npm (``labextension/``: ``npm ci`` then ``npm run build``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..jupyter_process import REPO, JupyterServerProcess

BUILT = REPO / "jupyter_modelfiles" / "labextension"
CHROMIUM = os.environ.get("MODELFILES_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "docs" / "screenshots"


def _ensure_built() -> None:
    if (BUILT / "package.json").exists() and (BUILT / "static" / "style.js").exists():
        return
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    source = REPO / "labextension"
    if not (source / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=source, env=env, check=True)
    subprocess.run(["npm", "run", "build"], cwd=source, env=env, check=True)


class LabProcess(JupyterServerProcess):
    """``python -m jupyterlab`` with the built extension and everything under ``workdir``."""

    module = "jupyterlab"
    log_name = "jupyter-lab.log"
    default_base_url = "/lab%40base/"

    def environment(self) -> dict[str, str]:
        data = self.workdir / "data"
        extensions = data / "labextensions"
        extensions.mkdir(parents=True, exist_ok=True)
        link = extensions / "jupyter-modelfiles"
        if not link.exists():
            link.symlink_to(BUILT, target_is_directory=True)
        config = self.workdir / "config"
        (config / "labconfig").mkdir(parents=True, exist_ok=True)
        # No news/update toasts over the panel in screenshots.
        disabled = {"@jupyterlab/apputils-extension:announcements": True}
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": disabled})
        )
        return {
            **super().environment(),
            "JUPYTER_PATH": str(data),
            "JUPYTERLAB_SETTINGS_DIR": str(self.workdir / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.workdir / "workspaces"),
        }

    def arguments(self) -> list[str]:
        return [
            *super().arguments(),
            "--LabApp.news_url=None",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]


@pytest.fixture
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """Override pytest-jupyter's autouse loop: Playwright's sync API owns the thread's loop."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def jp_server_cleanup() -> Iterator[None]:
    """No in-process ServerApp here (the lab runs in a subprocess): nothing to clean."""
    yield


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    _ensure_built()
    process = LabProcess(tmp_path_factory.mktemp("lab"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any, lab: LabProcess) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{lab.url}lab?token={lab.token}")
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    page.evaluate("() => window.jupyterapp.restored.then(() => true)")
    try:
        yield page
    finally:
        context.close()
    assert not [e for e in errors if "modelfiles" in e.lower()], errors


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """``docs/screenshots/NAME`` when MODELFILES_UPDATE_SCREENSHOTS=1, else under tmp."""
    if os.environ.get("MODELFILES_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS / name
    return tmp_path / name


def run_notebook(page: Any, lab: LabProcess, name: str) -> None:
    """Open ``name`` (under the lab's root) in the page, start its kernel, run all its cells."""
    page.goto(f"{lab.url}lab/tree/{name}?token={lab.token}")
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


def open_panel(page: Any) -> Any:
    """Click the sidebar tab (unless the restored layout already shows it); return the panel."""
    panel = page.locator("#jp-modelfiles-sidebar")
    tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="jp-modelfiles-sidebar"]')
    tab.wait_for()
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    panel.wait_for(state="visible")
    return panel


@contextlib.contextmanager
def first_slice_reset(page: Any) -> Iterator[list[str]]:
    """While inside: the page's first ``PUT .../slices`` request is reset before it reaches the
    server (a network failure as the browser sees it), the others go through. Yields the URLs
    of the slice requests seen."""
    seen: list[str] = []
    pattern = re.compile(r".*/modelfiles/v1/uploads/[^/?]+/slices\?.*")

    def flaky(route: Any) -> None:
        seen.append(route.request.url)
        if len(seen) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(pattern, flaky)
    try:
        yield seen
    finally:
        page.unroute(pattern)
