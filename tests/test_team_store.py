"""Team mode: content keys and the shared store (layout, publishing, group permissions)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import try_to_load_from_cache

from jupyter_modelfiles.team import (
    ContentKey,
    NoContentKey,
    SharedStore,
    SharedStoreError,
    content_key,
)

DIGEST = hashlib.sha256(b"model bytes").hexdigest()


def test_content_key_is_the_sha256_when_known():
    key = content_key(sha256=DIGEST.upper(), url="http://a/x", etag='"e"', size=11)
    assert str(key) == f"sha256-{DIGEST}"
    assert key.sha256 == DIGEST


def test_without_sha256_url_strong_etag_and_size_identify_the_bytes():
    key = content_key(url="http://a/x", etag='"e1"', size=11)
    assert str(key).startswith("url-") and key.sha256 is None
    assert key == content_key(url="http://a/x", etag='"e1"', size=11)
    assert key != content_key(url="http://a/x", etag='"e2"', size=11)
    assert key != content_key(url="http://a/x", etag='"e1"', size=12)
    assert key != content_key(url="http://b/x", etag='"e1"', size=11)


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "http://a/x", "etag": 'W/"weak"', "size": 11},
        {"url": "http://a/x", "etag": None, "size": 11},
        {"url": "http://a/x", "etag": '"e"', "size": None},
        {"url": None, "etag": '"e"', "size": 11},
    ],
)
def test_nothing_identifies_the_bytes_no_key(fields):
    with pytest.raises(NoContentKey, match="strong ETag"):
        content_key(**fields)


def test_keys_are_file_names_and_distinct_lock_ids():
    keys = [content_key(sha256=hashlib.sha256(bytes([i])).hexdigest()) for i in range(200)]
    assert all("/" not in str(k) and len(str(k)) == 71 for k in keys)
    assert len({k.lock_id for k in keys}) == 200
    assert all(-(2**63) <= k.lock_id < 2**63 for k in keys)
    with pytest.raises(ValueError):
        ContentKey("../../etc/passwd")
    with pytest.raises(ValueError):
        content_key(sha256="not-hex")


@pytest.fixture
def strict_umask():
    previous = os.umask(0o077)
    yield
    os.umask(previous)


def group_shared_dir(path: Path) -> bool:
    mode = os.stat(path).st_mode
    return bool(mode & stat.S_ISGID) and mode & 0o070 == 0o070


def test_store_directories_and_files_are_group_shared_whatever_the_umask(tmp_path, strict_umask):
    store = SharedStore(tmp_path / "team" / "store").ensure()
    for directory in (store.root, store.blobs_dir, store.partial_dir, store.hub_cache):
        assert group_shared_dir(directory), oct(os.stat(directory).st_mode)
    assert os.stat(store.root).st_mode & 0o007 == 0  # "other" follows the umask
    partial = store.partial_path(content_key(sha256=DIGEST))
    partial.write_bytes(b"model bytes")
    blob = store.publish_blob(partial, DIGEST)
    assert blob == store.blobs_dir / DIGEST and blob.read_bytes() == b"model bytes"
    assert os.stat(blob).st_mode & 0o060 == 0o060
    link = store.link_name("org/model", "weights/model.gguf", DIGEST)
    assert link == store.names_dir / "org--model" / "weights" / "model.gguf"
    assert os.readlink(link) == "../../../blobs/" + DIGEST
    assert group_shared_dir(link.parent)


def test_two_servers_publishing_the_same_file_leave_one_blob(tmp_path):
    store = SharedStore(tmp_path / "store").ensure()
    first, second = store.partial_dir / "a.part", store.partial_dir / "b.part"
    first.write_bytes(b"model bytes")
    second.write_bytes(b"model bytes")
    assert store.publish(first, store.blob_path(DIGEST)) is True
    inode = os.stat(store.blob_path(DIGEST)).st_ino
    assert store.publish(second, store.blob_path(DIGEST)) is False
    assert os.stat(store.blob_path(DIGEST)).st_ino == inode
    assert sorted(p.name for p in store.blobs_dir.iterdir()) == [DIGEST]
    assert list(store.partial_dir.iterdir()) == []


def test_hub_files_land_where_huggingface_hub_finds_them(tmp_path):
    store = SharedStore(tmp_path / "store").ensure()
    source = store.partial_dir / "x.part"
    source.write_bytes(b"model bytes")
    revision = "0123456789abcdef0123456789abcdef01234567"
    link = store.publish_hub(source, "org/tiny", DIGEST, revision, "tiny.gguf", ref="main")
    found = try_to_load_from_cache("org/tiny", "tiny.gguf", cache_dir=str(store.hub_cache))
    assert found == str(link) and Path(found).read_bytes() == b"model bytes"
    assert (store.hub_repo_dir("org/tiny") / "refs" / "main").read_text() == revision


def test_partial_files_and_journals_are_named_by_content_key(tmp_path):
    store = SharedStore(tmp_path / "store")
    key = content_key(url="http://a/x", etag='"e"', size=1)
    assert store.partial_path(key) == store.partial_dir / f"{key}.part"
    assert store.journal_path(key) == store.partial_dir / f"{key}.journal"


def test_names_cannot_escape_the_store(tmp_path):
    store = SharedStore(tmp_path / "store")
    assert store.name_path("../../x", "../../../etc/passwd").is_relative_to(store.names_dir)
    with pytest.raises(SharedStoreError):
        store.hub_blob_path("org/x", "../../escape")
    with pytest.raises(SharedStoreError):
        store.name_path("org/x", "../..")


def test_a_store_path_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "store").write_text("not a directory")
    with pytest.raises(SharedStoreError, match=r"shared_cache_dir .* is not usable"):
        SharedStore(tmp_path / "store").ensure()


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory this process cannot write: a read-only bind mount under root (the variant
    where user servers mount the shared volume read-only), else a 0555 directory."""
    shared = tmp_path / "read-only"
    shared.mkdir()
    if os.geteuid() != 0:
        os.chmod(shared, 0o555)
        yield shared
        os.chmod(shared, 0o755)
        return
    subprocess.run(["mount", "--bind", "-o", "ro", str(shared), str(shared)], check=True)
    try:
        yield shared
    finally:
        subprocess.run(["umount", str(shared)], check=True)


def test_a_store_this_server_cannot_write_is_a_clear_error(read_only_dir):
    with pytest.raises(SharedStoreError) as raised:
        SharedStore(read_only_dir).ensure()
    message = str(raised.value)
    assert f"shared_cache_dir {read_only_dir} is not usable" in message
    assert "Read-only file system" in message or "Permission denied" in message
    assert "chmod 2775" in message
