"""Uploads on disk: the writeback follows the writes, the bytes stay exact, lines counted only
where they are used."""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
from pathlib import Path

from jupyter_modelfiles.files.direct import DirectWrites
from jupyter_modelfiles.files.upload import MultipartUpload, TempFile
from jupyter_modelfiles.files.writeback import WriteBehind

WINDOW = 64 * 1024
ON_LINUX = sys.platform.startswith("linux")


def test_a_temp_file_starts_writeback_window_by_window_and_keeps_every_byte(
    tmp_path: Path,
) -> None:
    temp = TempFile(tmp_path / "upload.part", direct=False)
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


def direct_io_works(directory: Path) -> bool:
    """Whether this file system takes aligned O_DIRECT writes (ext4 does, some do not)."""
    probe = directory / "probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_DIRECT)
    except OSError:
        return False
    try:
        import mmap

        with mmap.mmap(-1, 4096) as page:
            os.write(fd, page)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        probe.unlink()


def test_a_temp_file_writes_direct_and_keeps_every_byte(tmp_path: Path) -> None:
    temp = TempFile(tmp_path / "upload.part")
    direct = direct_io_works(tmp_path)
    assert (temp._direct is not None) is direct
    if direct:
        assert fcntl.fcntl(temp._fd, fcntl.F_GETFL) & os.O_DIRECT
        assert temp._behind.enabled is False  # nothing in the page cache to write behind
    expected = hashlib.sha256()
    written = 0
    for i in range(300):  # 9.6 MiB in odd sizes: stages end inside writes, a tail is left
        data = os.urandom(32 * 1024 + i * 41)
        temp.write(data)
        expected.update(data)
        written += len(data)
    if direct:
        assert temp._direct is not None and 0 < temp._direct.fill < temp._direct.stage
        assert os.fstat(temp._fd).st_size == written - temp._direct.fill
    temp.end_writes()  # the file is read before its commit (lines, requests)
    assert os.fstat(temp._fd).st_size == written
    temp.commit()
    content = (tmp_path / "upload.part").read_bytes()
    assert len(content) == written == temp.size
    assert hashlib.sha256(content).hexdigest() == expected.hexdigest()


def test_direct_writes_that_the_file_system_refuses_are_written_buffered(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "odd.part", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        writes = DirectWrites(fd, stage=1000)  # not a multiple of any block size: EINVAL
        if not writes.enabled:
            assert not direct_io_works(tmp_path)
        data = os.urandom(5500)
        writes.write(data[:2500])
        writes.write(data[2500:])
        assert writes.enabled is False or not direct_io_works(tmp_path)
        writes.finish()
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT
    finally:
        os.close(fd)
    assert (tmp_path / "odd.part").read_bytes() == data


def test_a_discarded_upload_leaves_no_file_and_writes_no_tail(tmp_path: Path) -> None:
    temp = TempFile(tmp_path / "gone.part")
    temp.write(os.urandom(100_000))
    temp.discard()
    assert not (tmp_path / "gone.part").exists()
