"""Export time and memory against project size: SFT and eval exports of projects of growing size.

Each project holds annotated prompt-mode tasks (a prediction and an edited answer each, imported in bulk). Memory is
the peak of Python allocations during the export (tracemalloc), so a streaming export stays flat as projects grow.

    .venv/bin/python bench/export_memory.py --tasks 1000 10000 100000 [--formats sft]

Uses LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY when both are set, else starts a local Label Studio for the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ls_langchain.export import export_project
from ls_langchain.labeling import LabelStudioMode, default_config
from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import Studio

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / ".cache" / "labelstudio-template"  # the migrated data dir the test suite keeps
_BATCH = 1000


@contextmanager
def _studio() -> Iterator[Studio]:
    if os.environ.get("LABEL_STUDIO_URL") and os.environ.get("LABEL_STUDIO_API_KEY"):
        yield Studio(os.environ["LABEL_STUDIO_URL"], os.environ["LABEL_STUDIO_API_KEY"], timeout=120)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        if (TEMPLATE / "label_studio.sqlite3").exists():
            shutil.copytree(TEMPLATE, data_dir)
        with LocalStudio(data_dir) as server:
            yield Studio(server.url, server.personal_token(), timeout=120)


def _task(i: int) -> dict[str, object]:
    def answer(text: str) -> list[dict[str, object]]:
        return [{"from_name": "response", "to_name": "prompt", "type": "textarea", "value": {"text": [text]}}]

    rating = {"from_name": "rating", "to_name": "prompt", "type": "rating", "value": {"rating": 1 + i % 5}}
    return {
        "data": {"prompt": f"Question {i}: what is {i} squared? Explain the steps.", "context": []},
        "predictions": [{"model_version": f"model-{i % 2}", "result": answer(f"{i} squared is {i * i + i % 3}.")}],
        "annotations": [{"result": [*answer(f"{i} squared is {i * i}, since {i} x {i} = {i * i}."), rating]}],
    }


def _fill(studio: Studio, size: int) -> int:
    project = studio.create_project(f"bench-export-{size}-{time.time_ns()}", default_config(LabelStudioMode.PROMPT))
    for start in range(0, size, _BATCH):
        studio.import_tasks(project.id, [_task(i) for i in range(start, min(size, start + _BATCH))])
    return project.id


def _measure(studio: Studio, project: int, format: str, out: Path) -> tuple[float, float, int]:
    tracemalloc.start()
    began = time.perf_counter()
    summary = export_project(studio, project, format, out)  # type: ignore[arg-type]
    seconds = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / 2**20, summary.records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--formats", nargs="+", choices=["sft", "eval"], default=["sft", "eval"])
    args = parser.parse_args()
    rows = []
    with _studio() as studio, tempfile.TemporaryDirectory() as out_dir:
        for size in args.tasks:
            began = time.perf_counter()
            project = _fill(studio, size)
            filled = time.perf_counter() - began
            for format, name in (("sft", "sft.jsonl"), ("eval", "report.md")):
                if format not in args.formats:
                    continue
                seconds, peak, records = _measure(studio, project, format, Path(out_dir) / name)
                rows.append((size, format, filled, seconds, size / seconds, peak, records))
                print(f"{size} tasks, {format}: {seconds:.1f} s, peak {peak:.1f} MiB", flush=True)
    print("\n| tasks | format | import (s) | export (s) | tasks/s | peak Python memory (MiB) | records |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size, format, filled, seconds, rate, peak, records in rows:
        print(f"| {size:,} | {format} | {filled:.1f} | {seconds:.1f} | {rate:,.0f} | {peak:.1f} | {records:,} |")


if __name__ == "__main__":
    main()
