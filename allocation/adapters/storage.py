"""Where inbox and outbox files live (local folder, S3 prefix or memory), behind one interface."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NoReturn
from urllib.parse import unquote, urlsplit

import obstore
from obstore.exceptions import PermissionDeniedError, UnauthenticatedError
from obstore.store import LocalStore, MemoryStore, S3Store

if TYPE_CHECKING:
    from obstore.store import ClientConfig, ObjectStore, RetryConfig

# A few quick retries ride out a blip; a dead endpoint should fail the nightly run in seconds,
# not after obstore's defaults (10 retries within 3 minutes). The retry timeout bounds when the
# last retry may start, so the worst case is about RETRY_TIMEOUT plus one request's timeout:
# under a second for a refused connection, ~20 s for a silent host, ~30 s for a hung server.
MAX_RETRIES = 3
RETRY_TIMEOUT = timedelta(seconds=15)
FIRST_BACKOFF = timedelta(milliseconds=100)
LONGEST_BACKOFF = timedelta(seconds=2)
CONNECT_TIMEOUT = timedelta(seconds=5)
# Whole-request limit. obstore sends objects over 5 MiB as multipart uploads of 5 MiB parts,
# so no single request carries a whole large file. (obstore's `read_timeout` is not used: it
# also runs while a request body is being sent, so it would cut off slow uploads.)
REQUEST_TIMEOUT = timedelta(seconds=30)

# Where obstore (like the AWS SDKs) looks for a custom S3 endpoint, most specific first.
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")

# Name of the file a local write fills before renaming it into place. The leading dot hides it
# from shell and Python globs, the suffix keeps it out of any `*.parquet` pattern a reader uses,
# and `list` skips it by this pattern.
_PARTIAL_SUFFIX = ".partial"
_PARTIAL_NAME = re.compile(r"^\..+\.[0-9a-f]{32}" + re.escape(_PARTIAL_SUFFIX) + r"$")

# obstore's local store reserves names ending in '#' and digits for its own staging files.
_STAGING_NAME = re.compile(r"#\d+$")

# Bytes copied at a time from a local file into the outbox (bounded memory for any size).
_COPY_CHUNK = 8 * 1024 * 1024

# Longest piece of a third-party error message quoted in ours: enough to diagnose, still one line.
_QUOTE_LIMIT = 200


class StorageError(Exception):
    """A storage operation failed; the message names the URL and what to check."""


class StorageNotFound(StorageError):  # noqa: N818 - reads as "storage: not found"
    """The object, folder or bucket does not exist."""


class StorageAccessDenied(StorageError):  # noqa: N818
    """The credentials are missing or do not allow the operation."""


class StorageUnavailable(StorageError):  # noqa: N818
    """The storage service could not be reached or kept failing (refused, timed out, 5xx)."""


@dataclass(frozen=True)
class StoredObject:
    """One object in storage: its key relative to the storage root and its size in bytes."""

    key: str
    size: int


class ObjectStorage(ABC):
    """A flat namespace of byte objects under one root URL, with `/`-separated keys."""

    url: str
    """The root URL, for messages (e.g. `s3://bucket/inbox`, `file:///srv/allocation/inbox`)."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[StoredObject]:
        """Return every object under the folder `prefix` (recursively), sorted by key.

        `prefix` is matched by whole path segments: `"sub"` finds `sub/x` but not `subway/x`.
        A prefix with no objects under it gives `[]`; a root that does not exist (a missing
        bucket, or a missing local folder) raises `StorageNotFound`.
        """

    @abstractmethod
    def read(self, key: str) -> bytes:
        """Return the whole content of the object at `key`."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Store `data` at `key`, replacing any object there; readers see old or new, never part."""

    def write_file(self, key: str, path: Path) -> None:
        """Store the content of the local file at `path` at `key`, as `write` does."""
        self.write(key, path.read_bytes())

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Tell whether an object is stored at `key`."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object at `key`; a key that is already absent is not an error."""

    def describe(self, key: str) -> str:
        """Return the full URL of `key`, for messages and artifacts (not percent-encoded)."""
        return _join(self.url, key)


