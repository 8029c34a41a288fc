"""What carrying ls-langchain costs a process: import time and memory, and constructing a handler.

Each measurement is a fresh Python process (``-X importtime`` aside, the only honest way to time an import); the
three kinds run in interleaved rounds so that a noisy machine hits them alike. The baseline imports what any
LangChain program has loaded already: langchain-core's callbacks and language models. Peak memory is the process's
maximum resident set (``ru_maxrss``).

    .venv/bin/python bench/import_cost.py --rounds 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

from _common import local_studio, table

_MEASURE = """
import json, resource, sys, time
began = time.perf_counter()
{body}
seconds = time.perf_counter() - began
print(json.dumps({{"seconds": seconds, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
_BASELINE = "import langchain_core.callbacks, langchain_core.language_models"
_IMPORT = _BASELINE + "\nimport ls_langchain"
_CONSTRUCT = (
    _IMPORT
    + "\nfrom ls_langchain import LabelStudioCallbackHandler"
    + "\nLabelStudioCallbackHandler(url={url!r}, api_key={key!r}, project_name='bench-import', outbox_dir={outbox!r})"
)


def _run(body: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE.format(body=body)], capture_output=True, text=True, check=True
    )
    answer: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with local_studio() as studio, tempfile.TemporaryDirectory() as outbox:
        key = studio.personal_token()
        bodies = {
            "langchain-core callbacks + language models": _BASELINE,
            "+ import ls_langchain": _IMPORT,
            "+ construct a handler (reachable Label Studio)": _CONSTRUCT.format(url=studio.url, key=key, outbox=outbox),
        }
        _run(bodies["+ construct a handler (reachable Label Studio)"])  # creates the project: later runs find it
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in bodies}
        for _ in range(args.rounds):
            for name, body in bodies.items():
                samples[name].append(_run(body))
    medians = {
        name: (statistics.median(s["seconds"] for s in runs), statistics.median(s["rss_mib"] for s in runs))
        for name, runs in samples.items()
    }
    rows = []
    previous: tuple[float, float] | None = None
    for name, (seconds, rss) in medians.items():
        added = f"+{seconds - previous[0]:.2f} s, +{rss - previous[1]:.0f} MiB" if previous else "(baseline)"
        rows.append((name, f"{seconds:.2f}", f"{rss:.0f}", added))
        previous = (seconds, rss)
    print(table(("process", "median time (s)", "peak RSS (MiB)", "added to the line above"), rows))


if __name__ == "__main__":
    main()
