"""A real JupyterHub for the team-mode tests: users alice and bob, each on their own server.

PyPI ``jupyterhub`` with ``configurable-http-proxy`` from npm (``scripts/test.sh`` installs it
into ``.test-tools/``; this module does too when it is missing), the ``DummyAuthenticator``
(one shared password) and the ``SimpleLocalProcessSpawner`` (user servers are local processes
of this user, each with its own home, ``root_dir`` and Jupyter dirs). Every user server is
``jupyterhub-singleuser`` with the jupyter_modelfiles extension enabled. A service token with
admin scopes starts servers and makes user tokens through the Hub's REST API.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from .jupyter_process import REPO, free_port

USERS = ("alice", "bob")
TOOLS = REPO / ".test-tools"


def http_proxy_command() -> str:
    """``configurable-http-proxy``: from ``.test-tools``, else PATH, else installed with npm."""
    local = TOOLS / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.exists():
        return str(local)
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(TOOLS),
            "--no-audit",
            "--no-fund",
            "--silent",
            "configurable-http-proxy",
        ],
        check=True,
        timeout=600,
    )
    return str(local)


class JupyterHubProcess:
    """``jupyterhub`` in ``workdir``; ``url`` is the proxy's public URL (ends with ``/``)."""

    def __init__(
        self, workdir: Path, *, extra_config: str = "", singleuser_args: list[str] | None = None
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.admin_token = secrets.token_hex(24)
        self.extra_config = extra_config
        #: more command-line options for every user server (e.g. ``--ModelFilesApp.shared_...``)
        self.singleuser_args = singleuser_args or []
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "jupyterhub.log"
        self.started_in = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def home(self, user: str) -> Path:
        return self.workdir / "home" / user

    def config(self) -> str:
        bindir = Path(sys.executable).parent
        singleuser_args = [
            "--allow-root",
            "--ServerApp.jpserver_extensions={'jupyter_modelfiles': True}",
            f"--ModelFilesApp.root_dir={self.workdir}/home/{{username}}/modelfiles-root",
            *self.singleuser_args,
        ]
        settings: dict[str, Any] = {
            "JupyterHub.bind_url": self.url,
            "JupyterHub.hub_ip": "127.0.0.1",
            "JupyterHub.hub_port": free_port(),
            "JupyterHub.db_url": f"sqlite:///{self.workdir}/jupyterhub.sqlite",
            "JupyterHub.cookie_secret_file": str(self.workdir / "cookie_secret"),
            "JupyterHub.pid_file": str(self.workdir / "jupyterhub.pid"),
            "JupyterHub.authenticator_class": "dummy",
            "JupyterHub.spawner_class": "simple",
            "JupyterHub.cleanup_servers": True,
            "ConfigurableHTTPProxy.command": [http_proxy_command()],
            "ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{free_port()}",
            "ConfigurableHTTPProxy.pid_file": str(self.workdir / "proxy.pid"),
            "DummyAuthenticator.password": self.password,
            "Authenticator.allowed_users": list(USERS),
            "SimpleLocalProcessSpawner.home_dir_template": f"{self.workdir}/home/{{username}}",
            "Spawner.cmd": [str(bindir / "jupyterhub-singleuser")],
            "Spawner.args": singleuser_args,
            "Spawner.default_url": "/lab",
            "Spawner.start_timeout": 120,
            "Spawner.http_timeout": 120,
            "Spawner.environment": {
                "JUPYTER_CONFIG_DIR": f"{self.workdir}/home/{{username}}/.jupyter",
                "JUPYTER_RUNTIME_DIR": f"{self.workdir}/home/{{username}}/.runtime",
                "JUPYTER_DATA_DIR": f"{self.workdir}/home/{{username}}/.data",
                "PYTHONPATH": str(REPO),
            },
        }
        lines = [f"c.{name} = {value!r}" for name, value in settings.items()]
        # JupyterHub does not expand {username} in Spawner.args / environment: do it per spawn
        lines.append(
            "def _per_user(spawner):\n"
            "    name = spawner.user.name\n"
            "    spawner.args = [a.replace('{username}', name) for a in spawner.args]\n"
            "    spawner.environment = {\n"
            "        k: v.replace('{username}', name) if isinstance(v, str) else v\n"
            "        for k, v in spawner.environment.items()\n"
            "    }\n"
            "c.Spawner.pre_spawn_hook = _per_user"
        )
        lines.append(
            "c.JupyterHub.services = "
            + repr([{"name": "test-admin", "api_token": self.admin_token}])
        )
        lines.append(
            "c.JupyterHub.load_roles = "
            + repr(
                [
                    {
                        "name": "test-admin",
                        "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"],
                        "services": ["test-admin"],
                    }
                ]
            )
        )
        return "\n".join([*lines, self.extra_config, ""])

    def start(self, timeout: float = 90) -> None:
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for user in USERS:
            self.home(user).mkdir(parents=True, exist_ok=True)
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(self.config())
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("JUPYTERHUB_", "JUPYTER_MODELFILES_", "JPY_"))
        }
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=self.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyterhub exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}hub/api/", timeout=2).status_code == 200:
                    self.started_in = time.monotonic() - began
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"jupyterhub did not start: {self.log_tail()}")

    def log_tail(self, size: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-size:] if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM to the Hub's process group (hub, proxy, user servers); SIGKILL if stuck."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with_pids = [self.workdir / "proxy.pid"]
        for pid_file in with_pids:
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        self.process = None

    # -- the Hub's REST API, as an admin service ---------------------------------------------

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}hub/api/",
            headers={"Authorization": f"token {self.admin_token}"},
            timeout=30,
        )

    def start_server(self, user: str, timeout: float = 120) -> float:
        """Start ``user``'s server and wait until the Hub says it is ready; returns seconds."""
        began = time.monotonic()
        with self.api() as api:
            response = api.post(f"users/{user}/server")
            if response.status_code not in (201, 202, 400):  # 400: already running
                raise RuntimeError(f"cannot start {user}'s server: {response.text}")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                model = api.get(f"users/{user}").json()
                server = model.get("servers", {}).get("", {})
                if server.get("ready"):
                    return time.monotonic() - began
                if not server and model.get("pending") is None and time.monotonic() - began > 5:
                    raise RuntimeError(f"{user}'s server stopped: {self.log_tail()}")
                time.sleep(0.25)
        raise RuntimeError(f"{user}'s server did not become ready: {self.log_tail()}")

    def user_token(self, user: str) -> str:
        with self.api() as api:
            response = api.post(f"users/{user}/tokens", json={"note": "modelfiles tests"})
            response.raise_for_status()
            return str(response.json()["token"])

    def login(self, user: str) -> httpx.Client:
        """A browser-like session (cookies) logged in through the proxy's login form."""
        client = httpx.Client(base_url=self.url, follow_redirects=True, timeout=60)
        client.get("hub/login")
        xsrf = client.cookies.get("_xsrf", "")
        response = client.post(
            "hub/login?next=",
            data={"username": user, "password": self.password, "_xsrf": xsrf},
            follow_redirects=False,
        )
        if response.status_code != 302:
            raise RuntimeError(f"login of {user} failed: {response.status_code} {response.text}")
        return client
