"""One engine run described as JSON: what crosses the pipe to a download worker process.

Kept free of the manager and of asyncio so the worker imports little (its start-up is part of
every download's latency). :func:`engine_from_spec` is used on both sides of the seam: by the
worker process and by :class:`~.runner.ThreadRunner`, so a field that does not survive JSON
fails in every test, not only in the process runner's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from .destinations import DestinationPolicy
from .engine import DownloadResult, EngineConfig, FileDownload, ProgressCallback


def config_to_json(config: EngineConfig) -> dict[str, Any]:
    """``config`` as JSON; the destination policy as its lists (server port resolved now)."""
    data = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    policy = data.pop("policy")
    data["policy"] = policy.to_json() if policy is not None else None
    return data


def config_from_json(data: dict[str, Any]) -> EngineConfig:
    known = {f.name for f in dataclasses.fields(EngineConfig)}
    values = {k: v for k, v in data.items() if k in known and k != "policy"}
    policy = data.get("policy")
    return EngineConfig(
        **values, policy=DestinationPolicy.from_json(policy) if policy is not None else None
    )


def engine_spec(
    *,
    url: str,
    dest: Path,
    partial: Path,
    journal: Path,
    sha256: str | None,
    size: int | None,
    headers: dict[str, str],
    config: EngineConfig,
) -> dict[str, Any]:
    """The JSON description of one :class:`FileDownload`."""
    return {
        "url": url,
        "dest": str(dest),
        "partial": str(partial),
        "journal": str(journal),
        "sha256": sha256,
        "size": size,
        "headers": dict(headers),
        "config": config_to_json(config),
    }


def engine_from_spec(
    spec: dict[str, Any], on_progress: ProgressCallback | None = None
) -> FileDownload:
    return FileDownload(
        spec["url"],
        Path(spec["dest"]),
        Path(spec["partial"]),
        Path(spec["journal"]),
        sha256=spec.get("sha256"),
        size=spec.get("size"),
        headers=spec.get("headers") or {},
        config=config_from_json(spec["config"]),
        on_progress=on_progress,
    )


def result_to_json(result: DownloadResult) -> dict[str, Any]:
    return {"path": str(result.path), "size": result.size, "sha256": result.sha256}


def result_from_json(data: dict[str, Any]) -> DownloadResult:
    return DownloadResult(Path(data["path"]), int(data["size"]), data["sha256"])
