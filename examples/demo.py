"""`make demo`: start a local Label Studio on 127.0.0.1:8080 (data in .labelstudio/) and `ls-langchain serve` on
127.0.0.1:9090, log the examples into Label Studio, export them, let the backend prefill a project, evaluate it,
print where to click, and keep both servers up until Ctrl-C (or stop them and exit at once with --once)."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import signal
import sys
import time
from pathlib import Path

from ls_langchain.export import Filters, export_project
from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import Studio

ROOT = Path(__file__).resolve().parents[1]
# Label Studio refuses an ML backend on a loopback address unless told otherwise; only this local server is.
BACKEND_ON_LOOPBACK = {"ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false"}
# Each module has run() -> handlers; later examples add themselves here.
EXAMPLES = ["prompt_mode", "chat_mode", "custom_config", "agent_tools", "multimodal_chat", "rag"]


def export_all(studio: Studio, folder: Path) -> None:
    """Close the loop: every project as SFT lines (nobody has annotated yet, so the model's answers stand), and an
    evaluation report of the first one."""
    print(f"\nExports in {folder}:")
    for project in studio.client.projects.list():
        slug = re.sub(r"[^a-z0-9]+", "-", project.title.lower()).strip("-")
        summary = export_project(
            studio, project.id, "sft", folder / f"{slug}-sft.jsonl", filters=Filters(annotated_only=False)
        )
        print(f"  {summary.describe()}")
    first = min(project.id for project in studio.client.projects.list())
    print(f"  {export_project(studio, first, 'eval', folder / 'report.md').describe()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true", help="stop the servers after printing the summary")
    parser.add_argument("--port", type=int, default=8080, help="Label Studio's port")
    parser.add_argument("--backend-port", type=int, default=9090, help="the port of ls-langchain serve")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".labelstudio", help="where the demo keeps its data")
    args = parser.parse_args()

    data_dir = args.data_dir.resolve()
    # `kill` stops the demo as Ctrl-C does: the servers it started stop with it (they run in sessions of their own).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    studio = LocalStudio(
        data_dir / "data", port=args.port, log_path=data_dir / "labelstudio.log", extra_env=BACKEND_ON_LOOPBACK
    )
    print(f"Starting Label Studio on {studio.url} (data in {data_dir}; the first start migrates, ~1 minute)...")
    studio.start()
    try:
        os.environ["LABEL_STUDIO_URL"] = studio.url
        os.environ["LABEL_STUDIO_API_KEY"] = studio.personal_token()
        os.environ.setdefault("LS_LANGCHAIN_OUTBOX_DIR", str(data_dir / "outbox"))
        if not os.environ.get("OPENAI_API_KEY"):
            print("OPENAI_API_KEY is not set: the examples use an offline model that says so in every answer.")
        sys.path.insert(0, str(Path(__file__).parent))
        client = Studio(studio.url, studio.personal_token()).client
        before = {project.title: project.task_number or 0 for project in client.projects.list()}
        rows = []
        for name in EXAMPLES:
            print(f"\n== examples/{name}.py")
            module = importlib.import_module(name)
            rows += importlib.import_module("_common").report(module.run())
        print("\nLabel Studio is at", studio.url)
        print(f"Log in as {studio.username} / {studio.password}")
        for title, url, count in rows:
            print(f"  {count - before.get(title, 0):4d} new tasks ({count:4d} in all)  {title:<24} {url}")
        export_all(Studio(studio.url, studio.personal_token()), data_dir / "exports")
        print("\n== examples/prefill.py: ls-langchain serve prefills a project through Label Studio")
        prefill = importlib.import_module("prefill")
        with prefill.serving(data_dir / "backend", args.backend_port) as backend_url:
            guide = prefill.run(Studio(studio.url, studio.personal_token()), backend_url, data_dir / "exports")
            print("\n== examples/feedback_loop.py: prefill, correct, learn, prefill again, evaluate")
            importlib.import_module("feedback_loop").run(
                Studio(studio.url, studio.personal_token()), data_dir / "exports"
            )
            print(f"\nLabel Studio is at {studio.url}, log in as {studio.username} / {studio.password}")
            print("\n".join(guide))
            if args.once:
                return 0
            print("\nBoth servers stay up until Ctrl-C.")
            while studio.running:
                time.sleep(1)
            return 1
    except KeyboardInterrupt:
        return 0
    finally:
        studio.stop()


if __name__ == "__main__":
    sys.exit(main())
