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

from huggingface_hub import hf_hub_url, scan_cache_dir, try_to_load_from_cache
from huggingface_hub.errors import CacheNotFound
from huggingface_hub.file_download import repo_folder_name

from .filesets import build_file_sets
from .models import CatalogModel, FilePart
from .parsing import file_format, split_name

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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


def cached_hub_models(cache_dir: Path, endpoint: str) -> list[CatalogModel]:
    """Models of the Hugging Face cache that hold a weights file, whoever put them there
    (``hf_hub_download``, ``snapshot_download``, us), read from the cache alone (no network).

    The revision is the one ``main`` points to, else the newest snapshot.
    """
    try:
        info = scan_cache_dir(cache_dir)
    except (CacheNotFound, OSError, ValueError):
        return []
    models = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        revision = max(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified))
        parts = []
        for cached in sorted(revision.files, key=lambda f: str(f.file_path)):
            filename = cached.file_path.relative_to(revision.snapshot_path).as_posix()
            blob = cached.blob_path.name
            parts.append(
                FilePart(
                    filename=filename,
                    url=hf_hub_url(
                        repo.repo_id, filename, revision=revision.commit_hash, endpoint=endpoint
                    ),
                    size=cached.size_on_disk,
                    sha256=blob if _SHA256.match(blob) else None,
                    etag=blob,
                )
            )
        if not any(file_format(p.filename) for p in parts):
            continue
        parts += _missing_split_parts(parts, repo.repo_id, revision.commit_hash, endpoint)
        models.append(
            CatalogModel(
                id=repo.repo_id,
                name=repo.repo_id.rsplit("/", 1)[-1],
                source="hub",
                repo_id=repo.repo_id,
                revision=revision.commit_hash,
                provider=repo.repo_id.split("/")[0] if "/" in repo.repo_id else None,
                description=f"{repo.repo_id} in the Hugging Face cache",
                files=build_file_sets(parts),
                extra={"origin": "hf-cache"},
            )
        )
    return models


def _missing_split_parts(
    parts: list[FilePart], repo_id: str, revision: str, endpoint: str
) -> list[FilePart]:
    """The parts of split files (``-00002-of-00003``) the cache lacks, so a split file with a
    part missing reads as not downloaded instead of as a smaller file."""
    present = {p.filename for p in parts}
    missing: dict[str, FilePart] = {}
    for part in parts:
        split = split_name(part.filename)
        if split is None:
            continue
        own = f"-{split.index:05d}-of-{split.count:05d}"
        head, _, tail = part.filename.rpartition(own)
        for index in range(1, split.count + 1):
            name = f"{head}-{index:05d}-of-{split.count:05d}{tail}"
            if name not in present and name not in missing:
                url = hf_hub_url(repo_id, name, revision=revision, endpoint=endpoint)
                missing[name] = FilePart(filename=name, url=url)
    return list(missing.values())
