"""The content key: what two servers compare to know they want the same bytes.

The SHA-256 when the catalog knows it (``sha256-<hex>``); otherwise the origin's identity of
the bytes, final URL + strong ETag + size, hashed (``url-<hex>``). A weak ETag (``W/"..."``) or a
missing size identifies nothing, so such a file gets no key and is not shared.

A key is safe as a file name and maps to the 64-bit number of its PostgreSQL advisory lock.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KEY = re.compile(r"^(sha256|url)-[0-9a-f]{64}$")


class NoContentKey(ValueError):
    """The file cannot be identified across servers (no SHA-256, no strong ETag or size)."""


@dataclass(frozen=True)
class ContentKey:
    """``sha256-<hex>`` or ``url-<hex>``; ``str(key)`` is the key text."""

    text: str

    def __post_init__(self) -> None:
        if not _KEY.match(self.text):
            raise ValueError(f"not a content key: {self.text!r}")

    def __str__(self) -> str:
        return self.text

    @property
    def sha256(self) -> str | None:
        """The file's SHA-256 when the key is one."""
        kind, _, digest = self.text.partition("-")
        return digest if kind == "sha256" else None

    @property
    def lock_id(self) -> int:
        """A signed 64-bit number for ``pg_try_advisory_lock(bigint)``."""
        digest = hashlib.sha256(b"jupyter-modelfiles:" + self.text.encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)


def is_strong_etag(etag: str | None) -> bool:
    return bool(etag) and not etag.strip().startswith(("W/", "w/"))  # type: ignore[union-attr]


def content_key(
    *,
    sha256: str | None = None,
    url: str | None = None,
    etag: str | None = None,
    size: int | None = None,
) -> ContentKey:
    """The key of a file; raises :class:`NoContentKey` when nothing identifies its bytes."""
    if sha256:
        digest = sha256.strip().lower()
        if not _SHA256.match(digest):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return ContentKey(f"sha256-{digest}")
    if not url or size is None or size < 0 or not is_strong_etag(etag):
        raise NoContentKey(
            "a shared download needs the file's SHA-256, or its final URL with a strong ETag "
            f"and a size (url={url!r}, etag={etag!r}, size={size!r})"
        )
    identity = "\n".join([url, etag.strip(), str(size)])  # type: ignore[union-attr]
    return ContentKey("url-" + hashlib.sha256(identity.encode()).hexdigest())
