"""Where model definitions come from: custom registrations, manifests, the Hub, last known.

A model id resolves in that order; a Hub-shaped id (``org/name``) the Hub cannot answer for
falls back to the definition remembered when its files were downloaded (offline use).
Manifests are re-read when older than ``manifest_ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import re
import time

from ..errors import InvalidRequest, ModelFilesError, NotFound, UpstreamError
from .hub import HubSource
from .localstate import LocalState
from .manifest import load_manifest
from .models import CatalogModel

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


class Sources:
    """Resolves model ids across the sources; caches the manifests' models."""

    def __init__(
        self, state: LocalState, hub: HubSource, manifests: list[str], manifest_ttl: float
    ):
        self.state = state
        self.hub = hub
        self.manifests = manifests
        self.manifest_ttl = manifest_ttl
        self._models: dict[str, CatalogModel] = {}
        self._warnings: list[str] = []
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def manifest_models(self) -> dict[str, CatalogModel]:
        """The manifests' models by id (the first manifest listing an id wins)."""
        await self._load_manifests()
        return self._models

    async def manifest_warnings(self) -> list[str]:
        """Why manifests could not be read (unreachable, not JSON or YAML...)."""
        await self._load_manifests()
        return list(self._warnings)

    async def _load_manifests(self) -> None:
        async with self._lock:
            if self._loaded_at is not None and time.monotonic() - self._loaded_at < (
                self.manifest_ttl
            ):
                return
            models: dict[str, CatalogModel] = {}
            warnings: list[str] = []
            for location in self.manifests:
                try:
                    for model in await load_manifest(location):
                        models.setdefault(model.id, model)
                except ModelFilesError as exc:
                    warnings.append(exc.message)
            self._models = models
            self._warnings = warnings
            self._loaded_at = time.monotonic()

    async def get(self, model_id: str) -> CatalogModel:
        """Resolve ``model_id``: custom, then manifests, then the Hub (offline: last known)."""
        if not model_id or len(model_id) > 512:
            raise InvalidRequest("model id must be 1-512 characters")
        custom = await self.state.custom(model_id)
        if custom is not None:
            return custom
        manifest = await self.manifest_models()
        if model_id in manifest:
            return manifest[model_id]
        if _HUB_ID.match(model_id):
            try:
                return await self.hub.model(model_id)
            except (UpstreamError, NotFound) as exc:
                known = await self.state.known(model_id)
                if known is not None:
                    return known
                if isinstance(exc, UpstreamError):
                    # no catalog has it and the Hub cannot say: unknown, and say why
                    raise NotFound(
                        f"no model {model_id!r} in the catalog, and the Hugging Face Hub "
                        f"could not be asked ({exc.message})"
                    ) from None
                raise
        known = await self.state.known(model_id)
        if known is not None:
            return known
        raise NotFound(f"no model {model_id!r} in the catalog")
