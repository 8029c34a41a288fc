"""One ``/predict`` call with 100 tasks, an LLM that answers in 200 ms: ``MAX_CONCURRENCY`` side by side.

The backend is ``ls-langchain serve`` in its own process; the LLM is ``FakeOpenAI`` (the tests' OpenAI-compatible
test double) holding every request 200 ms, behind the real ``ChatOpenAI``. The ideal is the model's time alone:
``tasks x 200 ms / concurrency`` (2.5 s for 100 tasks at 8).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, table

sys.path[:0] = [str(ROOT / "tests")]
from fake_openai import FakeOpenAI, Reply  # noqa: E402
from seed_configs import TEXT_CLASSIFICATION  # noqa: E402
from serving import running_backend  # noqa: E402


def answer(request: dict[str, Any]) -> Reply:
    return Reply.of_json({"answer": "It is.", "sentiment": ["Sarcastic"]})


def one_call(url: str, tasks: int) -> float:
    """Seconds for one /predict of ``tasks`` tasks, the prompt typed in as Label Studio sends it."""
    body = {
        "tasks": [{"id": i, "data": {"text": f"Oh great, Monday number {i}."}} for i in range(tasks)],
        "label_config": TEXT_CLASSIFICATION,
        "params": {"context": {"result": [{"from_name": "prompt", "type": "textarea", "value": {"text": ["Go"]}}]}},
    }
    start = time.perf_counter()
    answer = httpx.post(f"{url}/predict", json=body, timeout=600)
    elapsed = time.perf_counter() - start
    results = answer.json()["results"]
    assert len(results) == tasks and all(r["result"] for r in results), answer.text[:300]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the LLM takes per answer")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16])
    args = parser.parse_args()

    rows = []
    with FakeOpenAI(responder=answer, delay=args.latency) as llm, tempfile.TemporaryDirectory() as scratch:
        for concurrency in args.concurrency:
            env = {
                "MODEL_DIR": str(Path(scratch) / str(concurrency)),
                "OPENAI_API_KEY": "sk-bench",
                "OPENAI_BASE_URL": llm.base_url,
                "OPENAI_MODEL": "gpt-4o-mini",
                "MAX_CONCURRENCY": str(concurrency),
                "PREDICT_TIMEOUT": "600",
            }
            with running_backend(env, Path(scratch) / f"serve-{concurrency}.log") as url:
                one_call(url, 2)  # warm up: imports, the first connection
                seconds = one_call(url, args.tasks)
            ideal = args.tasks * args.latency / concurrency
            label = "sequential" if concurrency == 1 else f"MAX_CONCURRENCY={concurrency}"
            rows.append([label, args.tasks, f"{seconds:.2f}", f"{ideal:.2f}", f"{seconds / ideal:.2f}x"])
    print(f"### One /predict call: {args.tasks} tasks, LLM latency {args.latency * 1000:.0f} ms\n")
    print(table(["run", "tasks", "wall time (s)", "ideal (s)", "vs ideal"], rows))


if __name__ == "__main__":
    main()
