"""Two versions of the job, the same nights: are the WMS files and the analysts' tables the same?

Runs two nights (the second with arrivals, batch cuts below their picks, cancellations and new
lines) through `run_night` in each interpreter given (a virtualenv whose `allocation` is the
version to compare), then compares every Parquet file of the outbox and every table and view
of the warehouse, with run ids mapped to their order and wall-clock columns left out.

    python benchmarks/same_outputs.py --before /path/to/old/.venv/bin/python [--lines 100000]
    python benchmarks/same_outputs.py --before ... --shards 4  # each night planned in 4 shards
    python benchmarks/same_outputs.py --before .venv/bin/python --before-path /tmp/old

`--before` and `--after` are interpreters; each runs the `allocation` its environment imports,
the one before from the source tree `--before-path` when given (put first on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import polars as pl
from pipeline import Size, generate
from polars.testing import assert_frame_equal

TIMES = {"started_at", "finished_at", "published_at", "recorded_at", "duration_s", "received_at"}
TABLES = (
    "batches",
    "order_lines",
    "allocations",
    "runs",
    "ingested_files",
    "rejects",
    "run_allocations",
    "pick_list_lines",
    "run_shortages",
    "withdrawals",
    "ledger",
    "batch_availability",
    "open_lines",
    "sku_summary",
    "run_history",
)
NIGHTS = """
import shutil, sys
import allocation
print("nights of", allocation.__file__, flush=True)
from datetime import date
from pathlib import Path
from allocation.domain.policy import Policy
from allocation.service_layer.nightly import run_night

src, out, policy = Path(sys.argv[1]), Path(sys.argv[2]), Policy(sys.argv[3])
shards = int(sys.argv[4]) if sys.argv[4] != "auto" else None
for night, day in (("n1", date(2026, 11, 26)), ("n2", date(2026, 11, 27))):
    shutil.copytree(src / night, out / "inbox", dirs_exist_ok=True)
    run_night(inbox_url=str(out / "inbox"), outbox_url=str(out / "outbox"),
              db=str(out / "w.duckdb"), policy=policy, run_date=day, shards=shards)
"""


def write_nights(root: Path, lines: int) -> None:
    """Night 1: the benchmark's inputs; night 2: arrivals, cuts, cancellations, new lines."""
    batches, order_lines = generate(
        Size(lines=lines, batches=lines // 10, skus=lines // 50, files=1, seed=7)
    )
    for folder in ("n1/batches", "n1/order_lines", "n2/batches", "n2/order_lines"):
        (root / folder).mkdir(parents=True)
    (root / "n2/cancellations").mkdir()
    batches.write_parquet(root / "n1/batches/b1.parquet")
    order_lines.write_parquet(root / "n1/order_lines/l1.parquet")
    every_fifth = batches.filter(pl.int_range(pl.len()) % 5 == 0)
    every_fifth.with_columns(  # in stock: cut to one unit; inbound: arrived
        purchased_quantity=pl.when(pl.col("eta").is_null())
        .then(1)
        .otherwise(pl.col("purchased_quantity")),
        eta=pl.lit(None, pl.Date),
    ).write_parquet(root / "n2/batches/b2.parquet")
    order_lines.head(lines // 20).with_columns(order_id=pl.col("order_id") + "-n2").write_parquet(
        root / "n2/order_lines/l2.parquet"
    )
    cancelled = order_lines.select("order_id").unique().sort("order_id").head(lines // 200)
    cancelled.with_columns(sku=pl.lit(None, pl.String)).write_csv(root / "n2/cancellations/c2.csv")


def normalised(frame: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    """Wall-clock columns dropped, run ids and the run's folder replaced, rows sorted."""
    frame = frame.drop([column for column in frame.columns if column in TIMES])
    for column, dtype in frame.schema.items():
        if dtype == pl.String:
            text = pl.col(column)
            for name, stand_in in names.items():
                text = text.str.replace_all(name, stand_in, literal=True)
            frame = frame.with_columns(text)
    return frame.sort(frame.columns)


def outputs(root: Path) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """The warehouse's tables and views, and the outbox's Parquet files, normalised."""
    with duckdb.connect(str(root / "w.duckdb"), read_only=True) as con:
        runs = con.sql("SELECT run_id FROM runs ORDER BY started_at").fetchall()
        names = {str(root): "ROOT", **{run: f"RUN{i}" for i, (run,) in enumerate(runs)}}
        tables = {t: normalised(con.sql(f"SELECT * FROM {t}").pl(), names) for t in TABLES}
    files = {
        f"{path.relative_to(root / 'outbox').parts[0]}/{names[path.stem]}": normalised(
            pl.read_parquet(path), names
        )
        for path in sorted((root / "outbox").rglob("*.parquet"))
    }
    return tables, files


def main() -> None:
    """Run both versions on the same nights, for both policies, and compare."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="python of the version to compare with")
    parser.add_argument("--after", default=sys.executable, help="python of this version")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--shards", type=int, help="plan each night in N shards (both versions)")
    parser.add_argument(
        "--before-path", help="PYTHONPATH for the version before (a source tree, e.g. /tmp/old)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        write_nights(root / "in", args.lines)
        for policy in ("split", "whole"):
            seen = []
            for version, python in (("before", args.before), ("after", args.after)):
                out = root / f"{version}-{policy}"
                env = dict(os.environ)
                if version == "before" and args.before_path:
                    env["PYTHONPATH"] = args.before_path
                shards = str(args.shards) if args.shards else "auto"
                # Run from the scratch folder: `-c` puts the current folder first on the path,
                # ahead of PYTHONPATH, so from a checkout "before" would import this version.
                subprocess.run(
                    [Path.cwd() / python, "-c", NIGHTS, root / "in", out, policy, shards],
                    check=True,
                    env=env,
                    cwd=root,
                )
                seen.append(outputs(out))
            (tables, files), (tables_after, files_after) = seen
            assert files.keys() == files_after.keys(), (files.keys(), files_after.keys())
            for key, frame in files.items():
                assert_frame_equal(frame, files_after[key], check_column_order=False)
            for name, frame in tables.items():
                assert_frame_equal(
                    frame, tables_after[name], check_column_order=False, check_dtypes=False
                )
            rows = {t: tables[t].height for t in ("allocations", "ledger", "withdrawals")}
            print(
                f"{policy}, {args.lines:,} lines, shards {args.shards or 'auto'}: identical, "
                f"{len(files)} Parquet files and {len(TABLES)} tables; {rows}"
            )


if __name__ == "__main__":
    main()
