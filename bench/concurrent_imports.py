"""Concurrent bulk imports into one Label Studio: are predictions lost, and how does throughput scale?

For each engine (SQLite under ``label-studio start``; PostgreSQL under gunicorn with two workers per core) and each
concurrency C, C clients import the same total of tasks (one prediction each, a unique answer per task) into one
project at once, in batches. Then every task is read back through Label Studio's export: a prediction is counted
as lost when a task has none, and as misplaced when a task holds another task's answer.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

from _common import local_studio, table

from ls_langchain.labeling import LabelStudioMode, default_config, read_layout
from ls_langchain.localstudio import Engine, LocalStudio
from ls_langchain.studio import Studio
from ls_langchain.tasks import RunRecord, build_task


def payloads(prefix: str, count: int) -> list[dict[str, Any]]:
    layout = read_layout(default_config(LabelStudioMode.PROMPT))
    return [
        build_task(
            RunRecord(id=f"{prefix}-{i}", responses=[f"answer {prefix}-{i}"], prompt=f"prompt {prefix}-{i}"), layout
        )
        for i in range(count)
    ]


def raw_import(studio: Studio, project_id: int, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """One bulk import as Label Studio answers it (no checks: this measures what the server does)."""
    response = studio.client._client_wrapper.httpx_client.request(
        f"api/projects/{project_id}/import",
        method="POST",
        params={"return_task_ids": True},
        content=json.dumps(tasks).encode(),
        headers={"content-type": "application/json"},
        request_options={"timeout_in_seconds": 300},
    )
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def answer_of(prediction: dict[str, Any]) -> str:
    return str(prediction["result"][0]["value"]["text"][0])


def run(server: LocalStudio, concurrency: int, total: int, batch: int) -> dict[str, Any]:
    """C clients at once, ``total`` tasks in all; returns the rate and what was lost."""
    key = server.personal_token()
    admin = Studio(server.url, key)
    project = admin.create_project(f"concurrent-{concurrency}-{time.time()}", default_config(LabelStudioMode.PROMPT))
    share = total // concurrency
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        studio = Studio(server.url, key, timeout=300)
        tasks = payloads(f"c{index}", share)
        for start in range(0, share, batch):
            answer = raw_import(studio, project.id, tasks[start : start + batch])
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    stored = list(admin.export_tasks(project.id))
    lost = sum(1 for task in stored if not task.get("predictions"))
    misplaced = sum(
        1
        for task in stored
        for prediction in task.get("predictions") or ()
        if answer_of(prediction) != "answer " + str(task["data"]["prompt"]).removeprefix("prompt ")
    )
    short_answers = sum(1 for a in answers if a.get("prediction_count") != a.get("task_count"))
    return {
        "tasks": len(stored),
        "seconds": seconds,
        "lost": lost,
        "misplaced": misplaced,
        "short_answers": short_answers,
        "imports": len(answers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--total", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    rows = []
    for engine in args.engines:
        name: Engine = engine
        with local_studio(name) as server:
            workers = f"{server.workers} gunicorn workers" if server.database else "label-studio start"
            for concurrency in args.concurrency:
                result = run(server, concurrency, args.total, args.batch)
                rows.append(
                    [
                        f"{engine} ({workers})",
                        concurrency,
                        result["tasks"],
                        f"{result['seconds']:.1f}",
                        f"{result['tasks'] / result['seconds']:,.0f}",
                        f"{result['short_answers']}/{result['imports']}",
                        result["lost"],
                        result["misplaced"],
                    ]
                )
                print(rows[-1], flush=True)
    print(f"\n### Concurrent bulk imports ({args.total} tasks with a prediction each, batches of {args.batch})\n")
    header = ["Label Studio", "imports at once", "tasks stored", "seconds", "tasks/s", "answers short of predictions",
              "tasks without prediction", "predictions on the wrong task"]  # fmt: skip
    print(table(header, rows))


if __name__ == "__main__":
    main()
