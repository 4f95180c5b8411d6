"""The Hugging Face Hub source: search, a repo's files with size/SHA-256, download URLs.

Blocking ``huggingface_hub`` calls run in threads; every failure becomes a clear
:mod:`jupyter_modelfiles.errors` exception (gated -> 403, unknown -> 404, offline -> 502).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from huggingface_hub import HfApi, ModelInfo, constants, get_hf_file_metadata, get_token, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from ..errors import Forbidden, NotFound, UpstreamError
from .filesets import build_file_sets
from .models import CatalogModel, FilePart

T = TypeVar("T")


UNREACHABLE_GRACE = 30.0


class HubSource:
    """Reads model repositories from a Hub endpoint (``HF_ENDPOINT`` or the given one)."""

    def __init__(
        self,
        endpoint: str | None = None,
        token: str | None = None,
        cache_ttl: float = 300.0,
        timeout: float = 15.0,
    ):
        self.timeout = timeout
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip(
            "/"
        )
        self.token = token or os.environ.get("HF_TOKEN") or get_token() or None
        self.api = HfApi(endpoint=self.endpoint, token=self.token)
        self.cache_ttl = cache_ttl
        self._cache: dict[str, tuple[float, CatalogModel]] = {}
        self._unreachable: tuple[float, str] | None = None

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def _call(self, what: str, repo_id: str | None, fn: Callable[[], T]) -> T:
        """Run a blocking Hub call off the loop, translating its failures.

        After the Hub proved unreachable, calls fail at once for ``UNREACHABLE_GRACE`` seconds
        instead of each waiting for the network to time out again (a sidebar search would
        otherwise hang for every keystroke while offline).
        """
        now = time.monotonic()
        if self._unreachable is not None and now < self._unreachable[0]:
            raise UpstreamError(
                f"{what}: {self._unreachable[1]} (retrying in {self._unreachable[0] - now:.0f} s)"
            )
        try:
            return await asyncio.to_thread(fn)
        except UpstreamError:
            raise
        except Exception as exc:
            error = self._translate(what, repo_id, exc)
            if isinstance(error, UpstreamError) and "unreachable" in error.message:
                self._unreachable = (
                    time.monotonic() + UNREACHABLE_GRACE,
                    error.message.split(": ", 1)[-1],
                )
            raise error from None

    def _translate(self, what: str, repo_id: str | None, exc: Exception) -> Exception:
        """The project's error for a failed Hub call (or ``exc`` itself if unexpected)."""
        if isinstance(exc, GatedRepoError):
            return Forbidden(
                f"{repo_id} is a gated repository: accept its terms on the Hub, then set "
                "HF_TOKEN (or ModelFilesApp.hf_token) to a token of an account with access",
                code="GATED_REPO",
            )
        if isinstance(exc, RevisionNotFoundError):
            return NotFound(f"{what}: revision not found in {repo_id}")
        if isinstance(exc, RepositoryNotFoundError):
            return NotFound(
                f"{what}: no model {repo_id!r} on {self.endpoint} (or it is private: set HF_TOKEN)"
            )
        if isinstance(exc, OfflineModeIsEnabled):
            return UpstreamError(f"{what}: the Hugging Face Hub is offline (HF_HUB_OFFLINE)")
        if isinstance(exc, HfHubHTTPError):
            return UpstreamError(f"{what}: the Hub at {self.endpoint} answered {exc}")
        transport = type(exc).__module__.startswith(("httpx", "httpcore", "httpx2"))
        if isinstance(exc, (OSError, ValueError)) or transport:
            # connection refused, DNS, timeouts, bad JSON
            return UpstreamError(f"{what}: the Hub at {self.endpoint} is unreachable: {exc}")
        return exc

    async def search(
        self, text: str | None = None, *, library: str | None = None, limit: int = 50
    ) -> list[CatalogModel]:
        """Models matching ``text`` (and a library/format tag such as ``gguf``), no files."""

        def run() -> list[Any]:
            # One request (no 5-retry backoff like ``list_models``): a listing must fail fast.
            params: list[tuple[str, Any]] = [("limit", limit)]
            if text:
                params.append(("search", text))
            if library:
                params.append(("filter", library))
            response = get_session().get(
                f"{self.endpoint}/api/models",
                params=params,
                headers=build_hf_headers(token=self.token),
                timeout=self.timeout,
            )
            hf_raise_for_status(response)
            return [ModelInfo(**{"siblings": None, **item}) for item in response.json()]

        infos = await self._call("searching the Hub", None, run)
        out = []
        for info in infos:
            cached = self._cache.get(info.id)
            if cached is not None:
                out.append(cached[1])
                continue
            out.append(
                CatalogModel(
                    id=info.id,
                    name=info.id.rsplit("/", 1)[-1],
                    source="hub",
                    repo_id=info.id,
                    provider=info.author or info.id.split("/")[0],
                    created=_iso(getattr(info, "created_at", None)),
                    format=library,
                    extra={"partial": True},
                )
            )
        return out

    async def model(self, repo_id: str, revision: str | None = None) -> CatalogModel:
        """The repo's files (size, SHA-256 from LFS metadata) at ``revision``, cached a while."""
        key = f"{repo_id}@{revision or ''}"
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.cache_ttl:
            return cached[1]
        info = await self._call(
            f"reading {repo_id}",
            repo_id,
            lambda: self.api.model_info(
                repo_id, revision=revision, files_metadata=True, timeout=self.timeout
            ),
        )
        commit = info.sha or revision or "main"
        parts = []
        for sibling in info.siblings or []:
            lfs = sibling.lfs
            parts.append(
                FilePart(
                    filename=sibling.rfilename,
                    url=hf_hub_url(
                        repo_id, sibling.rfilename, revision=commit, endpoint=self.endpoint
                    ),
                    size=(lfs.size if lfs else sibling.size),
                    sha256=(lfs.sha256 if lfs else None),
                    etag=(lfs.sha256 if lfs else sibling.blob_id),
                )
            )
        model = CatalogModel(
            id=repo_id,
            name=repo_id.rsplit("/", 1)[-1],
            source="hub",
            repo_id=repo_id,
            revision=commit,
            provider=info.author or repo_id.split("/")[0],
            created=_iso(getattr(info, "created_at", None)),
            updated=_iso(getattr(info, "last_modified", None)),
            description=f"{repo_id} on {self.endpoint}",
            files=build_file_sets(parts),
            extra={"gated": bool(getattr(info, "gated", False)), "tags": list(info.tags or [])},
        )
        self._cache[key] = (time.monotonic(), model)
        self._cache[repo_id] = (time.monotonic(), model)
        return model

    async def check_access(self, model: CatalogModel, url: str) -> None:
        """HEAD one file of a gated repo: no access -> :class:`Forbidden` before any job."""
        await self._call(
            f"checking access to {model.repo_id}",
            model.repo_id,
            lambda: get_hf_file_metadata(
                url, token=self.token or False, timeout=self.timeout, endpoint=self.endpoint
            ),
        )


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
