"""Added latency per LLM call: no handler, ours, and langchain_community's handler, against one local Label Studio.

A fake LLM answers at once, so what a call costs beyond the no-handler baseline is the handler's. The three are
measured in interleaved rounds in one run (the machine is noisy); the table gives medians and the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable

from _common import local_studio, median_us, table
from langchain_community.callbacks.labelstudio_callback import (
    LabelStudioCallbackHandler as CommunityHandler,
)
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake import FakeListLLM

from ls_langchain import LabelStudioCallbackHandler


def timed_calls(callbacks: list[BaseCallbackHandler], count: int, label: str) -> list[int]:
    llm = FakeListLLM(responses=["a fine answer"], callbacks=callbacks)
    samples = []
    for index in range(count):
        start = time.perf_counter_ns()
        llm.invoke(f"{label} prompt {index}")
        samples.append(time.perf_counter_ns() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="calls per round without a handler and with ours")
    parser.add_argument("--community-calls", type=int, default=40, help="calls per round with the community one")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with local_studio() as studio, tempfile.TemporaryDirectory() as outbox:
        studio.set_legacy_tokens(True)  # the community handler only speaks legacy tokens
        ours = LabelStudioCallbackHandler(
            api_key=studio.personal_token(), url=studio.url, project_name="bench-ours", outbox_dir=outbox
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = CommunityHandler(api_key=studio.legacy_token, url=studio.url, project_name="bench-community")
        runs: dict[str, tuple[Callable[[], list[BaseCallbackHandler]], int]] = {
            "no handler": (list, args.calls),
            "ls-langchain": (lambda: [ours], args.calls),
            "langchain_community": (lambda: [theirs], args.community_calls),
        }
        samples: dict[str, list[int]] = {name: [] for name in runs}
        timed_calls([], 200, "warm-up")
        for _ in range(args.rounds):
            for name, (callbacks, count) in runs.items():
                samples[name] += timed_calls(callbacks(), count, name)
        ours.flush(timeout=120)
        ours.close()

    baseline = median_us(samples["no handler"])
    added = {name: median_us(s) - baseline for name, s in samples.items()}
    rows = [[name, len(samples[name]), f"{median_us(samples[name]):,.1f}", f"{added[name]:,.1f}"] for name in samples]
    print("### Added latency per LLM call (fake LLM, local Label Studio 1.23.2)\n")
    print(table(["handler", "calls", "median per call (us)", "added vs no handler (us)"], rows))
    ratio = added["langchain_community"] / max(added["ls-langchain"], 0.1)
    print(f"\nls-langchain adds {ratio:,.0f}x less per call than langchain_community's handler.")


if __name__ == "__main__":
    main()
