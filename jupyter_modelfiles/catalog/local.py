"""Where downloaded model files live: the Hugging Face cache layout and ``root/models``.

Hub files: ``<cache>/models--org--name/blobs/<etag>`` (the download target),
``snapshots/<commit>/<filename>`` (a relative symlink made once the blob is published) and
``refs/<ref>`` (the commit), exactly as ``huggingface_hub`` writes them, so
``try_to_load_from_cache`` / ``hf_hub_download(local_files_only=True)`` find them.

Other files: ``<root>/models/blobs/<sha256>`` when the SHA-256 is known (two models sharing a
file store it once) with ``<root>/models/<model key>/<filename>`` symlinks; without a SHA-256
the file is downloaded straight to ``<root>/models/<model key>/<filename>``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from huggingface_hub import try_to_load_from_cache
from huggingface_hub.file_download import repo_folder_name


def model_key(model_id: str) -> str:
    """A directory name for a model id (``org/name`` -> ``org--name``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "--", model_id).strip(".") or "model"


def safe_relpath(filename: str) -> Path:
    """A repo-relative file name that cannot escape its directory."""
    parts = [p for p in filename.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if not parts:
        raise ValueError(f"bad file name {filename!r}")
    return Path(*parts)


def hub_repo_dir(cache_dir: Path, repo_id: str) -> Path:
    return cache_dir / repo_folder_name(repo_id=repo_id, repo_type="model")


def hub_blob_path(cache_dir: Path, repo_id: str, etag: str) -> Path:
    return hub_repo_dir(cache_dir, repo_id) / "blobs" / etag


def hub_snapshot_path(cache_dir: Path, repo_id: str, revision: str, filename: str) -> Path:
    return hub_repo_dir(cache_dir, repo_id) / "snapshots" / revision / safe_relpath(filename)


def hub_cached(cache_dir: Path, repo_id: str, filename: str, revision: str | None) -> Path | None:
    """The cached file, as ``huggingface_hub`` sees it (no network)."""
    found = try_to_load_from_cache(
        repo_id, filename, cache_dir=str(cache_dir), revision=revision, repo_type="model"
    )
    return Path(found) if isinstance(found, str) and os.path.exists(found) else None


def relative_symlink(target: Path, link: Path) -> None:
    """Point ``link`` at ``target`` with a relative symlink (replacing an old link)."""
    if not target.exists():
        raise FileNotFoundError(f"refusing to create a dangling link to {target}")
    link.parent.mkdir(parents=True, exist_ok=True)
    relative = os.path.relpath(target, link.parent)
    tmp = link.with_name(f".{link.name}.tmp-link")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(relative, tmp)
    os.replace(tmp, link)


def publish_hub_file(
    cache_dir: Path, repo_id: str, revision: str, filename: str, etag: str, ref: str | None
) -> Path:
    """Snapshot symlink (+ ``refs/<ref>``) for a published blob; returns the snapshot path."""
    blob = hub_blob_path(cache_dir, repo_id, etag)
    link = hub_snapshot_path(cache_dir, repo_id, revision, filename)
    relative_symlink(blob, link)
    if ref and ref != revision:
        ref_file = hub_repo_dir(cache_dir, repo_id) / "refs" / ref
        ref_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = ref_file.with_name(f".{ref_file.name}.tmp")
        tmp.write_text(revision)
        os.replace(tmp, ref_file)
    return link


def link_into_place(source: Path, dest: Path) -> None:
    """Make ``dest`` hold the bytes of ``source`` without copying when possible."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-hardlink")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(source.resolve(), tmp)
    except OSError:
        import shutil

        shutil.copyfile(source, tmp)
    os.replace(tmp, dest)
