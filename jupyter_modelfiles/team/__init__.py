"""Team mode: one shared model store for several servers (JupyterHub), one transfer per file.

No Tornado, no jupyter_server here. The parts:

- :mod:`.keys`: the content key of a file (SHA-256, else final URL + strong ETag + size).
- :mod:`.store`: the shared directory's layout and publishing (group-shared permissions).
- :mod:`.coordinator`: who transfers what (:class:`Coordinator`, :class:`Claim`), with
  :mod:`.postgres` (PostgreSQL, across hosts) and :mod:`.local` (file locks, one host).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .coordinator import (
        STATUSES,
        Claim,
        CoordinationError,
        CoordinationUnavailable,
        Coordinator,
        TransferRecord,
    )
    from .keys import ContentKey, NoContentKey, content_key
    from .local import LocalCoordinator
    from .store import SharedStore, SharedStoreError

__all__ = [
    "STATUSES",
    "Claim",
    "ContentKey",
    "CoordinationError",
    "CoordinationUnavailable",
    "Coordinator",
    "LocalCoordinator",
    "NoContentKey",
    "SharedStore",
    "SharedStoreError",
    "TransferRecord",
    "content_key",
    "make_coordinator",
]

_HOMES = {
    "STATUSES": "coordinator",
    "Claim": "coordinator",
    "CoordinationError": "coordinator",
    "CoordinationUnavailable": "coordinator",
    "Coordinator": "coordinator",
    "TransferRecord": "coordinator",
    "ContentKey": "keys",
    "NoContentKey": "keys",
    "content_key": "keys",
    "LocalCoordinator": "local",
    "SharedStore": "store",
    "SharedStoreError": "store",
    "make_coordinator": "setup",
}

__getattr__ = lazy_names(__name__, _HOMES)