class ObstoreStorage(ObjectStorage):
    """Storage over an obstore store; every failure surfaces as a `StorageError`."""

    def __init__(
        self, store: ObjectStore, url: str, *, root: str = "", endpoint: str | None = None
    ) -> None:
        """Serve keys under `root` inside `store`; `url` and `endpoint` only word the messages."""
        self.url = url
        self._store = store
        # Keys are joined to the root here rather than by the store's own prefix option, so
        # local folders, buckets and memory resolve keys the same way.
        self._root = root.strip("/")
        self._endpoint = endpoint

    def list(self, prefix: str = "") -> list[StoredObject]:
        """Return every object under the folder `prefix` (recursively), sorted by key."""
        folder = _check_prefix(prefix, self.url)
        try:
            found = [
                StoredObject(key=self._relative(meta["path"]), size=meta["size"])
                for chunk in obstore.list(self._store, prefix=self._full(folder) or None)
                for meta in chunk
            ]
        except Exception as error:
            self._fail(error, _join(self.url, folder))
        return sorted((o for o in found if self._is_visible(o.key)), key=lambda o: o.key)

    def read(self, key: str) -> bytes:
        """Return the whole content of the object at `key`."""
        full = self._full(_check_key(key, self.url))
        try:
            return bytes(obstore.get(self._store, full).bytes())
        except Exception as error:
            self._fail(error, self.describe(key))

    def write(self, key: str, data: bytes) -> None:
        """Store `data` at `key`; S3 shows a PUT or a finished multipart upload all at once."""
        full = self._full(_check_key(key, self.url))
        try:
            obstore.put(self._store, full, data)
        except Exception as error:
            self._fail(error, self.describe(key))

    def write_file(self, key: str, path: Path) -> None:
        """Store a local file at `key`, streamed (a large one as a multipart upload)."""
        full = self._full(_check_key(key, self.url))
        try:
            obstore.put(self._store, full, path)
        except Exception as error:
            self._fail(error, self.describe(key))

    def exists(self, key: str) -> bool:
        """Tell whether an object is stored at `key`."""
        full = self._full(_check_key(key, self.url))
        try:
            obstore.head(self._store, full)
        except FileNotFoundError:
            # S3 answers HEAD with a bare 404 for a missing key and a missing bucket alike. A
            # one-item LIST tells them apart, so a misnamed bucket fails loudly, not as "absent".
            self._check_reachable(full, self.describe(key))
            return False
        except Exception as error:
            self._fail(error, self.describe(key))
        return True

    def delete(self, key: str) -> None:
        """Remove the object at `key`; a key that is already absent is not an error."""
        full = self._full(_check_key(key, self.url))
        try:
            obstore.delete(self._store, full)
        except FileNotFoundError:
            # S3 deletes are idempotent; a local folder reports the absence. Behave like S3.
            return
        except Exception as error:
            self._fail(error, self.describe(key))

    def _is_visible(self, key: str) -> bool:
        """Tell whether `list` shows this key (every key, unless a subclass hides some)."""
        return True

    def _full(self, key: str) -> str:
        """Return the store path of `key`."""
        return f"{self._root}/{key}" if self._root and key else self._root or key

    def _relative(self, path: str) -> str:
        """Return the key of a store path under the root."""
        return path[len(self._root) + 1 :] if self._root else path

    def _check_reachable(self, path: str, what: str) -> None:
        """Raise the translated error if a one-item listing next to `path` fails."""
        try:
            next(iter(obstore.list(self._store, prefix=path, chunk_size=1)), None)
        except Exception as error:
            self._fail(error, what)

    def _fail(self, error: Exception, what: str) -> NoReturn:
        """Raise `error` again as the `StorageError` a person can act on."""
        raise _translate(error, what, self._endpoint) from error


