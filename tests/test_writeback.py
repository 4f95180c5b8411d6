"""Uploads on disk: the writeback follows the writes, the bytes stay exact, lines counted only
where they are used."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from jupyter_modelfiles.files.upload import MultipartUpload, TempFile
from jupyter_modelfiles.files.writeback import WriteBehind

WINDOW = 64 * 1024
ON_LINUX = sys.platform.startswith("linux")


def test_a_temp_file_starts_writeback_window_by_window_and_keeps_every_byte(
    tmp_path: Path,
) -> None:
    temp = TempFile(tmp_path / "upload.part")
    temp._behind = WriteBehind(temp._fd, window=WINDOW)
    expected = hashlib.sha256()
    written = 0
    for i in range(40):  # odd-sized writes: windows end between them
        data = os.urandom(10_000 + i * 137).replace(b"\n", b" ") + b"\n"
        temp.write(data)
        expected.update(data)
        written += len(data)
        if ON_LINUX:
            # writeback was started for everything up to the last full window
            assert written - WINDOW < temp._behind.started <= written
    assert temp._behind.enabled is ON_LINUX
    temp.commit()
    content = (tmp_path / "upload.part").read_bytes()
    assert len(content) == written == temp.size
    assert hashlib.sha256(content).hexdigest() == temp.sha256.hexdigest() == expected.hexdigest()
    assert temp.num_lines() == 40


def test_a_descriptor_without_writeback_turns_it_off_and_raises_nothing() -> None:
    read_end, write_end = os.pipe()  # sync_file_range refuses a pipe (ESPIPE)
    try:
        behind = WriteBehind(write_end, window=WINDOW)
        os.write(write_end, b"x" * WINDOW)
        behind.advance(WINDOW)
        assert behind.enabled is False
        behind.advance(4 * WINDOW)  # nothing more is tried
        assert behind.started == (WINDOW if ON_LINUX else 0)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_only_line_formats_have_their_lines_counted(tmp_path: Path) -> None:
    for name, counted in (("rows.jsonl", True), ("notes.TXT", True), ("weights.bin", False)):
        upload = MultipartUpload("multipart/form-data; boundary=B", tmp_path / name, 1 << 20)
        upload.feed(
            b'--B\r\nContent-Disposition: form-data; name="file"; filename="'
            + name.encode()
            + b'"\r\n\r\na\nb\nc\r\n--B--\r\n'
        )
        upload.finish()
        assert upload.file is not None and upload.file.count_lines is counted
        if counted:
            assert upload.file.num_lines() == 3
        upload.discard()
