"""Bytes become text in one place (formatting.py), in IEC units, for every face and the API."""

from __future__ import annotations

import ast
from pathlib import Path

import jupyter_modelfiles
from jupyter_modelfiles.defaults import MAX_UPLOAD_SIZE, upload_too_large
from jupyter_modelfiles.formatting import bytes_descriptor, describe_bytes, human_bytes

PACKAGE = Path(jupyter_modelfiles.__file__).parent


def test_human_bytes_uses_iec_units() -> None:
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(30_000_000) == "28.6 MiB"
    assert human_bytes(4_100_000_000) == "3.8 GiB"
    assert human_bytes(None) == "?"


def test_pieces_descriptor_readable_matches_every_face() -> None:
    descriptor = bytes_descriptor(30_000_000)
    assert descriptor == {"value": 30_000_000, "readable": "28.6 MiB"}
    # The widgets and tables show the descriptor's text, the same as for the plain number.
    assert describe_bytes(descriptor) == describe_bytes(30_000_000) == "28.6 MiB"
    assert describe_bytes(None) == ""


def test_upload_limit_message_names_the_limit_and_the_setting() -> None:
    message = upload_too_large(MAX_UPLOAD_SIZE)
    assert message.startswith("the file is larger than the limit of 512.0 MiB (536870912 bytes)")
    assert "ModelFilesApp.max_upload_size" in message
    assert upload_too_large(1024, 4096).startswith("the upload (4.0 KiB, 4096 bytes) is larger")


def test_no_other_module_divides_by_1000_or_1024_units() -> None:
    """Formatters elsewhere come back as loops over unit names: none may exist outside here."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "formatting.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Tuple) and len(node.elts) >= 3:
                names = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if {"KiB", "MiB"} <= set(names) or {"KB", "MB"} <= set(names):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
