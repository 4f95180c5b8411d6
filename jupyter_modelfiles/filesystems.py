"""What kind of file system holds a path (from ``/proc/self/mountinfo``)."""

from __future__ import annotations

import os
from pathlib import Path

#: file systems kept in memory: no device behind them, so no extents to reserve and no
#: direct I/O (``O_DIRECT`` there is accepted and copies through the page cache anyway).
MEMORY_FILESYSTEMS = {"tmpfs", "ramfs"}


def filesystem_type(path: Path | str) -> str | None:
    """The type of the filesystem holding ``path``; None where it cannot be told."""
    target = os.path.realpath(path)
    best, best_type = "", None
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        mount_point = fields[4].replace("\\040", " ")
        fs_type = line.split(" - ", 1)[1].split()[0]
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, fs_type
    return best_type


def in_memory(path: Path | str) -> bool:
    """True when ``path`` is on tmpfs or ramfs."""
    return filesystem_type(path) in MEMORY_FILESYSTEMS
