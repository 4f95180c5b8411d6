"""Starting team mode in a server: check the settings at once, build the parts.

:func:`start_team` runs while the server starts: a shared directory this server cannot write,
or a PostgreSQL it cannot reach, is a clear error then (within seconds, the URL's password
hidden), not a hang or a failure at the first download.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..downloads.shared import SharedTransfers
from .coordinator import Coordinator
from .local import LocalCoordinator
from .store import SharedStore


def make_coordinator(store: SharedStore, coordination_url: str | None = None) -> Coordinator:
    """PostgreSQL when a URL is given, else file locks in the store's ``locks/`` (one host)."""
    if coordination_url:
        from .postgres import PostgresCoordinator  # psycopg is the [team] extra

        return PostgresCoordinator(coordination_url)
    return LocalCoordinator(store.locks_dir)


def user_name() -> str:
    """The server's user: ``JUPYTERHUB_USER`` under JupyterHub, else the OS user."""
    name = os.environ.get("JUPYTERHUB_USER")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


@dataclass
class Team:
    """What a server in team mode holds: the transfers (store + coordinator) and who it is."""

    transfers: SharedTransfers
    user: str
    holder: str
    admins: list[str] = field(default_factory=list)
    url: str | None = None

    @property
    def store(self) -> SharedStore:
        return self.transfers.store

    @property
    def is_admin(self) -> bool:
        """This server's user may delete shared files others still reference."""
        return self.user in self.admins

    def describe(self) -> str:
        coordination = "PostgreSQL" if self.url else "file locks (one host)"
        return (
            f"shared store {self.store.root}, coordination by {coordination}, "
            f"user {self.user}{' (team admin)' if self.is_admin else ''}"
        )


def check_coordinator(coordinator: Coordinator) -> None:
    """Connect once, synchronously (no event loop needed); raises ``CoordinationError``."""
    from .postgres import PostgresCoordinator

    if isinstance(coordinator, PostgresCoordinator):
        import psycopg

        try:
            with psycopg.connect(coordinator.url, **coordinator._connect_options()):
                pass
        except (psycopg.Error, OSError) as error:
            raise coordinator._unavailable(error) from None
        return
    failure: list[BaseException] = []

    def open_once() -> None:  # file locks: only directory checks, no loop-bound state
        try:
            asyncio.run(coordinator.open())
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=open_once)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def start_team(
    shared_dir: Path, coordination_url: str | None, *, holder: Path, admins: list[str]
) -> Team:
    """Check and build team mode; raises ``SharedStoreError`` / ``CoordinationError``."""
    store = SharedStore(shared_dir).ensure()
    coordinator = make_coordinator(store, coordination_url)
    check_coordinator(coordinator)
    user = user_name()
    digest = hashlib.sha256(str(Path(holder).absolute()).encode()).hexdigest()[:12]
    return Team(
        SharedTransfers(store, coordinator),
        user=user,
        holder=f"{user}-{digest}",
        admins=admins,
        url=coordination_url,
    )
