"""Memory while Label Studio is down: RSS growth of a process that logs 100,000 calls nobody can receive yet.

The runs wait on disk in the outbox; the process should hold no more of them in memory than a batch.
"""

from __future__ import annotations

import argparse
import gc
import logging
import tempfile
import time

from _common import rss_mb, table
from langchain_core.language_models.fake import FakeListLLM

from ls_langchain import LabelStudioCallbackHandler
from ls_langchain.localstudio import free_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    logging.getLogger("ls_langchain").setLevel(logging.CRITICAL)  # the refused connection is expected here

    with tempfile.TemporaryDirectory() as outbox:
        handler = LabelStudioCallbackHandler(
            api_key="unused", url=f"http://127.0.0.1:{free_port()}", project_name="bench-down", outbox_dir=outbox
        )
        llm = FakeListLLM(responses=["a fine answer " * 20], callbacks=[handler])
        for index in range(1000):  # warm up LangChain's own caches before the baseline
            llm.invoke(f"warm-up {index}")
        gc.collect()
        before = rss_mb()
        start = time.perf_counter()
        samples = []
        for index in range(args.calls):
            llm.invoke(f"prompt {index} " * 10)
            if index % 10_000 == 0:
                samples.append(rss_mb())
        elapsed = time.perf_counter() - start
        gc.collect()
        after = rss_mb()
        pending = handler._delivery.pending()
        handler.close(timeout=0)

    rows = [[args.calls, pending, f"{before:.1f}", f"{after:.1f}", f"{after - before:+.1f}", f"{max(samples):.1f}"]]
    print("### Memory with Label Studio down (fake LLM, outbox on disk)\n")
    print(table(["calls", "records waiting", "RSS before (MB)", "RSS after (MB)", "growth (MB)", "peak (MB)"], rows))
    print(f"\n{args.calls:,} calls logged in {elapsed:.1f} s.")


if __name__ == "__main__":
    main()
