"""A throwaway PostgreSQL cluster from Debian's ``postgresql`` package, for the team-mode tests.

``initdb`` (once per machine, then a copy of its result) + ``pg_ctl`` in a fresh temporary
directory, on a free TCP port of 127.0.0.1 and a Unix socket in that directory; no fsync
(nothing here must survive a crash of the machine).
``initdb`` refuses to run as root, so under root the cluster runs as an unprivileged system user
(``postgres`` when the package created it, else ``modelfiles-pg``, made with ``useradd``).

The superuser is ``modelfiles`` with a password: local (Unix socket) connections are trusted,
TCP connections must give the password, as a real deployment would.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .jupyter_process import free_port

SUPERUSER = "modelfiles"
FALLBACK_OS_USER = "modelfiles-pg"


def postgres_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` (Debian keeps initdb off PATH)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name.split(".")[0]),
    )
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise RuntimeError(
        "PostgreSQL is not installed: `apt-get install postgresql` (scripts/test.sh does it)"
    )


def cluster_os_user() -> pwd.struct_passwd | None:
    """The user the cluster runs as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", FALLBACK_OS_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK_OS_USER,
        ],
        check=True,
    )
    return pwd.getpwnam(FALLBACK_OS_USER)


def run_as(
    user: pwd.struct_passwd | None, args: list[str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program as the cluster's user (``None``: ourselves)."""
    return subprocess.run(
        args,
        check=True,
        capture_output=True,
        text=True,
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        extra_groups=[] if user else None,
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"},
    )


def template_data_dir(bindir: Path, user: pwd.struct_passwd | None) -> Path:
    """An ``initdb``-made data directory, made once per machine and PostgreSQL version.

    ``initdb`` is most of a cluster's start-up time (about 1.5 s); a copy takes 0.1 s. Built
    in a temporary directory and renamed into place, so concurrent test runs cannot clash.
    """
    uid = user.pw_uid if user else os.geteuid()
    cache = Path(tempfile.gettempdir()) / f"modelfiles-pg-template-{bindir.parent.name}-{uid}"
    template = cache / "data"
    if (template / "PG_VERSION").exists():
        return template
    building = Path(tempfile.mkdtemp(prefix="modelfiles-pg-initdb-"))
    if user:
        os.chown(building, user.pw_uid, user.pw_gid)
    pwfile = building / "pwfile"
    pwfile.write_text(secrets.token_urlsafe(12) + "\n")
    if user:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    run_as(
        user,
        [
            str(bindir / "initdb"),
            "--pgdata",
            str(building / "data"),
            "--username",
            SUPERUSER,
            "--pwfile",
            str(pwfile),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        ],
        building,
    )
    pwfile.unlink()
    try:
        os.rename(building, cache)
    except OSError:  # another run made it first
        shutil.rmtree(building, ignore_errors=True)
    return template


@dataclass
class PostgresCluster:
    """One running cluster; ``url()`` gives a connection URL to a database in it."""

    directory: Path
    port: int
    password: str
    bindir: Path
    os_user: pwd.struct_passwd | None
    started_in: float = 0.0
    #: the addresses it listens on, and extra ``pg_hba.conf`` lines (clients in a network
    #: namespace reach it on the host side of a veth pair)
    listen: tuple[str, ...] = ("127.0.0.1",)
    hba: tuple[str, ...] = ()

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory

    @property
    def log_path(self) -> Path:
        return self.directory / "postgres.log"

    def url(self, database: str = "postgres", *, tcp: bool = True) -> str:
        """``postgresql://modelfiles:PASSWORD@127.0.0.1:PORT/db`` (or via the Unix socket)."""
        if tcp:
            return (
                f"postgresql://{SUPERUSER}:{quote(self.password, safe='')}@127.0.0.1:"
                f"{self.port}/{database}"
            )
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql://{SUPERUSER}@{host}:{self.port}/{database}"

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return run_as(self.os_user, args, self.directory)

    def start(self) -> None:
        """A data directory copied from the cached template (initdb once), then the server."""
        began = time.monotonic()
        template = template_data_dir(self.bindir, self.os_user)
        self._run(["cp", "-a", str(template), str(self.data_dir)])
        if self.hba:
            with open(self.data_dir / "pg_hba.conf", "a") as hba:  # keeps the cluster's owner
                hba.write("".join(f"{line}\n" for line in self.hba))
        self.start_server()
        self.psql(f"ALTER ROLE {SUPERUSER} PASSWORD '{self.password}'")
        self.started_in = time.monotonic() - began

    def start_server(self) -> None:
        """``pg_ctl start`` on the existing data directory (after ``stop``, a restart)."""
        options = " ".join(
            [
                f"-c port={self.port}",
                f"-c listen_addresses={','.join(self.listen)}",
                f"-c unix_socket_directories={self.socket_dir}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c shared_buffers=16MB",
                "-c max_connections=60",
            ]
        )
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "--pgdata",
                str(self.data_dir),
                "--log",
                str(self.log_path),
                "--options",
                options,
                "--wait",
                "--timeout=30",
                "start",
            ]
        )

    def stop(self, mode: str = "immediate") -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        self._run([str(self.bindir / "pg_ctl"), "--pgdata", str(self.data_dir), "-m", mode, "stop"])

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the Unix socket; returns psql's unaligned output."""
        try:
            result = self._psql(sql, database)
        except subprocess.CalledProcessError as error:
            raise RuntimeError(f"psql failed: {error.stderr.strip()}\n{sql}") from None
        return result.stdout.strip()

    def _psql(self, sql: str, database: str) -> subprocess.CompletedProcess[str]:
        return self._run(
            [
                str(self.bindir / "psql"),
                "--no-psqlrc",
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-c",
                sql,
            ]
        )

    def create_database(self, name: str | None = None) -> str:
        """A fresh, empty database; returns its name."""
        import psycopg

        name = name or f"test_{secrets.token_hex(6)}"
        with psycopg.connect(self.url(tcp=False), autocommit=True) as conn:
            # FILE_COPY (PostgreSQL 15+) copies the template's files: 0.1 s instead of ~0.8 s
            major = conn.info.server_version // 10000
            strategy = " STRATEGY FILE_COPY" if major >= 15 else ""
            conn.execute(f'CREATE DATABASE "{name}"{strategy}')
        return name


def start_cluster(
    listen: tuple[str, ...] = ("127.0.0.1",), hba: tuple[str, ...] = ()
) -> PostgresCluster:
    """Start a cluster in a new temporary directory (outside pytest's root-only tmp dirs);
    ``listen`` and ``hba``: see :class:`PostgresCluster`."""
    directory = Path(tempfile.mkdtemp(prefix="modelfiles-pg-"))
    os_user = cluster_os_user()
    if os_user:
        os.chown(directory, os_user.pw_uid, os_user.pw_gid)
    cluster = PostgresCluster(
        directory=directory,
        port=free_port(),
        password=secrets.token_urlsafe(12),
        bindir=postgres_bindir(),
        os_user=os_user,
        listen=listen,
        hba=hba,
    )
    try:
        cluster.start()
    except subprocess.CalledProcessError as error:
        log = cluster.log_path.read_text() if cluster.log_path.exists() else ""
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(
            f"PostgreSQL did not start: {error.stderr}\n{error.stdout}\n{log[-3000:]}"
        ) from error
    return cluster


def remove_cluster(cluster: PostgresCluster) -> None:
    try:
        cluster.stop()
    finally:
        shutil.rmtree(cluster.directory, ignore_errors=True)
