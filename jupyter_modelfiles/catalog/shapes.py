"""Response shapes of the catalog: pure functions from models, file states and jobs.

Pieces ``Model`` (the snapshot), Anaconda ``ModelFile``, ``DownloadStatus`` and ``Download``.
Nothing here reads the disk, the database or the network: the caller gathers the state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..downloads.jobs import LIVE, RUNNING, Job
from ..formatting import bytes_descriptor
from .models import CatalogModel, ModelFileSet
from .parsing import recommended
from .ram import max_ram_usage

#: Job statuses that still hold a download (it can progress or resume).
ACTIVE = LIVE


@dataclass
class FileState:
    """Local and download state of one logical file."""

    local_paths: list[Path | None]
    jobs: list[Job]

    @property
    def downloaded(self) -> bool:
        return bool(self.local_paths) and all(p is not None for p in self.local_paths)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _timestamp(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def model_type(quant: str | None) -> str:
    """Pieces' ``type`` of a quantization: SPEED, BALANCED, ACCURACY or UNKNOWN."""
    q = (quant or "").upper()
    if not q:
        return "UNKNOWN"
    if q.startswith(("Q2", "Q3", "IQ1", "IQ2", "IQ3", "TQ")):
        return "SPEED"
    if q.startswith(("Q4", "Q5", "IQ4")):
        return "BALANCED"
    if q.startswith(("Q6", "Q8", "F16", "BF16", "F32", "F64")):
        return "ACCURACY"
    return "UNKNOWN"


def anaconda_download(
    jobs: Sequence[Job],
    *,
    file_id: str,
    model_id: str,
    filename: str,
    size: int | None = None,
) -> dict[str, Any]:
    """Anaconda ``Download`` of one logical file from the jobs of its parts (summed).

    ``downloadTimeTaken`` is the time the jobs spent downloading (``Job.active_seconds``,
    pauses and restarts excluded), summed over the parts; ``size`` is the total when the jobs
    do not know it yet.
    """
    transferred = sum(int(j.downloaded_bytes or 0) for j in jobs)
    total = sum(int(j.total_size_bytes or 0) for j in jobs) or int(size or 0)
    seconds = sum(j.active_seconds for j in jobs)
    return {
        "fileId": file_id,
        "modelId": model_id,
        "filename": filename,
        "downloadedRatio": min(1.0, transferred / total) if total else 0.0,
        "transferredBytes": transferred,
        "totalBytes": total,
        "paused": any(j.status == "paused" for j in jobs)
        and not any(j.status in RUNNING for j in jobs),
        "downloadTimeTaken": round(seconds * 1000),
        "averageMbps": round(transferred * 8 / 1e6 / seconds, 3) if seconds > 0 else 0.0,
    }


def download_status(model: CatalogModel, entry: ModelFileSet, state: FileState) -> dict[str, Any]:
    """Anaconda ``DownloadStatus`` of a logical file (the newest job of each part counts)."""
    latest: dict[str | None, Job] = {}
    for job in state.jobs:
        prev = latest.get(job.file)
        if prev is None or _timestamp(job.started_at) >= _timestamp(prev.started_at):
            latest[job.file] = job
    jobs = list(latest.values())
    statuses = {j.status for j in jobs}
    if state.downloaded:
        status = "completed"
    elif statuses & set(RUNNING):
        status = "in_progress"
    elif "paused" in statuses:
        status = "paused"
    else:
        status = "not_started"
    out: dict[str, Any] = {"status": status}
    # not_started (never started, cancelled, failed) has no progress: a cancelled download
    # starts again from nothing
    if jobs and (status in ("in_progress", "paused") or any(j.status == "completed" for j in jobs)):
        out["progress"] = anaconda_download(
            jobs, file_id=entry.id, model_id=model.id, filename=entry.name, size=entry.size
        )
    if state.downloaded and state.local_paths[0] is not None:
        out["localPath"] = str(state.local_paths[0])
    return out


def model_file(model: CatalogModel, entry: ModelFileSet, state: FileState) -> dict[str, Any]:
    """The Anaconda ``ModelFile`` object."""
    ram = entry.max_ram_usage or max_ram_usage(entry.size)
    return {
        "id": entry.id,
        "name": entry.name,
        "downloadUrl": entry.url,
        "sizeBytes": entry.size,
        "sha256checksum": entry.sha256 or "",
        "quantization": entry.quantization or "unknown",
        "format": entry.format,
        "isDownloaded": state.downloaded,
        "maxRamUsage": ram,
        "downloadStatus": download_status(model, entry, state),
    }


def recommended_file(model: CatalogModel) -> ModelFileSet:
    """The model's recommended file (its own choice, else by quantization); needs files."""
    return (
        model.file(model.recommended or "")
        or model.files[recommended([s.quantization for s in model.files])]
    )


def snapshot(
    model: CatalogModel,
    states: Mapping[str, FileState],
    jobs: Sequence[Job],
    runtime: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Pieces ``Model`` fields plus ours; ``runtime`` is the runtime's info of the model
    when it is loaded (``loaded``, ``loaded_rss_bytes``, ``load_time_ms``...)."""
    runtime = runtime or {}
    files = [model_file(model, e, states[e.id]) for e in model.files]
    local_sets = [e for e in model.files if states[e.id].downloaded]
    focus = None
    if local_sets:
        focus = local_sets[0]
    elif model.files:
        focus = recommended_file(model)
    created = model.created or now_iso()
    try:
        created_dt = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        created_dt = datetime.now(timezone.utc)
    size = focus.size if focus else 0
    ram = (focus.max_ram_usage or max_ram_usage(size)) if focus else 0
    quant = focus.quantization if focus else None
    return {
        "id": model.id,
        "name": model.name,
        "version": model.revision or "1",
        "created": {
            "value": created_dt.isoformat().replace("+00:00", "Z"),
            "readable": created_dt.strftime("%Y-%m-%d %H:%M UTC"),
        },
        "description": model.description,
        "cloud": False,
        "cpu": True,
        "custom": model.custom,
        "downloaded": bool(local_sets),
        "downloading": any(j.status in RUNNING for j in jobs),
        "loaded": bool(runtime.get("loaded", False)),
        "quantization": quant,
        "parameters": model.parameters,
        "ram": bytes_descriptor(ram),
        "bytes": bytes_descriptor(size),
        "foundation": "UNKNOWN",
        "provider": "HUGGING_FACE" if model.source == "hub" else "UNKNOWN",
        "type": model_type(quant),
        "usage": "UNKNOWN",
        "unique": model.id,
        "source": model.source,
        "format": model.format or (focus.format if focus else None),
        "architecture": model.architecture,
        "context_length": model.context_length,
        "organization_name": model.provider,
        "revision": model.revision,
        "recommended_file": model.recommended,
        "files": files,
        "jobs": [j.to_status() for j in jobs],
        "loaded_rss_bytes": int(runtime.get("loaded_rss_bytes") or 0),
        "load_time_ms": runtime.get("load_time_ms"),
    }
