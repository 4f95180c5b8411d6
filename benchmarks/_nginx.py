"""A throwaway nginx serving one directory on a free loopback port (for download benchmarks)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CONFIG = """
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
        location /slow/ {{
            alias {root}/;
            limit_rate {limit_rate};
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


INSTALL_HINT = "apt-get install -y nginx aria2 (Debian/Ubuntu; brew install nginx aria2 on macOS)"


class Nginx:
    """nginx on loopback: ``url(name)`` at full speed, ``url(name, slow=True)`` limited per
    connection to ``limit_rate`` (nginx units: ``50m`` is 50 MiB/s), like a CDN edge."""

    def __init__(self, root: Path, limit_rate: str = "50m"):
        self.root = root
        self.limit_rate = limit_rate
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, name: str, *, slow: bool = False) -> str:
        prefix = "slow/" if slow else ""
        return f"http://127.0.0.1:{self.port}/{prefix}{name}"

    def start(self) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise RuntimeError(f"nginx is missing: {INSTALL_HINT}")
        conf = self.tmp / "nginx.conf"
        conf.write_text(
            CONFIG.format(tmp=self.tmp, port=self.port, root=self.root, limit_rate=self.limit_rate)
        )
        self.process = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(self.tmp), "-g", "daemon off;"]
        )
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError((self.tmp / "error.log").read_text())

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)


def make_file(path: Path, size: int) -> None:
    """Random bytes (not compressible, not all zeros), written once and reused."""
    if path.exists() and path.stat().st_size == size:
        return
    chunk = 64 << 20
    with open(path, "wb") as out:
        left = size
        while left:
            n = min(chunk, left)
            out.write(os.urandom(n))
            left -= n
