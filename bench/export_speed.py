"""Export speed against Label Studio's own export endpoint, on one project, side by side in one run.

The project holds annotated prompt-mode tasks (a prediction and an edited, rated annotation each). Each round times
Label Studio's ``GET /api/projects/{id}/export?exportType=JSON&download_all_tasks=true`` streamed to disk, then
``ls-langchain export --format sft`` and ``--format eval`` and ``evaluate`` on the same project; the table gives the
medians, the ratio to the endpoint, and the peak of Python allocations during our runs (tracemalloc).

    .venv/bin/python bench/export_speed.py --tasks 10000 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import httpx
from _common import local_studio, table
from export_memory import _fill

from ls_langchain.evaluation import evaluate_project
from ls_langchain.export import export_project
from ls_langchain.studio import Studio


def _endpoint(studio: Studio, project: int, out: Path) -> None:
    """Label Studio's own export, as a browser downloads it."""
    headers = studio.client._client_wrapper.get_headers()
    params = {"exportType": "JSON", "download_all_tasks": "true"}
    url = f"{studio.url}/api/projects/{project}/export"
    with httpx.stream("GET", url, params=params, headers=headers, timeout=3600) as response, out.open("wb") as file:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            file.write(chunk)


def _timed(run: Callable[[], object], *, trace: bool) -> tuple[float, float]:
    """Seconds, and the peak of Python allocations in MiB when traced."""
    if trace:
        tracemalloc.start()
    began = time.perf_counter()
    run()
    seconds = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else 0.0
    if trace:
        tracemalloc.stop()
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with local_studio() as server, tempfile.TemporaryDirectory() as scratch:
        studio = Studio(server.url, server.personal_token(), timeout=600)
        project = _fill(studio, args.tasks)
        out = Path(scratch)
        contenders: dict[str, tuple[Callable[[], object], bool]] = {
            "Label Studio's export endpoint": (lambda: _endpoint(studio, project, out / "ls.json"), False),
            "ls-langchain export --format sft": (
                lambda: export_project(studio, project, "sft", out / "sft.jsonl"),
                True,
            ),
            "ls-langchain export --format eval": (
                lambda: export_project(studio, project, "eval", out / "eval" / "report.md"),
                True,
            ),
            "ls-langchain evaluate": (lambda: evaluate_project(studio, project, out / "evaluate"), True),
        }
        seconds: dict[str, list[float]] = {name: [] for name in contenders}
        peaks: dict[str, list[float]] = {name: [] for name in contenders}
        for round_ in range(args.rounds):
            for name, (run, trace) in contenders.items():
                spent, peak = _timed(run, trace=trace)
                seconds[name].append(spent)
                peaks[name].append(peak)
                print(f"round {round_ + 1}: {name}: {spent:.1f} s", flush=True)
    reference = statistics.median(seconds["Label Studio's export endpoint"])
    rows = []
    for name in contenders:
        median = statistics.median(seconds[name])
        peak = f"{max(peaks[name]):.1f}" if contenders[name][1] else "(server side)"
        rows.append(
            (name, args.tasks, f"{median:.1f}", f"{args.tasks / median:,.0f}", f"{reference / median:.2f}x", peak)
        )
    header = ("run", "tasks", "median (s)", "tasks/s", "speed vs endpoint", "peak Python memory (MiB)")
    print()
    print(table(header, rows))


if __name__ == "__main__":
    main()
