"""Group-shared permissions, whatever the process umask.

Every directory of the shared store is group-readable, group-writable and setgid (new entries
inherit the directory's group, so all the users of one Unix group share them); every file is
group-readable and group-writable. The "other" bits follow the umask, so an admin who wants the
store private to the group sets ``umask 007``.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it when ``/proc`` allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def dir_mode() -> int:
    return (0o777 & ~current_umask()) | 0o070 | stat.S_ISGID


def file_mode() -> int:
    return (0o666 & ~current_umask()) | 0o060


def make_shared_dir(path: Path) -> Path:
    """``mkdir -p`` where each directory we create (and ``path`` itself) is group-shared."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        os.chmod(directory, dir_mode())
    if path.is_dir() and os.stat(path).st_uid == os.geteuid():
        wanted = dir_mode()
        if stat.S_IMODE(os.stat(path).st_mode) & wanted != wanted:
            os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | wanted)
    return path


def share_file(path: Path | int) -> None:
    """Make a file we wrote group-readable and group-writable (a path or an open fd)."""
    if isinstance(path, int):
        os.fchmod(path, file_mode())
    else:
        os.chmod(path, file_mode())


def open_shared(path: Path, flags: int) -> int:
    """``os.open`` that gives a newly created file the group-shared mode."""
    fd = os.open(path, flags, 0o666)
    try:
        if os.fstat(fd).st_uid == os.geteuid():
            share_file(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd
