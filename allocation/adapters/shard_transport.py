"""How a shard's inputs and its plan travel between processes: compressed Arrow IPC bytes.

A pickled Polars frame is several times the size of the frame, and Dask hashes every
argument of a task to name it; LZ4-compressed Arrow IPC is a fraction of the size, keeps every
column's type, and costs about as much to write and read as pickling does.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import polars as pl

from allocation.engine.plan import NightPlan
from allocation.engine.shards import ShardInputs


@dataclass(frozen=True)
class PackedShard:
    """A shard's inputs, each frame as compressed Arrow IPC bytes."""

    shard: int
    batches: bytes
    open_lines: bytes
    picked: bytes


@dataclass(frozen=True)
class PackedPlan:
    """A shard's plan, each frame as compressed Arrow IPC bytes."""

    allocations: bytes
    picks: bytes
    reservations: bytes
    shortages: bytes
    demand_lines: int


def pack_shard(inputs: ShardInputs) -> PackedShard:
    """A shard's inputs, packed to travel."""
    return PackedShard(
        inputs.shard, _pack(inputs.batches), _pack(inputs.open_lines), _pack(inputs.picked)
    )


def unpack_shard(packed: PackedShard) -> ShardInputs:
    """A shard's inputs as they were packed."""
    return ShardInputs(
        packed.shard, _unpack(packed.batches), _unpack(packed.open_lines), _unpack(packed.picked)
    )


def pack_plan(plan: NightPlan) -> PackedPlan:
    """A shard's plan, packed to travel."""
    return PackedPlan(
        allocations=_pack(plan.allocations),
        picks=_pack(plan.picks),
        reservations=_pack(plan.reservations),
        shortages=_pack(plan.shortages),
        demand_lines=plan.demand_lines,
    )


def unpack_plan(packed: PackedPlan) -> NightPlan:
    """A shard's plan as it was packed."""
    return NightPlan(
        allocations=_unpack(packed.allocations),
        picks=_unpack(packed.picks),
        reservations=_unpack(packed.reservations),
        shortages=_unpack(packed.shortages),
        demand_lines=packed.demand_lines,
    )


def _pack(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="lz4")
    return buffer.getvalue()


def _unpack(data: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(data))
