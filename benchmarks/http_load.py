"""Load the HTTP service on a 1M-line warehouse: concurrent reads, then reads mixed with writes.

Builds the warehouse with one real night (`allocation run` on `pipeline.py`'s synthetic inbox),
starts `allocation serve` on a free loopback port, gives it `--settle` seconds (to build its read
model), then runs two bounded phases of `--seconds` each: `--clients` keep-alive connections
reading in a loop (a batch by reference, a SKU's batches, an order's lines, an order's
allocations, chosen at random from the inputs), then the same readers plus `--writers`
connections allocating a new one-unit line and deallocating it again. The client is one thread
of asyncio coroutines writing HTTP/1.1 by hand (the cheapest client per request: it shares the
cores with the server); each phase prints the CPU the client and the server used, in cores, and
the server's memory. It prints each phase's throughput and p50 / p99 latency per kind, and any
status other than the expected ones. Afterwards the server is stopped and `allocation check`
must be clean.

    .venv/bin/python benchmarks/http_load.py                    # 1M lines, 30 s per phase
    .venv/bin/python benchmarks/http_load.py --preset small --seconds 10
    .venv/bin/python benchmarks/http_load.py --db /tmp/w.duckdb --keep   # reuse a warehouse
    .venv/bin/python benchmarks/http_load.py --db /tmp/10m/w.duckdb --one-at-a-time 20

`--one-at-a-time N` measures latency rather than load, on a warehouse that exists (a 10M-line
one, say): after `--settle` seconds and a few reads to warm the server, N reads of each kind
before any write ("no write yet": the server's read model of the snapshot may be built), then N
requests of each kind one after another (the four reads; allocating a one-unit line,
deallocating it, and deleting by force a batch that holds allocations), their p50 / p99 / max.
It changes the warehouse: use a copy.

Everything listens on and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import duckdb
import httpx
import polars as pl
from operations import launcher
from pipeline import DEFAULT_SEED, PRESETS, RUN_DATE, Size, cpu_yardstick, generate

VENV_BIN = Path(sys.executable).parent
ALLOCATION = str(VENV_BIN / "allocation")
TOKEN = uuid.uuid4().hex
WRITE = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Tally:
    """Latencies (seconds) and statuses of one kind of request in one phase."""

    seconds: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, took: float, status: str) -> None:
        with self.lock:
            self.seconds.append(took)
            self.statuses[status] += 1


@dataclass(frozen=True)
class Names:
    """Real batch references, SKUs and order ids to read (sampled from the inputs)."""

    references: list[str]
    skus: list[str]
    orders: list[str]


def build_warehouse(size: Size, root: Path) -> tuple[Path, Names]:
    """One night on the synthetic inbox; the warehouse and names to read."""
    batches, lines = generate(size)
    for kind, frame in (("batches", batches), ("order_lines", lines)):
        (root / "inbox" / kind).mkdir(parents=True, exist_ok=True)
        frame.write_parquet(root / "inbox" / kind / "night-1.parquet")
    db = root / "w.duckdb"
    started = time.perf_counter()
    subprocess.run(
        [
            ALLOCATION,
            "run",
            "--quiet",
            f"--inbox={root / 'inbox'}",
            f"--outbox={root / 'outbox'}",
            f"--db={db}",
            f"--run-date={RUN_DATE}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"night of {size.lines:,} lines: {time.perf_counter() - started:.1f} s", flush=True)
    return db, names_of(batches, lines)


def names_of(batches: pl.DataFrame, lines: pl.DataFrame, n: int = 2000) -> Names:
    """A sample of the inputs' names (rows a contract rejected are left out)."""
    batches = batches.drop_nulls(["reference", "sku"]).sample(n, seed=1, with_replacement=True)
    orders = lines.drop_nulls("order_id").sample(n, seed=2, with_replacement=True)
    return Names(
        batches["reference"].to_list(), batches["sku"].to_list(), orders["order_id"].to_list()
    )


