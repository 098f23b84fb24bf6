"""Publishing a run's outputs to the outbox as Parquet files the WMS can trust.

Each output goes to `<name>/run_date=YYYY-MM-DD/<run_id>.parquet` (zstd). A manifest,
`manifests/run_date=YYYY-MM-DD/<run_id>.json`, is written last, after every file is in place:
a reader imports a run only once its manifest exists, so it never acts on half a run.
Every object write is itself atomic (see `ObjectStorage.write`). Publishing the same run
again rewrites the same names with the same content, so a retried publish is harmless.
"""

from __future__ import annotations

import abc
import json
from datetime import date

from allocation.adapters.storage import ObjectStorage
from allocation.adapters.warehouse_exports import OutputFile
from allocation.faults import fault_point


class Publisher(abc.ABC):
    """Where a run's outputs go."""

    @abc.abstractmethod
    def publish(self, run_id: str, run_date: date, outputs: dict[str, OutputFile]) -> list[str]:
        """Publish every output of one run (local Parquet files), then its manifest.

        Return the locations written.
        """


class ParquetPublisher(Publisher):
    """Writes Parquet files and a JSON manifest to object storage (a local folder or S3)."""

    def __init__(self, outbox: ObjectStorage) -> None:
        self.outbox = outbox

    def publish(self, run_id: str, run_date: date, outputs: dict[str, OutputFile]) -> list[str]:
        """Copy each output's file to the outbox, then write the manifest that shows the run."""
        partition = f"run_date={run_date.isoformat()}"
        keys: list[str] = []
        files: dict[str, dict[str, object]] = {}
        for name, output in outputs.items():
            key = f"{name}/{partition}/{run_id}.parquet"
            self.outbox.write_file(key, output.path)
            fault_point("mid-publish")
            files[name] = {"path": key, "rows": output.rows}
            keys.append(key)
        manifest = {"run_id": run_id, "run_date": run_date.isoformat(), "files": files}
        keys.append(f"manifests/{partition}/{run_id}.json")
        self.outbox.write(keys[-1], json.dumps(manifest, indent=2).encode())
        return [self.outbox.describe(key) for key in keys]
