"""Evaluate time and memory against project size, beside the SFT export of the same project in the same run.

Each project holds annotated tasks with a Choices, a Rating and a response TextArea, predicted by two model versions
(one annotation and two predictions per task, imported in bulk); ``evaluate`` compares the two versions (bootstrap
intervals and McNemar's test included) and writes its report. Memory is the peak of Python allocations during the
run (tracemalloc; numpy reports its arrays to it), so what grows with the project shows.

    .venv/bin/python bench/evaluate_memory.py --tasks 10000 100000
    .venv/bin/python bench/evaluate_memory.py --offline --tasks 10000 100000

``--offline`` feeds the same tasks, made one at a time, straight to the evaluation (its private ``_Run``) and writes
the report: the evaluation's own time and memory, without Label Studio building and sending the export.

Uses LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY when both are set, else starts a local Label Studio for the run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from _common import local_studio, table

from ls_langchain.evaluation import evaluate_project
from ls_langchain.export import export_project
from ls_langchain.studio import Studio

CONFIG = """<View>
  <Text name="prompt" value="$prompt"/>
  <Choices name="verdict" toName="prompt"><Choice value="good"/><Choice value="bad"/><Choice value="unsure"/></Choices>
  <Rating name="rating" toName="prompt"/>
  <TextArea name="response" toName="prompt" rows="4" editable="true"/>
</View>"""
_BATCH = 1000
_LABELS = ("good", "bad", "unsure")


@contextmanager
def _studio() -> Iterator[Studio]:
    if os.environ.get("LABEL_STUDIO_URL") and os.environ.get("LABEL_STUDIO_API_KEY"):
        yield Studio(os.environ["LABEL_STUDIO_URL"], os.environ["LABEL_STUDIO_API_KEY"], timeout=300)
        return
    with local_studio() as server:
        yield Studio(server.url, server.personal_token(), timeout=300)


def _result(label: str, stars: int, text: str) -> list[dict[str, Any]]:
    return [
        {"from_name": "verdict", "to_name": "prompt", "type": "choices", "value": {"choices": [label]}},
        {"from_name": "rating", "to_name": "prompt", "type": "rating", "value": {"rating": stars}},
        {"from_name": "response", "to_name": "prompt", "type": "textarea", "value": {"text": [text]}},
    ]


def _task(i: int) -> dict[str, Any]:
    truth = _LABELS[i % 3]
    answer = f"{i} squared is {i * i}, since {i} x {i} = {i * i}."
    return {
        "data": {"prompt": f"Question {i}: what is {i} squared? Explain the steps."},
        "predictions": [
            {"model_version": "v-a", "result": _result(_LABELS[i % 2], 1 + i % 5, f"{i} squared is {i * i + i % 3}.")},
            {"model_version": "v-b", "result": _result(truth if i % 4 else "bad", 1 + i % 4, answer)},
        ],
        "annotations": [{"result": _result(truth, 1 + i % 5, answer)}],
    }


def _fill(studio: Studio, size: int) -> int:
    project = studio.create_project(f"bench-evaluate-{size}-{time.time_ns()}", CONFIG)
    for start in range(0, size, _BATCH):
        studio.import_tasks(project.id, [_task(i) for i in range(start, min(size, start + _BATCH))])
    return project.id


def _measure(run: Callable[[], object]) -> tuple[float, float]:
    tracemalloc.start()
    began = time.perf_counter()
    run()
    seconds = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / 2**20


def _offline(size: int, out: Path) -> None:
    from ls_langchain.evaluation.controls import compared_controls
    from ls_langchain.evaluation.project import _Run
    from ls_langchain.evaluation.report import write_report
    from ls_langchain.export import Filters

    run = _Run(compared_controls(CONFIG), ("v-a", "v-b"), "latest", Filters(annotated_only=False))
    for i in range(size):
        task = {"id": i + 1, **_task(i)}
        for k, prediction in enumerate(task["predictions"]):
            prediction["id"] = 2 * i + k
        for annotation in task["annotations"]:
            annotation.update(id=i + 1, completed_by=1, created_at="2026-01-01T00:00:00Z", was_cancelled=False)
        run.add(task)
    write_report(run.report(0, "offline", "Filters: none."), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--offline", action="store_true", help="the evaluation alone, on tasks made here")
    args = parser.parse_args()
    rows = []
    if args.offline:
        with tempfile.TemporaryDirectory() as out_dir:
            for size in args.tasks:
                seconds, peak = _measure(partial(_offline, size, Path(out_dir)))
                rows.append(
                    (f"{size:,}", "evaluate offline", f"{seconds:.1f}", f"{size / seconds:,.0f}", f"{peak:.1f}")
                )
                print(f"{size} tasks, offline: {seconds:.1f} s, peak {peak:.1f} MiB", flush=True)
        print(table(["tasks", "run", "seconds", "tasks/s", "peak Python memory (MiB)"], rows))
        return
    with _studio() as studio, tempfile.TemporaryDirectory() as out_dir:
        for size in args.tasks:
            began = time.perf_counter()
            project = _fill(studio, size)
            print(f"{size} tasks imported in {time.perf_counter() - began:.1f} s", flush=True)
            runs: dict[str, Callable[[], object]] = {
                "export --format sft": partial(export_project, studio, project, "sft", Path(out_dir) / "sft.jsonl"),
                "evaluate, 2 versions compared": partial(
                    evaluate_project, studio, project, Path(out_dir) / "eval", model_versions=["v-a", "v-b"]
                ),
            }
            for name, run in runs.items():
                seconds, peak = _measure(run)
                rows.append((f"{size:,}", name, f"{seconds:.1f}", f"{size / seconds:,.0f}", f"{peak:.1f}"))
                print(f"{size} tasks, {name}: {seconds:.1f} s, peak {peak:.1f} MiB", flush=True)
    print()
    print(table(["tasks", "run", "seconds", "tasks/s", "peak Python memory (MiB)"], rows))


if __name__ == "__main__":
    main()
