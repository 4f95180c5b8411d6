"""Loading downloaded models into memory: worker processes, loaders by format, RAM budget."""

from __future__ import annotations

from .loaders import (
    ENTRY_POINT_GROUP,
    Loader,
    LoaderRegistry,
    LoadFailed,
    UnsupportedFormat,
    load,
    registry,
)
from .manager import RuntimeManager, default_ram_budget

__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadFailed",
    "Loader",
    "LoaderRegistry",
    "RuntimeManager",
    "UnsupportedFormat",
    "default_ram_budget",
    "load",
    "registry",
]
