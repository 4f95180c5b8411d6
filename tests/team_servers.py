"""Real Jupyter servers in team mode: each its own root_dir, one shared directory.

Used by tests/test_team_servers.py and benchmarks/bench_team.py.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .jupyter_process import JupyterServerProcess


class TeamServer(JupyterServerProcess):
    """A ``jupyter server`` with ``shared_cache_dir`` (+ ``coordination_url``) set."""

    def __init__(
        self,
        workdir: Path,
        shared: Path,
        coordination_url: str | None = None,
        *,
        user: str | None = None,
        extra_args: Iterable[str] = (),
    ):
        args = [f"--ModelFilesApp.shared_cache_dir={shared}"]
        if coordination_url:
            args.append(f"--ModelFilesApp.coordination_url={coordination_url}")
        super().__init__(workdir, extra_args=[*args, *extra_args])
        self.shared = shared
        self.user = user or workdir.name

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "JUPYTERHUB_USER": self.user}

    # -- the API, as a user of this server would call it ------------------------------------
    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        with self.client() as client:
            response = client.request(method, path, **kwargs)
        assert response.status_code < 400, f"{method} {path}: {response.text}"
        return response.json()

    def register(self, model_id: str, files: list[dict[str, Any]]) -> Any:
        return self.call("POST", "models", json={"id": model_id, "name": model_id, "files": files})

    def download(self, model_id: str) -> Any:
        return self.call("POST", f"models/{quote(model_id, safe='')}/download", json={})

    def jobs(self, model_id: str) -> list[dict[str, Any]]:
        snapshot = self.call("GET", f"models/{quote(model_id, safe='')}")
        return list(snapshot["jobs"])

    def downloaded(self, model_id: str) -> bool:
        return bool(self.call("GET", f"models/{quote(model_id, safe='')}")["downloaded"])

    def link(self, model_id: str, filename: str) -> Path:
        """Where this user's copy of a non-Hub model file is linked."""
        return self.root / "models" / model_id.replace("/", "--") / filename


def start_all(servers: list[TeamServer]) -> None:
    """Start the servers at the same time (each start takes seconds on a busy machine)."""
    parallel([server.start for server in servers])


def parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
