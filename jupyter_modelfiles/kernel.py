"""``jupyter_modelfiles.open()``: a model's file, downloaded if needed, loaded in this kernel.

The same loaders as the server's workers: a GGUF file gives a :class:`gguf.GGUFReader` (its
tensors copied into RAM), safetensors a ``dict`` of numpy arrays, ONNX an
``onnxruntime.InferenceSession``. The download goes through the Jupyter server's REST API
(:class:`jupyter_modelfiles.client.ModelFilesClient`), with a progress bar.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from .errors import Conflict, NotFound
from .runtime.loaders import load, registry

LOADABLE_SUFFIXES = (".gguf", ".safetensors", ".onnx")
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


def open(
    model_id: str | os.PathLike[str],
    file: str | None = None,
    *,
    fmt: str | None = None,
    client: Any = None,
    progress: bool = True,
    timeout: float | None = None,
) -> Any:
    """Return the in-kernel object of ``model_id`` (or of a local model file path).

    ``file`` picks one of the model's files (its id or name); by default the first GGUF,
    safetensors or ONNX file. Not downloaded yet: the download is started on the server and
    waited for (``timeout`` seconds at most), with a progress bar when ``progress``.
    """
    local = Path(os.fspath(model_id)).expanduser()
    if local.is_file():
        return load(fmt, _with_split_parts(local))
    if client is None:
        from .client import ModelFilesClient

        client = ModelFilesClient.discover()
    model_id = os.fspath(model_id)
    chosen = _choose_file(client.model_files(model_id), model_id, file)
    path = _local_path(chosen)
    if path is None:
        _download(client, model_id, chosen, progress=progress, timeout=timeout)
        refreshed = _choose_file(client.model_files(model_id), model_id, _file_key(chosen))
        path = _local_path(refreshed)
        if path is None:
            raise Conflict(f"{_file_key(chosen)} of {model_id} did not finish downloading")
        chosen = refreshed
    return load(fmt or _format_of(chosen, path), _with_split_parts(path))


def _file_key(entry: dict[str, Any]) -> str:
    return str(entry.get("name") or entry.get("id"))


def _choose_file(files: list[dict[str, Any]], model_id: str, file: str | None) -> dict[str, Any]:
    if not files:
        raise NotFound(f"model {model_id!r} has no files")
    if file is not None:
        for entry in files:
            if file in (entry.get("id"), entry.get("name")):
                return entry
        names = ", ".join(_file_key(e) for e in files)
        raise NotFound(f"model {model_id!r} has no file {file!r} (files: {names})")
    known = set(LOADABLE_SUFFIXES) | {
        ext for fmt in registry().formats() if (ld := registry().get(fmt)) for ext in ld.extensions
    }
    for entry in files:
        if Path(_file_key(entry)).suffix.lower() in known:
            return entry
    return files[0]


def _local_path(entry: dict[str, Any]) -> Path | None:
    status = entry.get("downloadStatus") or {}
    raw = entry.get("localPath") or status.get("localPath")
    downloaded = entry.get("isDownloaded") or status.get("status") == "completed"
    if raw and downloaded and Path(raw).is_file():
        return Path(raw)
    return None


def _format_of(entry: dict[str, Any], path: Path) -> str | None:
    fmt = entry.get("format")
    if isinstance(fmt, str) and registry().get(fmt) is not None:
        return fmt
    return None  # let the registry decide from the file's extension


TERMINAL = frozenset({"completed", "failed", "cancelled", "canceled", "already_downloaded"})


def _download(
    client: Any, model_id: str, entry: dict[str, Any], *, progress: bool, timeout: float | None
) -> None:
    """Start the download on the server and poll its jobs (LM Studio status route) to the end."""
    snapshot = client.download_model(model_id, files=[str(entry.get("id") or entry.get("name"))])
    jobs = [j for j in snapshot.get("jobs") or [] if j.get("job_id")]
    bar = _progress_bar(_file_key(entry), int(entry.get("sizeBytes") or 0)) if progress else None
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for job in jobs:
            while job.get("status") not in TERMINAL:
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"download of {_file_key(entry)} not done after {timeout} s")
                time.sleep(0.25)
                job = client.download_status(job["job_id"])
                if bar is not None:
                    bar(job)
            if job.get("status") not in ("completed", "already_downloaded"):
                raise Conflict(
                    f"download of {_file_key(entry)} ended {job.get('status')}: "
                    f"{job.get('error') or 'no details'}"
                )
    finally:
        if bar is not None:
            bar.close()


def _with_split_parts(path: Path) -> list[Path]:
    """All present parts of a split GGUF (``x-00001-of-00003.gguf``), else just ``path``."""
    match = _SPLIT.search(path.name)
    if match is None:
        return [path]
    count = int(match.group(2))
    stem = path.name[: match.start()]
    parts = [path.with_name(f"{stem}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    return [p for p in parts if p.is_file()] or [path]


class _Bar:
    """A tqdm bar (notebook-aware) fed with job status objects."""

    def __init__(self, name: str, total: int):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=name)

    def __call__(self, job: dict[str, Any]) -> None:
        total = job.get("total_size_bytes")
        if total and self._bar.total != total:
            self._bar.total = total
        done = int(job.get("downloaded_bytes") or 0)
        self._bar.update(max(0, done - self._bar.n))

    def close(self) -> None:
        self._bar.close()


def _progress_bar(name: str, total: int) -> _Bar | None:
    try:
        return _Bar(name, total)
    except ImportError:
        return None