def names_in(db: Path, n: int) -> tuple[Names, list[str], list[str]]:
    """Names sampled from the warehouse itself; SKUs with units left; batches holding some."""
    with duckdb.connect(str(db), read_only=True) as connection:

        def column(sql: str) -> list[str]:
            return [str(row[0]) for row in connection.sql(sql).fetchall()]

        names = Names(
            column(f"SELECT reference FROM batches USING SAMPLE {n} ROWS"),
            column(f"SELECT sku FROM batches USING SAMPLE {n} ROWS"),
            column(f"SELECT order_id FROM allocations USING SAMPLE {n} ROWS"),
        )
        stocked = column(
            "SELECT sku FROM (SELECT DISTINCT sku FROM batch_availability WHERE available > 0) "
            f"USING SAMPLE {n} ROWS"
        )
        held = column(
            "SELECT batch_ref FROM (SELECT DISTINCT batch_ref FROM allocations) "
            f"USING SAMPLE {n} ROWS"
        )
    return names, stocked, held


def one_at_a_time(base: str, db: Path, n: int) -> dict[str, Tally]:
    """`n` requests of each kind, one after another; their tallies by kind."""
    names, stocked, held = names_in(db, n)
    pick = random.Random(3)
    tallies: dict[str, Tally] = {}

    def timed(kind: str, client: httpx.Client, method: str, path: str, **sent: object) -> None:
        started = time.perf_counter()
        status = client.request(method, path, **sent).status_code  # type: ignore[arg-type]
        tallies.setdefault(kind, Tally()).add(time.perf_counter() - started, str(status))

    with httpx.Client(base_url=base, timeout=120, headers=WRITE) as client:
        for _ in range(3):  # the server warm: its snapshot open, its code loaded
            client.get(f"/batch/{names.references[0]}")
            client.get("/batch", params={"sku": names.skus[0]})
        for _ in range(n):  # reads before any write (the server may have built a read model)
            for kind, path, params in (
                ("GET /batch/{ref}", f"/batch/{pick.choice(names.references)}", {}),
                ("GET /batch?sku=", "/batch", {"sku": pick.choice(names.skus)}),
                ("GET /orders/{id}", f"/orders/{pick.choice(names.orders)}", {}),
                (
                    "GET /allocations?order_id=",
                    "/allocations",
                    {"order_id": pick.choice(names.orders)},
                ),
            ):
                timed(f"{kind}, no write yet", client, "GET", path, params=params)
        for i in range(n):
            timed("GET /batch/{ref}", client, "GET", f"/batch/{pick.choice(names.references)}")
            timed(
                "GET /batch?sku=", client, "GET", "/batch", params={"sku": pick.choice(names.skus)}
            )
            timed("GET /orders/{id}", client, "GET", f"/orders/{pick.choice(names.orders)}")
            order = pick.choice(names.orders)
            timed(
                "GET /allocations?order_id=",
                client,
                "GET",
                "/allocations",
                params={"order_id": order},
            )
            order_id = f"LOAD-{uuid.uuid4().hex[:12]}"
            line = {"order_id": order_id, "sku": stocked[i % len(stocked)], "qty": 1}
            timed("POST /allocations", client, "POST", "/allocations", json=line)
            timed("DELETE /allocations/{id}", client, "DELETE", f"/allocations/{order_id}")
            timed(
                "DELETE /batch/{ref}?force=true",
                client,
                "DELETE",
                f"/batch/{held[i]}",
                params={"force": "true"},
            )
    return tallies


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(
    db: Path, outbox: Path, port: int, source: Path | None = None
) -> subprocess.Popen[bytes]:
    """`allocation serve` (this checkout's, or the package in `source`) on `port`."""
    env = {**os.environ, "ALLOCATION_API_TOKEN": TOKEN}
    server = subprocess.Popen(
        [*launcher(source), "serve", "--port", str(port), f"--db={db}", f"--outbox={outbox}"],
        env=env,
    )
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        while time.monotonic() < deadline:
            try:
                if client.get("/openapi.json").status_code == 200:
                    return server
            except httpx.TransportError:
                time.sleep(0.2)
    server.terminate()
    raise RuntimeError("allocation serve did not answer within 120 s")


