"""File names are metadata only: make a client-supplied name safe to store and to echo.

Removed from every name: C0 and C1 control characters (CR, LF, NEL U+0085, CSI U+009B...),
the bidirectional controls that can make ``invoice<U+202E>gpj.exe`` display as
``invoiceexe.jpg`` (U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069) and the line and
paragraph separators U+2028/U+2029.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_BYTES = 255
_CONTROL = re.compile(
    "[\\x00-\\x1f\\x7f-\\x9f"  # C0, DEL, C1
    "\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"  # bidirectional controls
    "\\u2028\\u2029]"  # line and paragraph separators
)
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def clean_filename(raw: str | None) -> str:
    """The last path component of ``raw``, without control characters, at most 255 bytes."""
    name = unicodedata.normalize("NFC", raw or "")
    name = _CONTROL.sub("", name.replace("\\", "/")).split("/")[-1].strip()
    if name in ("", ".", ".."):
        name = "file"
    encoded = name.encode("utf-8")
    if len(encoded) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}" if dot and stem and len(ext.encode("utf-8")) <= 16 else ""
    budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    head = (stem if suffix else name).encode("utf-8")[:budget].decode("utf-8", "ignore")
    return head + suffix


def is_valid_id(file_id: str) -> bool:
    """Whether ``file_id`` has the shape of an id this store hands out (no path tricks)."""
    return bool(_ID.match(file_id))
