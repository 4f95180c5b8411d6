"""A real ``jupyter server`` subprocess with the extension, token auth and a base_url."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JupyterServerProcess:
    """Start, stop, kill and restart a server whose state lives in ``workdir``."""

    module = "jupyter_server"
    log_name = "jupyter-server.log"
    default_base_url = "/a%40b/"

    def __init__(
        self, workdir: Path, *, base_url: str | None = None, extra_args: list[str] | None = None
    ):
        self.workdir = workdir
        self.root = workdir / "modelfiles-root"
        self.base_url = base_url or self.default_base_url
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.extra_args = extra_args or []
        self.wrapper: list[str] = []  # a command the server runs under (e.g. ``unshare``)
        self.host = "127.0.0.1"  # the address it listens on (another one in a network namespace)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / self.log_name

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.base_url}"

    @property
    def api_url(self) -> str:
        return f"{self.url}modelfiles/v1"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def environment(self) -> dict[str, str]:
        inherited = {
            key: value
            for key, value in os.environ.items()
            # a child server must not think it runs inside another server's kernel
            if key not in ("JUPYTER_MODELFILES_URL", "JUPYTER_MODELFILES_TOKEN", "JPY_PARENT_PID")
        }
        return {
            **inherited,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
            "JUPYTER_CONFIG_DIR": str(self.workdir / "config"),
        }

    def arguments(self) -> list[str]:
        return [
            "--no-browser",
            "--allow-root",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.ip={self.host}",
            f"--ServerApp.base_url={self.base_url}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.workdir / 'notebooks'}",
            "--ServerApp.jpserver_extensions={'jupyter_modelfiles': True}",
            f"--ModelFilesApp.root_dir={self.root}",
        ]

    def start(self, timeout: float = 90) -> None:
        (self.workdir / "notebooks").mkdir(parents=True, exist_ok=True)
        args = [
            *self.wrapper,
            sys.executable,
            "-m",
            self.module,
            *self.arguments(),
            *self.extra_args,
        ]
        env = self.environment()
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited: {self.log_path.read_text()[-3000:]}")
            try:
                response = httpx.get(f"{self.url}api/status", headers=self.headers, timeout=2)
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.module} did not start: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """``kill -9``: no clean-up of any kind."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url + "/", headers=self.headers, timeout=30)

    api = client
