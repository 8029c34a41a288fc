"""``ls-langchain predict`` over a whole project: tasks per second against the ideal that the LLM's latency and the
concurrency set (``MAX_CONCURRENCY / latency``), with the bulk imports into a real local Label Studio included.

The command runs as users run it, in its own process; the LLM is ``FakeOpenAI`` (the tests' OpenAI-compatible test
double, in this process) holding every request 200 ms, behind the real ``ChatOpenAI``. The config is the prompt
engineering seed (Taxonomy of evals, Rating, response). The rate is the run's own (from its summary line); the wall
time includes starting Python.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

from _common import ROOT, local_studio, table

sys.path[:0] = [str(ROOT / "tests")]
from ls_langchain.studio import Studio  # noqa: E402

from fake_openai import FakeOpenAI, Reply  # noqa: E402
from seed_configs import PROMPT_ENGINEERING  # noqa: E402


def judge(request: dict[str, Any]) -> Reply:
    return Reply.of_json({"answer": "Plausible.", "evals": ["Correctness: Correct"], "rating": 4})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the LLM takes per answer")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    args = parser.parse_args()

    rows = []
    with (
        FakeOpenAI(responder=judge, delay=args.latency) as llm,
        local_studio() as ls,
        tempfile.TemporaryDirectory() as d,
    ):
        studio = Studio(ls.url, ls.personal_token())
        for concurrency in args.concurrency:
            project = studio.create_project(f"bench-predict-{concurrency}", PROMPT_ENGINEERING)
            texts = [{"text": f"Claim number {i}: water boils at {i % 90 + 10} C."} for i in range(args.tasks)]
            for start in range(0, args.tasks, 1000):
                studio.import_tasks(project.id, texts[start : start + 1000])
            env = {
                **os.environ,
                "LABEL_STUDIO_URL": ls.url,
                "LABEL_STUDIO_API_KEY": ls.personal_token(),
                "OPENAI_API_KEY": "sk-bench",
                "OPENAI_BASE_URL": llm.base_url,
                "OPENAI_MODEL": "gpt-4o-mini",
                "MAX_CONCURRENCY": str(concurrency),
                "MODEL_DIR": d,
            }
            command = [sys.executable, "-m", "ls_langchain.cli", "predict", "--project", str(project.id)]
            started = time.perf_counter()
            run = subprocess.run([*command, "--prompt", "Judge the claim"], env=env, capture_output=True, text=True)
            wall = time.perf_counter() - started
            assert run.returncode == 0, run.stdout + run.stderr
            assert f"{args.tasks} predictions imported" in run.stdout, run.stdout
            rate = float(re.findall(r"\(([\d.]+) tasks/s\)", run.stdout)[0])
            ideal = concurrency / args.latency
            label = f"MAX_CONCURRENCY={concurrency}"
            rows.append([label, args.tasks, f"{wall:.1f}", f"{rate:.1f}", f"{ideal:.0f}", f"{rate / ideal:.0%}"])
    print(f"### ls-langchain predict: {args.tasks} tasks, LLM latency {args.latency * 1000:.0f} ms, imports included\n")
    print(table(["run", "tasks", "wall time (s)", "tasks/s", "ideal tasks/s", "of ideal"], rows))


if __name__ == "__main__":
    main()
