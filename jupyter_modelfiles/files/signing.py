"""HMAC-signed, expiring file URLs; the key lives beside the state and survives restarts."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from ..errors import Forbidden


class UrlSigner:
    """Signs ``(file_id, expires)`` pairs with a persistent secret key."""

    def __init__(self, key_path: Path):
        self.key_path = key_path
        self._key = self._load_or_create()

    def _load_or_create(self) -> bytes:
        try:
            key = self.key_path.read_bytes()
            if len(key) >= 32:
                return key
        except FileNotFoundError:
            pass
        key = secrets.token_bytes(32)
        tmp = self.key_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.key_path)
        return key

    def signature(self, file_id: str, expires: int) -> str:
        message = f"{file_id}:{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(self, file_id: str, lifetime_seconds: float) -> tuple[int, str]:
        expires = int(time.time() + lifetime_seconds)
        return expires, self.signature(file_id, expires)

    def verify(self, file_id: str, expires: str | None, signature: str | None) -> None:
        """Raise :class:`Forbidden` unless the signature is genuine and not expired."""
        if not expires or not signature:
            raise Forbidden("this URL is missing its signature; ask for a new signed URL")
        try:
            expires_at = int(expires)
        except ValueError:
            raise Forbidden("this signed URL is malformed; ask for a new one") from None
        expected = self.signature(file_id, expires_at)
        if not signature.isascii() or not hmac.compare_digest(expected, signature):
            raise Forbidden("this signed URL is not valid (it was altered); ask for a new one")
        if expires_at < time.time():
            raise Forbidden("this signed URL has expired; ask for a new one")
