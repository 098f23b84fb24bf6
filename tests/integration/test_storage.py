"""Object storage behaves the same on a local folder, an S3 bucket (moto) and in memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from s3server import S3Env, free_port

from allocation.adapters.storage import (
    MemoryStorage,
    ObjectStorage,
    StorageAccessDenied,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
    StoredObject,
    open_storage,
)


@pytest.fixture(params=["local", "s3", "memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStorage:
    """An empty storage root of each kind; the S3 server starts only if an s3 case runs."""
    if request.param == "local":
        (tmp_path / "root").mkdir()
        return open_storage(str(tmp_path / "root"))
    if request.param == "s3":
        s3_env: S3Env = request.getfixturevalue("s3_env")
        return open_storage(s3_env.url("root"))
    return MemoryStorage()


@pytest.fixture
def denying_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3 endpoint that answers every request with 403 AccessDenied, as a locked bucket does."""

    class Deny(BaseHTTPRequestHandler):
        def _deny(self) -> None:
            body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = do_POST = _deny  # noqa: N815 - names http.server dispatches on

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Deny)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    yield endpoint
    server.shutdown()
    server.server_close()
    thread.join()


def test_written_bytes_read_back_unchanged(storage: ObjectStorage) -> None:
    data = bytes(range(256)) * 10
    storage.write("orders/2025-03-03.csv", data)
    assert storage.read("orders/2025-03-03.csv") == data


def test_writing_a_key_again_replaces_its_content(storage: ObjectStorage) -> None:
    storage.write("batches.csv", b"old")
    storage.write("batches.csv", b"new content")
    assert storage.read("batches.csv") == b"new content"
    assert storage.list() == [StoredObject("batches.csv", len(b"new content"))]


def test_listing_is_sorted_relative_to_the_root_and_recursive(storage: ObjectStorage) -> None:
    for key in ["b.csv", "a/z.csv", "a/deep/er/x.csv", "a.csv", "c/1.csv"]:
        storage.write(key, b"12345")
    assert [o.key for o in storage.list()] == [
        "a.csv",
        "a/deep/er/x.csv",
        "a/z.csv",
        "b.csv",
        "c/1.csv",
    ]
    assert storage.list("a") == [StoredObject("a/deep/er/x.csv", 5), StoredObject("a/z.csv", 5)]


def test_a_prefix_matches_whole_folder_names_only(storage: ObjectStorage) -> None:
    storage.write("sub/x.csv", b"1")
    storage.write("subway/y.csv", b"2")
    assert [o.key for o in storage.list("sub")] == ["sub/x.csv"]
    assert [o.key for o in storage.list("sub/")] == ["sub/x.csv"]


def test_listing_a_missing_prefix_is_empty(storage: ObjectStorage) -> None:
    storage.write("present/x.csv", b"1")
    assert storage.list("absent") == []


def test_listing_an_empty_root_is_empty(storage: ObjectStorage) -> None:
    assert storage.list() == []


def test_exists_only_for_written_keys(storage: ObjectStorage) -> None:
    storage.write("here.csv", b"1")
    assert storage.exists("here.csv")
    assert not storage.exists("elsewhere.csv")


def test_delete_removes_the_object_and_tolerates_a_missing_one(storage: ObjectStorage) -> None:
    storage.write("gone.csv", b"1")
    storage.delete("gone.csv")
    storage.delete("never-there.csv")
    assert not storage.exists("gone.csv")
    assert storage.list() == []


def test_reading_a_missing_key_raises_not_found_naming_its_url(storage: ObjectStorage) -> None:
    with pytest.raises(StorageNotFound) as raised:
        storage.read("missing/lines.csv")
    assert storage.describe("missing/lines.csv") in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("key", ["order lines/2025 03 03.csv", "entrées/crème brûlée ☕.csv"])
def test_names_with_spaces_and_unicode_round_trip(storage: ObjectStorage, key: str) -> None:
    storage.write(key, b"x")
    assert storage.read(key) == b"x"
    assert storage.list() == [StoredObject(key, 1)]


@pytest.mark.parametrize("key", ["", "/abs.csv", "a//b.csv", "../escape.csv", "a/./b.csv", "a/"])
def test_a_malformed_key_is_refused(storage: ObjectStorage, key: str) -> None:
    with pytest.raises(StorageError, match="invalid key"):
        storage.write(key, b"x")


