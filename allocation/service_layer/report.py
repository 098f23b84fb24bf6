"""The run summary in figures and as Markdown, for the runs table, the CLI and Prefect."""

from __future__ import annotations

from allocation.service_layer.allocating import AllocationReport
from allocation.service_layer.loading import LoadReport
from allocation.service_layer.runs import RunSummary


def run_figures(load: LoadReport, allocation: AllocationReport) -> dict[str, int]:
    """The counts recorded in `runs` for one run."""
    return {
        "files_read": load.count("loaded") + load.count("rejected"),
        "files_skipped": load.count("skipped"),
        "files_rejected": load.count("rejected"),
        "rows_read": load.rows_read,
        "rows_loaded": load.rows_loaded,
        "rows_rejected": load.rows_rejected,
        "duplicate_lines": load.duplicate_lines,
        "lines_allocated_full": allocation.lines_allocated_full,
        "lines_allocated_part": allocation.lines_allocated_part,
        "lines_unallocated": allocation.lines_unallocated,
        "units_allocated": allocation.units_allocated,
        "units_short": allocation.units_short,
        "pick_list_lines": allocation.pick_list_lines,
    }


def summary_markdown(summary: RunSummary, load: LoadReport, written: list[str]) -> str:
    """A Markdown summary of the run: files, rows, lines allocated, shortages, outputs."""
    s = summary
    lines = [
        f"# Nightly allocation {s.run_id}",
        "",
        f"Run date **{s.run_date}**, policy **{s.policy}**, status **{s.status}**.",
        "",
        "| figure | value |",
        "| --- | ---: |",
        f"| files read / skipped / rejected | {s.files_read} / {s.files_skipped} / "
        f"{s.files_rejected} |",
        f"| rows read / loaded / rejected | {s.rows_read} / {s.rows_loaded} / {s.rows_rejected} |",
        f"| duplicate lines (already known) | {s.duplicate_lines} |",
        f"| lines allocated in full / in part / not at all | {s.lines_allocated_full} / "
        f"{s.lines_allocated_part} / {s.lines_unallocated} |",
        f"| units allocated / short | {s.units_allocated} / {s.units_short} |",
        f"| pick-list lines | {s.pick_list_lines} |",
        "",
        "## Files",
        "",
        "| file | status | read | loaded | rejected | reason |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    lines += [
        f"| {f.location} | {f.status} | {f.rows_read} | {f.rows_loaded} | {f.rows_rejected} "
        f"| {f.reason or ''} |"
        for f in load.files
    ]
    if load.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in load.warnings]
    if written:
        lines += ["", "## Published", ""] + [f"- {w}" for w in written]
    return "\n".join(lines) + "\n"
