"""Build multipart/form-data bodies by hand, so tests control every byte (and can break them)."""

from __future__ import annotations

import uuid


def multipart(
    fields: dict[str, str] | None = None,
    file: bytes | None = None,
    filename: str = "data.bin",
    file_field: str = "file",
    content_type: str = "application/octet-stream",
) -> tuple[bytes, str]:
    """Return ``(body, content_type_header)``."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in (fields or {}).items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    if file is not None:
        quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{quoted}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            + file
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