class LocalFolderStorage(ObstoreStorage):
    """A folder on this machine; writes go to a hidden file renamed into place."""

    def __init__(self, folder: Path) -> None:
        """Serve the files under the absolute `folder`, which need not exist until written to."""
        # obstore's LocalStore refuses a prefix folder that does not exist, so the store is
        # rooted at `/` and the folder becomes the key root: nothing is created until the
        # first write, and a missing outbox folder is made then.
        super().__init__(LocalStore(), f"file://{folder.as_posix()}", root=folder.as_posix())
        self.folder = folder

    def list(self, prefix: str = "") -> list[StoredObject]:
        """Return every object under the folder `prefix`; a missing root folder is not found.

        A mistyped inbox path must fail like a misnamed bucket, not read as an empty night.
        """
        if not self.folder.is_dir():
            raise StorageNotFound(f"cannot find {self.url}: no such folder")
        return super().list(prefix)

    def write(self, key: str, data: bytes) -> None:
        """Store `data` at `key` atomically: fill a hidden file, flush it to disk, rename it."""
        self._replace(key, lambda file: file.write(data))

    def write_file(self, key: str, path: Path) -> None:
        """Store a copy of the local file at `path` at `key`, atomically as `write` does."""

        def copy(file: BinaryIO) -> None:
            with path.open("rb") as source:
                shutil.copyfileobj(source, file, _COPY_CHUNK)

        self._replace(key, copy)

    def _replace(self, key: str, fill: Callable[[BinaryIO], object]) -> None:
        """Fill a hidden file next to `key` with `fill`, flush it to disk, rename it to `key`."""
        target = self.folder.joinpath(*_check_key(key, self.url).split("/"))
        if _STAGING_NAME.search(target.name):
            # obstore keeps such names for its own staging files and will not read them back.
            raise StorageError(f"invalid key {key!r} under {self.url}: ends in '#' and digits")
        # The WMS and DuckDB read the outbox folder directly, not through `list`, so a file must
        # never be visible half-written under its real name. Rename within one folder is atomic
        # (os.replace); fsync first, or a crash could leave a complete name with empty content.
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}{_PARTIAL_SUFFIX}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with partial.open("xb") as file:
                fill(file)
                file.flush()
                os.fsync(file.fileno())
            partial.replace(target)
            _fsync_folder(target.parent)
        except OSError as error:
            with contextlib.suppress(OSError):  # keep the original error, not a cleanup one
                partial.unlink(missing_ok=True)
            kind = StorageAccessDenied if isinstance(error, PermissionError) else StorageError
            reason = error.strerror or str(error)
            raise kind(f"cannot write {self.describe(key)}: {reason}") from error

    def _is_visible(self, key: str) -> bool:
        """Hide files that a write is still filling (or that a crashed write left behind)."""
        return _PARTIAL_NAME.match(key.rpartition("/")[2]) is None


class MemoryStorage(ObstoreStorage):
    """An in-memory store for unit tests: the same behaviour as a bucket, nothing persisted."""

    def __init__(self) -> None:
        """Start empty."""
        super().__init__(MemoryStore(), "memory:///")


def open_storage(url: str) -> ObjectStorage:
    """Open the storage at `url`: a folder path, a `file://` URL or `s3://bucket/prefix`.

    S3 is configured by the standard `AWS_*` variables (credentials, `AWS_REGION` or
    `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`); obstore reads them when the store is built.
    Nothing is contacted until the first operation.
    """
    if not url.strip():
        raise StorageError("cannot open an empty storage URL: give a folder path or s3:// URL")
    parts = urlsplit(url)
    if "://" not in url:
        return LocalFolderStorage(Path(url).expanduser().resolve())
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StorageError(f"cannot open {url}: file URLs must name this machine (file:///)")
        return LocalFolderStorage(Path(unquote(parts.path)).resolve())
    if parts.scheme == "s3":
        return _open_s3(url, bucket=parts.netloc, prefix=unquote(parts.path).strip("/"))
    raise StorageError(f"cannot open {url}: use a folder path, file:// or s3://bucket/prefix")


def _open_s3(url: str, *, bucket: str, prefix: str) -> ObstoreStorage:
    """Build an S3 storage configured from the environment, without contacting it."""
    if not bucket:
        raise StorageError(f"cannot open {url}: the URL names no bucket (s3://bucket/prefix)")
    endpoint = next((os.environ[v] for v in _ENDPOINT_VARIABLES if os.environ.get(v)), None)
    client: ClientConfig = {"connect_timeout": CONNECT_TIMEOUT, "timeout": REQUEST_TIMEOUT}
    if endpoint is not None and endpoint.startswith("http://"):
        # obstore refuses plain HTTP unless told; a local MinIO or moto endpoint needs it.
        client["allow_http"] = True
    retry: RetryConfig = {
        "max_retries": MAX_RETRIES,
        "retry_timeout": RETRY_TIMEOUT,
        "backoff": {"init_backoff": FIRST_BACKOFF, "max_backoff": LONGEST_BACKOFF, "base": 2},
    }
    store = S3Store(bucket, client_options=client, retry_config=retry)
    return ObstoreStorage(store, _join(f"s3://{bucket}", prefix), root=prefix, endpoint=endpoint)


