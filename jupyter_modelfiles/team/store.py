"""The shared store: one directory every server of a team mounts.

```
<shared_cache_dir>/
  hub/models--org--name/{blobs,snapshots,refs}   Hub files, the Hugging Face cache layout
  blobs/<sha256>                                  other model files, content-addressed
  names/<model>/<filename>                        relative symlinks to blobs/ (how users see them)
  partial/<content key>.part                      bytes of a transfer in progress
  partial/<content key>.journal                   its journal (finished pieces)
  locks/<content key>.lock, .json                 the local coordinator's locks and progress
  references/<hash of a published path>/<holder>  who still uses a published file
```

References: each user server that records a published file adds a reference named after
itself (a hash of its ``root_dir``); a user's delete removes that reference, and the bytes go
only with the last one (or by an admin).

Partial files and journals are named by content key, not by job: whichever server holds the
key's lock writes them, and a server taking over resumes from them. A file is published by a
hard link to its final name (never replacing one already there), so two servers publishing the
same file at once leave one blob and both succeed. Everything is group-shared (permissions.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from pathlib import Path

from huggingface_hub.file_download import repo_folder_name

from .keys import ContentKey
from .permissions import make_shared_dir, open_shared, share_file

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ETAG = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class SharedStoreError(RuntimeError):
    """The shared directory cannot be used (missing, not writable, bad name)."""


def _relpath(filename: str) -> Path:
    parts = [p for p in filename.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if not parts:
        raise SharedStoreError(f"bad file name {filename!r}")
    return Path(*parts)


def _model_dir_name(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "--", model_id).strip(".") or "model"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SharedStore:
    """Paths and publishing in ``root`` (the ``shared_cache_dir``)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    @property
    def hub_cache(self) -> Path:
        """The Hugging Face cache (``HF_HUB_CACHE``) inside the store."""
        return self.root / "hub"

    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs"

    @property
    def names_dir(self) -> Path:
        return self.root / "names"

    @property
    def partial_dir(self) -> Path:
        return self.root / "partial"

    @property
    def locks_dir(self) -> Path:
        return self.root / "locks"

    @property
    def references_dir(self) -> Path:
        return self.root / "references"

    def contains(self, path: Path | str) -> bool:
        """``path`` lies inside the store."""
        root = os.path.abspath(self.root)
        return os.path.abspath(path).startswith(root.rstrip("/") + "/")

    def ensure(self) -> SharedStore:
        """Create the layout; a clear error when the directory cannot be written."""
        try:
            for directory in (
                self.root,
                self.hub_cache,
                self.blobs_dir,
                self.names_dir,
                self.partial_dir,
                self.locks_dir,
                self.references_dir,
            ):
                make_shared_dir(directory)
            probe = self.partial_dir / f".write-test-{secrets.token_hex(4)}"
            os.close(open_shared(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            probe.unlink()
        except OSError as error:
            who = f"uid {os.geteuid()}, groups {sorted(os.getgroups())}"
            raise SharedStoreError(
                f"shared_cache_dir {self.root} is not usable by this server "
                f"({who}): {error.strerror or error}. "
                "Make it writable by the team's group (chgrp GROUP DIR; chmod 2775 DIR), "
                "or leave shared_cache_dir unset."
            ) from error
        return self

    # -- names -------------------------------------------------------------------------------

    def blob_path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise SharedStoreError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.blobs_dir / sha256

    def name_path(self, model_id: str, filename: str) -> Path:
        return self.names_dir / _model_dir_name(model_id) / _relpath(filename)

    def hub_repo_dir(self, repo_id: str) -> Path:
        return self.hub_cache / repo_folder_name(repo_id=repo_id, repo_type="model")

    def hub_blob_path(self, repo_id: str, etag: str) -> Path:
        if not _ETAG.match(etag):
            raise SharedStoreError(f"bad blob name {etag!r}")
        return self.hub_repo_dir(repo_id) / "blobs" / etag

    def hub_snapshot_path(self, repo_id: str, revision: str, filename: str) -> Path:
        return self.hub_repo_dir(repo_id) / "snapshots" / _relpath(revision) / _relpath(filename)

    def partial_path(self, key: ContentKey) -> Path:
        return self.partial_dir / f"{key}.part"

    def journal_path(self, key: ContentKey) -> Path:
        return self.partial_dir / f"{key}.journal"

    # -- publishing --------------------------------------------------------------------------

    def publish(self, source: Path, target: Path) -> bool:
        """Move a verified file to its final name in the store, never replacing one there.

        Returns True when ``source`` became ``target``, False when ``target`` was already
        published (by another server at the same moment, say): ``source`` is then removed.
        """
        make_shared_dir(target.parent)
        fd = os.open(source, os.O_RDONLY)
        try:
            os.fsync(fd)
            if os.fstat(fd).st_uid == os.geteuid():
                share_file(fd)
        finally:
            os.close(fd)
        try:
            os.link(source, target)
        except FileExistsError:
            source.unlink(missing_ok=True)
            return False
        except OSError:
            # no hard links on this filesystem: rename (which replaces identical bytes)
            if target.exists():
                source.unlink(missing_ok=True)
                return False
            os.rename(source, target)
            _fsync_dir(target.parent)
            return True
        source.unlink()
        _fsync_dir(target.parent)
        return True

    def publish_blob(self, source: Path, sha256: str) -> Path:
        target = self.blob_path(sha256)
        self.publish(source, target)
        return target

    def link_name(self, model_id: str, filename: str, sha256: str) -> Path:
        """``names/<model>/<filename>`` -> ``blobs/<sha256>`` (relative symlink)."""
        return self._symlink(self.blob_path(sha256), self.name_path(model_id, filename))

    def publish_hub(
        self,
        source: Path,
        repo_id: str,
        etag: str,
        revision: str,
        filename: str,
        ref: str | None = None,
    ) -> Path:
        """Blob + snapshot symlink (+ ``refs/<ref>``), as ``huggingface_hub`` writes them."""
        self.publish(source, self.hub_blob_path(repo_id, etag))
        return self.link_hub(repo_id, etag, revision, filename, ref)

    def link_hub(
        self, repo_id: str, etag: str, revision: str, filename: str, ref: str | None = None
    ) -> Path:
        """The snapshot symlink (+ ``refs/<ref>``) of a published Hub blob."""
        blob = self.hub_blob_path(repo_id, etag)
        link = self._symlink(blob, self.hub_snapshot_path(repo_id, revision, filename))
        if ref and ref != revision:
            ref_file = self.hub_repo_dir(repo_id) / "refs" / _relpath(ref)
            make_shared_dir(ref_file.parent)
            tmp = ref_file.with_name(f".{ref_file.name}.{secrets.token_hex(4)}.tmp")
            fd = open_shared(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            try:
                os.write(fd, revision.encode())
            finally:
                os.close(fd)
            os.replace(tmp, ref_file)
        return link

    def _symlink(self, target: Path, link: Path) -> Path:
        if not target.exists():
            raise SharedStoreError(f"refusing to link to a missing file {target}")
        make_shared_dir(link.parent)
        relative = os.path.relpath(target, link.parent)
        if link.is_symlink() and os.readlink(link) == relative:
            return link
        tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}.tmp-link")
        os.symlink(relative, tmp)
        os.replace(tmp, link)
        return link

    # -- references --------------------------------------------------------------------------

    def _reference_dir(self, path: Path | str) -> Path:
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(self.root))
        digest = hashlib.sha256(relative.encode()).hexdigest()[:32]
        return self.references_dir / digest

    def add_reference(self, path: Path | str, holder: str) -> None:
        """``holder`` (one user server) uses the published file at ``path``."""
        directory = make_shared_dir(self._reference_dir(path))
        target = directory / _holder_name(holder)
        if not target.exists():
            os.close(open_shared(target, os.O_CREAT | os.O_WRONLY))

    def remove_reference(self, path: Path | str, holder: str) -> int:
        """Drop ``holder``'s reference; returns how many references remain."""
        directory = self._reference_dir(path)
        (directory / _holder_name(holder)).unlink(missing_ok=True)
        return len(self.references(path))

    def references(self, path: Path | str) -> list[str]:
        directory = self._reference_dir(path)
        try:
            return sorted(entry.name for entry in directory.iterdir())
        except FileNotFoundError:
            return []

    def remove_published(self, path: Path | str) -> None:
        """Remove a published file and its references (the last user, or an admin)."""
        Path(path).unlink(missing_ok=True)
        directory = self._reference_dir(path)
        if directory.is_dir():
            for entry in directory.iterdir():
                entry.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                directory.rmdir()


def _holder_name(holder: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", holder).strip("._") or "holder"
    return name[:120]
