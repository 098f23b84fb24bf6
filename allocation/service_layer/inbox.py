"""Finding the night's input files in the inbox and fetching their bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, get_args

from allocation.adapters.storage import ObjectStorage
from allocation.parsing import InputKind

INPUT_KINDS: Final[tuple[InputKind, ...]] = get_args(InputKind)
FILE_FORMATS: Final = (".csv", ".parquet")


@dataclass(frozen=True)
class InboxFile:
    """One input file found in the inbox."""

    kind: InputKind
    key: str
    size: int
    url: str


@dataclass(frozen=True)
class FetchedFile:
    """An input file's bytes and the hash that identifies its content across runs."""

    file: InboxFile
    data: bytes
    content_hash: str


@dataclass(frozen=True)
class Discovery:
    """The input files of the night, in processing order, and what was passed over."""

    files: tuple[InboxFile, ...]
    warnings: tuple[str, ...]


def discover(inbox: ObjectStorage) -> Discovery:
    """List `batches/`, `order_lines/` and `cancellations/` files, each folder in name order."""
    files: list[InboxFile] = []
    warnings: list[str] = []
    for kind in INPUT_KINDS:
        for stored in inbox.list(f"{kind}/"):
            name = stored.key.rsplit("/", 1)[-1]
            if name.startswith(".") or name.startswith("_"):
                continue  # hidden files and markers such as .gitkeep or _SUCCESS
            if not stored.key.lower().endswith(FILE_FORMATS):
                warnings.append(
                    f"ignored {inbox.describe(stored.key)}: not a .csv or .parquet file"
                )
                continue
            files.append(InboxFile(kind, stored.key, stored.size, inbox.describe(stored.key)))
    return Discovery(tuple(files), tuple(warnings))


def fetch(inbox: ObjectStorage, files: tuple[InboxFile, ...]) -> list[FetchedFile]:
    """Read each file's bytes and hash them (SHA-256), so a file is recognised if sent again."""
    fetched = []
    for file in files:
        data = inbox.read(file.key)
        fetched.append(FetchedFile(file, data, hashlib.sha256(data).hexdigest()))
    return fetched
