"""A separate process that logs LLM calls through the handler, for the tests that kill it or share its outbox.

Usage: python delivery_child.py URL PROJECT OUTBOX COUNT PREFIX THEN [FLUSH_INTERVAL] [FLUSH_AT]; the API key comes
from LABEL_STUDIO_API_KEY. THEN is `kill` (SIGKILL itself right after the calls returned), `flush` (wait until
everything is delivered) or `exit` (leave it to the exit hook).
"""

from __future__ import annotations

import os
import signal
import sys

from langchain_core.language_models.fake import FakeListLLM

from ls_langchain import LabelStudioCallbackHandler


def main(url: str, project: str, outbox: str, count: str, prefix: str, then: str, *tuning: str) -> None:
    flush_interval = float(tuning[0]) if tuning else 1.0
    flush_at = int(tuning[1]) if len(tuning) > 1 else 500
    handler = LabelStudioCallbackHandler(
        url=url, project_name=project, outbox_dir=outbox, flush_interval=flush_interval, flush_at=flush_at
    )
    llm = FakeListLLM(responses=["ok"], callbacks=[handler])
    for index in range(int(count)):
        llm.invoke(f"{prefix}-{index}")
    print("logged", flush=True)
    if then == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if then == "flush" and not handler.flush(timeout=2400):
        sys.exit(3)


if __name__ == "__main__":
    main(*sys.argv[1:])