def _check_key(key: str, url: str) -> str:
    """Return `key` if it names an object under the root, else raise `StorageError`."""
    segments = key.split("/")
    if not key or any(s in ("", ".", "..") for s in segments):
        raise StorageError(
            f"invalid key {key!r} under {url}: use '/'-separated names, "
            "no empty, '.' or '..' parts, no leading or trailing '/'"
        )
    return key


def _check_prefix(prefix: str, url: str) -> str:
    """Return `prefix` without surrounding slashes ('' for the root), or raise `StorageError`."""
    folder = prefix.strip("/")
    return _check_key(folder, url) if folder else ""


def _join(url: str, key: str) -> str:
    """Return `url` with `key` appended as a path."""
    if not key:
        return url
    return f"{url}{key}" if url.endswith("/") else f"{url}/{key}"


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk so a rename in it survives a crash (POSIX only)."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _translate(error: Exception, what: str, endpoint: str | None) -> StorageError:
    """Turn an obstore failure into a one-line `StorageError` naming `what` and the endpoint."""
    # obstore raises typed errors for some failures (FileNotFoundError, PermissionDeniedError)
    # but a plain GenericError for failed listings and for network trouble; for those, the
    # HTTP status and the underlying cause are only in the message text. The patterns below
    # match obstore's wording, not free text, so a key that happens to say "denied" is harmless.
    text = str(error)
    at = f" at {endpoint}" if endpoint else ""
    status_match = re.search(r"status code: (\d{3})", text)
    status = int(status_match.group(1)) if status_match else None
    if isinstance(error, ValueError):
        return StorageError(f"invalid key for {what}: {_first_line(text)}")
    if "<Code>NoSuchBucket</Code>" in text:
        return StorageNotFound(f"cannot find {what}{at}: the bucket does not exist")
    if isinstance(error, FileNotFoundError) or status == 404:
        return StorageNotFound(f"cannot find {what}{at}: no such object")
    if re.search(r"https?://169\.254\.\d+\.\d+", text):
        # With no keys in the environment, obstore asks the EC2/ECS metadata service for
        # credentials; its failure means "no credentials", not "the bucket is unreachable".
        return StorageAccessDenied(
            f"cannot access {what}{at}: no usable AWS credentials "
            "(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an instance role)"
        )
    if (
        isinstance(error, PermissionDeniedError | UnauthenticatedError | PermissionError)
        or status in (401, 403)
        or "kind: PermissionDenied" in text
    ):
        local = what.startswith("file://")
        hint = "the file permissions" if local else "the credentials and the bucket policy"
        return StorageAccessDenied(f"access denied to {what}{at}: check {hint}")
    reason = _unavailable_reason(text, status)
    if reason is not None:
        return StorageUnavailable(f"cannot reach {what}{at}: {reason}")
    return StorageError(f"storage failed on {what}{at}: {_first_line(text)}")


def _unavailable_reason(text: str, status: int | None) -> str | None:
    """Return why the service could not be used (refused, timed out, 5xx), or None."""
    if status is not None and status >= 500:
        return f"the server kept answering HTTP {status}"
    if "ConnectionRefused" in text or "Connection refused" in text:
        return "connection refused"
    if "kind: Timeout" in text or "operation timed out" in text:
        return "timed out"
    if "dns error" in text or "failed to lookup address" in text:
        return "cannot resolve the host name"
    if "error sending request" in text or "kind: Connect" in text:
        return "connection failed"
    return None


def _first_line(text: str) -> str:
    """Return the first line of a third-party message, shortened to stay readable."""
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line if len(line) <= _QUOTE_LIMIT else line[: _QUOTE_LIMIT - 3] + "..."
