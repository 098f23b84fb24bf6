"""Which shard of a night a SKU belongs to: a stable hash of the SKU, stated once.

A line only ever takes stock of its own SKU, so a night split by SKU plans the same. The hash
must give the same shard in every process, on every machine and with every library version
(a shard's inputs may be read in one process and planned in another), so it is MD5, not the
per-process or per-version hashes of Python, Polars or DuckDB. The SQL form is derived from
these declarations in `allocation.adapters.rules_sql`.
"""

from __future__ import annotations

import hashlib
from typing import Final

SHARD_HASH: Final = "md5"
"""The digest of a SKU's UTF-8 text that places it."""
SHARD_HASH_BYTES: Final = 8
"""How many leading bytes of the digest, read as an unsigned big-endian integer, place it."""


def shard_of(sku: str, shards: int) -> int:
    """The SKU's shard among `shards` (0 to shards - 1): its hash modulo the shard count."""
    digest = hashlib.new(SHARD_HASH, sku.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:SHARD_HASH_BYTES], "big") % shards