def test_describe_gives_the_full_url_of_a_key(tmp_path: Path, s3_env: S3Env) -> None:
    assert open_storage(str(tmp_path)).describe("a/b.csv") == f"file://{tmp_path}/a/b.csv"
    assert (
        open_storage(s3_env.url("inbox")).describe("a.csv") == f"s3://{s3_env.bucket}/inbox/a.csv"
    )
    assert MemoryStorage().describe("a.csv") == "memory:///a.csv"


# Local folders


def test_a_relative_path_is_resolved_against_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert open_storage("data/inbox").url == f"file://{tmp_path}/data/inbox"
    assert open_storage(f"file://{tmp_path}/x").url == f"file://{tmp_path}/x"


def test_listing_a_missing_local_folder_is_not_found_and_does_not_create_it(
    tmp_path: Path,
) -> None:
    storage = open_storage(str(tmp_path / "inbox"))
    for prefix in ("", "batches/"):
        with pytest.raises(StorageNotFound, match=rf"file://{tmp_path}/inbox: no such folder"):
            storage.list(prefix)
    assert not storage.exists("lines.csv")
    assert not (tmp_path / "inbox").exists()


def test_a_local_folder_that_exists_but_holds_nothing_lists_empty(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    assert open_storage(str(tmp_path / "inbox")).list("batches/") == []


def test_writing_creates_the_local_folders_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "outbox"))
    storage.write("2025-03-03/allocations.parquet", b"PAR1")
    written = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert written == ["outbox/2025-03-03/allocations.parquet"]


def test_a_concurrent_reader_never_sees_a_partial_local_file(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "outbox"))
    versions = [bytes([n]) * 2_000_000 for n in range(2)]
    storage.write("allocations.parquet", versions[0])
    done = threading.Event()

    def keep_writing() -> None:
        for n in range(12):
            storage.write("allocations.parquet", versions[n % 2])
        done.set()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    seen: set[bytes] = set()
    while not done.is_set():
        assert [o.key for o in storage.list()] == ["allocations.parquet"]
        assert [p.name for p in (tmp_path / "outbox").glob("*.parquet")] == ["allocations.parquet"]
        content = storage.read("allocations.parquet")
        assert content in versions
        seen.add(content[:1])
    writer.join()
    assert seen


def test_an_unsupported_url_is_refused() -> None:
    with pytest.raises(StorageError, match=r"gs://bucket/x"):
        open_storage("gs://bucket/x")


# S3 failures


def test_a_missing_bucket_raises_not_found_naming_the_bucket(s3_env: S3Env) -> None:
    storage = open_storage("s3://no-such-bucket-here/inbox")
    for operation in (storage.list, lambda: storage.read("a.csv"), lambda: storage.exists("a")):
        with pytest.raises(StorageNotFound, match=r"s3://no-such-bucket-here/inbox.*bucket"):
            operation()
    with pytest.raises(StorageNotFound, match="bucket does not exist"):
        storage.write("a.csv", b"1")


def test_an_unreachable_endpoint_raises_unavailable_within_seconds(
    s3_env: S3Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    storage = open_storage(s3_env.url("inbox"))
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as raised:
        storage.list()
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert message == f"cannot reach s3://{s3_env.bucket}/inbox at {closed}: connection refused"


def test_a_refusing_bucket_raises_access_denied(denying_endpoint: str) -> None:
    storage = open_storage("s3://locked/inbox")
    for operation in (storage.list, lambda: storage.read("a.csv"), lambda: storage.exists("a")):
        with pytest.raises(
            StorageAccessDenied, match=rf"s3://locked/inbox.* at {denying_endpoint}"
        ):
            operation()


def test_an_object_larger_than_one_upload_part_round_trips(storage: ObjectStorage) -> None:
    data = bytes(range(256)) * (6 * 1024 * 1024 // 256 + 1)  # over obstore's 5 MiB part size
    storage.write("big.parquet", data)
    assert storage.read("big.parquet") == data
    assert storage.list() == [StoredObject("big.parquet", len(data))]


def test_an_empty_url_is_refused() -> None:
    with pytest.raises(StorageError, match="empty"):
        open_storage("  ")
