"""Delivery throughput: from the first LLM call until all runs are readable in Label Studio, side by side with one
import per run and with the same calls followed by one raw SDK bulk import of the same task payloads.

One import per run is too slow to do 10,000 times (about 85 ms each on the server): it is timed on a sample and
its rate reported as measured on that sample.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _common import local_studio, table
from label_studio_sdk import LabelStudio
from langchain_core.language_models.fake import FakeListLLM

from ls_langchain import LabelStudioCallbackHandler
from ls_langchain.labeling import LabelStudioMode, default_config, read_layout
from ls_langchain.tasks import RunRecord, build_task


def payloads(count: int) -> list[dict[str, object]]:
    layout = read_layout(default_config(LabelStudioMode.PROMPT))
    return [
        build_task(RunRecord(id=f"raw-{i}", responses=["a fine answer"], prompt=f"prompt {i}", model_name="m"), layout)
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--per-run-sample", type=int, default=200)
    args = parser.parse_args()

    with local_studio() as studio, tempfile.TemporaryDirectory() as outbox:
        client = LabelStudio(base_url=studio.url, api_key=studio.personal_token())
        config = default_config(LabelStudioMode.PROMPT)
        results = []

        handler = LabelStudioCallbackHandler(
            api_key=studio.personal_token(), url=studio.url, project_name="bench-ours", outbox_dir=outbox
        )
        llm = FakeListLLM(responses=["a fine answer"], callbacks=[handler])
        start = time.perf_counter()
        for index in range(args.calls):
            llm.invoke(f"prompt {index}")
        logged = time.perf_counter() - start
        assert handler.flush(timeout=600), "not everything was delivered"
        elapsed = time.perf_counter() - start
        assert client.projects.get(id=handler.project_id).task_number == args.calls
        handler.close()
        results.append(("ls-langchain (handler, batched)", args.calls, elapsed, f"calls returned after {logged:.1f} s"))

        project = client.projects.create(title="bench-per-run", label_config=config)
        plain = FakeListLLM(responses=["a fine answer"])
        start = time.perf_counter()
        for task in payloads(args.per_run_sample):
            plain.invoke(str(task["data"]["prompt"]))  # type: ignore[index]
            client.projects.import_tasks(id=project.id, request=[task])
        results.append(("one import per run", args.per_run_sample, time.perf_counter() - start, "a sample"))

        project = client.projects.create(title="bench-raw-bulk", label_config=config)
        start = time.perf_counter()
        for index in range(args.calls):
            plain.invoke(f"prompt {index}")
        tasks = payloads(args.calls)
        import_start = time.perf_counter()
        client.projects.import_tasks(id=project.id, request=tasks)
        done = time.perf_counter()
        note = f"the import alone: {done - import_start:.1f} s"
        results.append(("calls, then one raw SDK bulk import", args.calls, done - start, note))

    raw_rate = results[2][1] / results[2][2]
    rows = [
        [name, count, f"{seconds:.1f}", f"{count / seconds:,.0f}", f"{count / seconds / raw_rate:.2f}x", note]
        for name, count, seconds, note in results
    ]
    print("### Delivery throughput (tasks with one prediction each, local Label Studio 1.23.2 on SQLite)\n")
    print(table(["path", "tasks", "seconds", "tasks/s", "vs raw bulk", "note"], rows))


if __name__ == "__main__":
    main()
