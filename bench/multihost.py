"""Past one machine, side by side in one run on each engine (SQLite under ``label-studio start``; PostgreSQL under
gunicorn with two workers per core):

- delivery from 1 producer vs 4 producers (processes with an outbox each, as separate hosts), each logging its
  share of the same total of runs through the handler and waiting until all are in Label Studio, vs the raw bulk
  import of the same payloads by as many clients at once (``bench/concurrent_imports.py``);
- ``ls-langchain predict`` over a project with 1 run vs 2 shards at once (``--shard 1/2`` and ``2/2``), the LLM a
  ``FakeOpenAI`` test double holding each answer 200 ms.

Wall times include starting Python in each producer or predict process. Every contender runs once per round,
interleaved, each into a new project; the tables give the medians over the rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, local_studio, table
from concurrent_imports import run as raw_imports

sys.path[:0] = [str(ROOT / "tests")]
from ls_langchain.labeling import LabelStudioMode, default_config  # noqa: E402
from ls_langchain.localstudio import Engine, LocalStudio  # noqa: E402
from ls_langchain.studio import Studio  # noqa: E402

from fake_openai import FakeOpenAI, Reply  # noqa: E402
from seed_configs import PROMPT_ENGINEERING  # noqa: E402

CHILD = ROOT / "tests" / "integration" / "delivery_child.py"


def producers(server: LocalStudio, hosts: int, total: int) -> float:
    """``hosts`` producer processes, an outbox each, ``total`` runs in all; seconds until every one has flushed."""
    studio = Studio(server.url, server.personal_token())
    title = f"bench-hosts-{hosts}-{time.time()}"
    project = studio.create_project(title, default_config(LabelStudioMode.PROMPT))
    env = {**os.environ, "LABEL_STUDIO_API_KEY": server.personal_token()}
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(CHILD),
                    server.url,
                    title,
                    str(Path(scratch) / f"host-{h}"),
                    str(total // hosts),
                    f"h{h}",
                    "flush",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for h in range(hosts)
        ]
        assert [child.wait() for child in children] == [0] * hosts
        seconds = time.perf_counter() - started
    assert studio.count_tasks(project.id) == total
    return seconds


def judge(request: dict[str, Any]) -> Reply:
    return Reply.of_json({"answer": "Plausible.", "evals": ["Correctness: Correct"], "rating": 4})


def shards(server: LocalStudio, llm: FakeOpenAI, count: int, tasks: int, model_dir: str) -> float:
    """``count`` predict processes at once over a project of ``tasks`` tasks; seconds until the last one ended."""
    studio = Studio(server.url, server.personal_token())
    project = studio.create_project(f"bench-shards-{count}-{time.time()}", PROMPT_ENGINEERING)
    texts = [{"text": f"Claim number {i}: water boils at {i % 90 + 10} C."} for i in range(tasks)]
    for start in range(0, tasks, 500):
        studio.import_tasks(project.id, texts[start : start + 500])
    env = {
        **os.environ,
        "LABEL_STUDIO_URL": server.url,
        "LABEL_STUDIO_API_KEY": server.personal_token(),
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_MODEL": "gpt-4o-mini",
        "MAX_CONCURRENCY": "16",
        "MODEL_DIR": model_dir,
    }
    command = [sys.executable, "-m", "ls_langchain.cli", "predict", "--project", str(project.id), "--prompt", "Judge"]
    started = time.perf_counter()
    runs = [
        subprocess.Popen(
            [*command, *(["--shard", f"{i}/{count}"] if count > 1 else [])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(1, count + 1)
    ]
    outputs = [run.communicate()[0] for run in runs]
    seconds = time.perf_counter() - started
    assert [run.returncode for run in runs] == [0] * count, outputs
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=2000, help="tasks of the project predicted with shards")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every contender, interleaved; medians")
    parser.add_argument("--engines", nargs="+", default=["postgresql", "sqlite"])
    args = parser.parse_args()
    delivery, predict = [], []
    with FakeOpenAI(responder=judge, delay=0.2) as llm, tempfile.TemporaryDirectory() as model_dir:
        for name in args.engines:
            engine: Engine = name
            with local_studio(engine) as server:
                label = f"{engine} ({server.workers} gunicorn workers)" if server.database else f"{engine} (runserver)"
                times: dict[str, list[float]] = {
                    "raw1": [],
                    "raw4": [],
                    "one": [],
                    "four": [],
                    "whole": [],
                    "halves": [],
                }
                for _ in range(args.rounds):
                    times["raw1"].append(raw_imports(server, 1, args.runs, 500)["seconds"])
                    times["one"].append(producers(server, 1, args.runs))
                    times["raw4"].append(raw_imports(server, 4, args.runs, 500)["seconds"])
                    times["four"].append(producers(server, 4, args.runs))
                    times["whole"].append(shards(server, llm, 1, args.tasks, model_dir))
                    times["halves"].append(shards(server, llm, 2, args.tasks, model_dir))
                    print(label, {k: [round(v, 1) for v in vs] for k, vs in times.items()}, flush=True)
                m = {key: statistics.median(samples) for key, samples in times.items()}
                best = {1: m["raw1"], 4: min(m["raw1"], m["raw4"])}
                for name_, key, against in (
                    ("raw bulk import, 1 client", "raw1", best[1]),
                    ("1 producer (handler, outbox)", "one", best[1]),
                    ("raw bulk import, 4 clients at once", "raw4", best[4]),
                    ("4 producers, an outbox each", "four", best[4]),
                ):
                    delivery.append(
                        [label, name_, f"{m[key]:.1f}", f"{args.runs / m[key]:,.0f}", f"{against / m[key]:.2f}x"]
                    )
                predict.append([label, "1 run", f"{m['whole']:.1f}", f"{args.tasks / m['whole']:.1f}", "1.00x"])
                predict.append(
                    [
                        label,
                        "2 shards at once",
                        f"{m['halves']:.1f}",
                        f"{args.tasks / m['halves']:.1f}",
                        f"{m['whole'] / m['halves']:.2f}x",
                    ]
                )
    print(f"\n### Delivery from many hosts ({args.runs} runs with a prediction each; medians of {args.rounds})\n")
    header = ["Label Studio", "path", "seconds", "tasks/s", "rate vs best raw import at that concurrency"]
    print(table(header, delivery))
    print(
        f"\n### ls-langchain predict --shard ({args.tasks} tasks, LLM latency 200 ms, MAX_CONCURRENCY=16 each; "
        f"medians of {args.rounds})\n"
    )
    print(table(["Label Studio", "run", "seconds", "tasks/s", "speed-up"], predict))


if __name__ == "__main__":
    main()
