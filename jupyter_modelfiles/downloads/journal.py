"""The durable journal of a partial download (aria2's control file, as JSON).

The data file is fsynced before a journal naming its bytes is written; the journal itself is
written to a temp file, fsynced, renamed over the old one, and the directory fsynced. After a
crash the journal therefore never claims bytes that are not on disk. In a setgid directory (the
team store) it is group-readable and group-writable whatever the umask, so a server of another
Unix user can resume from it.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..team.permissions import share_file

VERSION = 1


@dataclass
class JournalState:
    """What a restart needs to resume, and to tell whether the origin changed."""

    url: str
    size: int | None
    etag: str | None = None
    last_modified: str | None = None
    done: list[tuple[int, int]] = field(default_factory=list)
    version: int = VERSION

    def matches(self, size: int | None, etag: str | None, last_modified: str | None) -> bool:
        """The origin still serves the same bytes (same size and validators)."""
        if size is None or self.size != size:
            return False
        if self.etag or etag:
            return self.etag == etag
        if self.last_modified or last_modified:
            return self.last_modified == last_modified
        return False  # nothing proves it is the same file


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(path: Path, state: JournalState) -> None:
    data = json.dumps(asdict(state)).encode()
    temp = path.with_name(path.name + ".tmp")
    temp.unlink(missing_ok=True)  # a leftover of a crashed writer, maybe another user's
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if _setgid(path.parent):
            share_file(fd)  # the team store: a server of another user may take over from it
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    fsync_dir(path.parent)


def load(path: Path) -> JournalState | None:
    """The journal at ``path``, or None when absent or unreadable (then start clean)."""
    try:
        raw: dict[str, Any] = json.loads(path.read_bytes())
        if raw.get("version") != VERSION:
            return None
        return JournalState(
            url=str(raw["url"]),
            size=None if raw.get("size") is None else int(raw["size"]),
            etag=raw.get("etag"),
            last_modified=raw.get("last_modified"),
            done=[(int(s), int(e)) for s, e in raw.get("done", [])],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".tmp")):
        try:
            candidate.unlink()
        except FileNotFoundError:
            pass


def _setgid(directory: Path) -> bool:
    return bool(os.stat(directory).st_mode & stat.S_ISGID)