class Connection:
    """One keep-alive HTTP/1.1 connection: a request costs the client a write and two reads.

    The client shares the two cores with the server, so it does the least per request: no
    HTTP library, no parsing beyond the status and `Content-Length` (the server sends it).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, target: str, body: bytes = b"", auth: bool = False) -> str:
        """Send one request and read its answer whole; its status (or the error's name)."""
        head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if auth:
            head += f"Authorization: Bearer {TOKEN}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        try:
            if self.streams is None:
                self.streams = await asyncio.open_connection("127.0.0.1", self.port)
            reading, writing = self.streams
            writing.write(head.encode() + b"\r\n" + body)
            answer = await reading.readuntil(b"\r\n\r\n")
            length = _CONTENT_LENGTH.search(answer)
            if length is not None:
                await reading.readexactly(int(length[1]))
            return answer[9:12].decode()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            self.close()
            return type(error).__name__

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


_CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")


async def reader(port: int, names: Names, until: float, tally: Tally, seed: int) -> None:
    """Read in a loop until `until`: one of four look-ups, at random."""
    pick = random.Random(seed)
    connection = Connection(port)
    while time.monotonic() < until:
        choice = pick.randrange(4)
        if choice == 0:
            target = f"/batch/{quote(pick.choice(names.references))}"
        elif choice == 1:
            target = f"/batch?sku={quote(pick.choice(names.skus))}"
        elif choice == 2:
            target = f"/orders/{quote(pick.choice(names.orders))}"
        else:
            target = f"/allocations?order_id={quote(pick.choice(names.orders))}"
        started = time.perf_counter()
        status = await connection.request("GET", target)
        tally.add(time.perf_counter() - started, status)
    connection.close()


async def writer(port: int, names: Names, until: float, tally: Tally, seed: int) -> None:
    """Allocate a new one-unit line, then (if allocated) deallocate it, until `until`."""
    pick = random.Random(seed)
    connection = Connection(port)
    while time.monotonic() < until:
        order_id = f"LOAD-{uuid.uuid4().hex[:12]}"
        line = {"order_id": order_id, "sku": pick.choice(names.skus), "qty": 1}
        if await send(connection, tally, "POST", "/allocations", json.dumps(line).encode()) in (
            "201",
            "200",
        ):
            await send(connection, tally, "DELETE", f"/allocations/{quote(order_id)}")
    connection.close()


async def send(
    connection: Connection, tally: Tally, method: str, target: str, body: bytes = b""
) -> str:
    """One write, timed and tallied; its status (or the error's name)."""
    started = time.perf_counter()
    status = await connection.request(method, target, body, auth=True)
    tally.add(time.perf_counter() - started, status)
    return status


def phase(port: int, names: Names, seconds: float, clients: int, writers: int) -> dict[str, Tally]:
    """Run readers (and writers) for `seconds`, as coroutines of one thread; their tallies."""
    tallies = {"read": Tally(), "write": Tally()}
    until = time.monotonic() + seconds

    async def everyone() -> None:
        await asyncio.gather(
            *(reader(port, names, until, tallies["read"], n) for n in range(clients)),
            *(writer(port, names, until, tallies["write"], 1000 + n) for n in range(writers)),
        )

    asyncio.run(everyone())
    return tallies


class CpuShares:
    """The CPU the client (this process) and the server used over a phase, in cores."""

    def __init__(self, server: int) -> None:
        self.server = server
        self.started = (time.monotonic(), _own_cpu(), _cpu_of(server))

    def __str__(self) -> str:
        wall = time.monotonic() - self.started[0]
        client = (_own_cpu() - self.started[1]) / wall
        server = (_cpu_of(self.server) - self.started[2]) / wall
        return (
            f"CPU over the phase, in cores of {os.cpu_count()}: client {client:.2f}, "
            f"server {server:.2f}; server memory {_memory_of(self.server)}"
        )


def _own_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_of(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    found = dict(re.findall(r"(VmRSS|VmHWM):\s+(\d+) kB", status))
    return f"{int(found['VmRSS']) / 1024:.0f} MB (peak {int(found['VmHWM']) / 1024:.0f} MB)"


def latencies(tally: Tally) -> str:
    """A table row's p50, p99 and max (ms) and statuses of one kind of request."""
    cut = statistics.quantiles(tally.seconds, n=100, method="inclusive")
    return (
        f"{1000 * cut[49]:.0f} | {1000 * cut[98]:.0f} | {1000 * max(tally.seconds):.0f} "
        f"| {dict(sorted(tally.statuses.items()))}"
    )


def report(name: str, tallies: dict[str, Tally], seconds: float) -> None:
    """Print a phase's table rows: count, throughput and latencies of each kind of request."""
    for kind, tally in tallies.items():
        if not tally.seconds:
            continue
        count = len(tally.seconds)
        rate = count / seconds
        print(f"| {name} | {kind} | {count:,} | {rate:.0f} | {latencies(tally)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="1m")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=8, help="reading connections")
    parser.add_argument("--writers", type=int, default=2, help="writing connections (phase 2)")
    parser.add_argument(
        "--settle", type=float, default=10.0, help="seconds the server has before the reads"
    )
    parser.add_argument("--db", type=Path, help="use this warehouse (built from the preset)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--one-at-a-time", type=int, metavar="N", help="latency, not load")
    parser.add_argument("--source", type=Path, help="serve the package in this tree instead")
    args = parser.parse_args()
    if args.one_at_a_time:
        latency(args.db, args.one_at_a_time, args.source, args.settle)
        return
    lines, batches, skus = PRESETS[args.preset]
    size = Size(lines, batches, skus, files=1, seed=DEFAULT_SEED)
    root = Path(tempfile.mkdtemp(prefix="http-load-"))
    try:
        if args.db is not None and args.db.exists():
            db, names = args.db, names_of(*generate(size))
        else:
            db, names = build_warehouse(size, root)
            if args.db is not None:
                shutil.copy(db, args.db)
        port = free_port()
        server = start_server(db, root / "outbox", port, args.source)
        try:
            time.sleep(args.settle)
            print(f"\n{args.clients} readers, {args.writers} writers in phase 2, {args.seconds} s")
            print(
                f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}, "
                f"CPU yardstick {cpu_yardstick():.2f} s"
            )
            print("| phase | kind | requests | per s | p50 ms | p99 ms | max ms | statuses |")
            print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
            shares = CpuShares(server.pid)
            report("reads", phase(port, names, args.seconds, args.clients, 0), args.seconds)
            print(f"reads: {shares}", flush=True)
            shares = CpuShares(server.pid)
            mixed = phase(port, names, args.seconds, args.clients, args.writers)
            report("reads + writes", mixed, args.seconds)
            print(f"reads + writes: {shares}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
        check = subprocess.run([ALLOCATION, "check", f"--db={db}"], capture_output=True, text=True)
        print(f"\nallocation check: exit {check.returncode}: {check.stdout.strip()}")
        print(f"load {os.getloadavg()[0]:.1f}, CPU yardstick {cpu_yardstick():.2f} s")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def latency(db: Path, n: int, source: Path | None = None, settle: float = 0.0) -> None:
    """Serve the warehouse `db` and measure `n` requests of each kind, one at a time."""
    with tempfile.TemporaryDirectory(prefix="http-latency-") as folder:
        port = free_port()
        server = start_server(db, Path(folder) / "outbox", port, source)
        try:
            time.sleep(settle)
            print(
                f"{db} ({db.stat().st_size / 1e6:.0f} MB), {n} of each, one at a time; "
                f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}, "
                f"CPU yardstick {cpu_yardstick():.2f} s"
            )
            print("| kind | requests | p50 ms | p99 ms | max ms | statuses |")
            print("| --- | ---: | ---: | ---: | ---: | --- |")
            for kind, tally in one_at_a_time(f"http://127.0.0.1:{port}", db, n).items():
                print(f"| {kind} | {len(tally.seconds)} | {latencies(tally)} |", flush=True)
            print(f"server memory {_memory_of(server.pid)}")
        finally:
            server.terminate()
            server.wait(timeout=60)
        print(f"load {os.getloadavg()[0]:.1f}, CPU yardstick {cpu_yardstick():.2f} s")


if __name__ == "__main__":
    main()
