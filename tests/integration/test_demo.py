"""`make demo ONCE=1` as a newcomer runs it: examples/demo.py with --once on free ports, offline (the backend
serves ``OPENAI_PROVIDER=offline``, a demo double, and the examples their offline stand-ins)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ls_langchain.localstudio import LocalStudio, free_port
from ls_langchain.studio import sdk_client

ROOT = Path(__file__).resolve().parents[2]
TITLE = "Sarcasm (prefilled by the backend)"
# What the demo must not inherit from the test run: it starts its own servers and uses no provider.
INHERITED = ("OPENAI_API_KEY", "OPENAI_PROVIDER", "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "LS_LANGCHAIN_OUTBOX_DIR")


def processes_naming(path: Path) -> list[str]:
    """Every live process whose command line or environment names ``path``: what the demo started there."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            command, environ = (proc / "cmdline").read_bytes(), (proc / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if str(path).encode() in command + environ:
            found.append(f"{proc.name}: {command.replace(bytes(1), b' ').decode(errors='replace')[:200]}")
    return found


def demo_command(data_dir: Path, *options: str) -> list[str]:
    """examples/demo.py (what `make demo` runs) on free ports, keeping its data in ``data_dir``."""
    command = [sys.executable, str(ROOT / "examples" / "demo.py"), *options, "--data-dir", str(data_dir)]
    return [*command, "--port", str(free_port()), "--backend-port", str(free_port())]


def test_demo_prefills_a_project_evaluates_it_and_stops_everything_with_once_or_kill(
    tmp_path: Path, start_own_studio: Callable[..., LocalStudio]
) -> None:
    studio = start_own_studio(tmp_path, "data")  # the migrated template, copied where the demo keeps its data
    studio.stop()
    env = {key: value for key, value in os.environ.items() if key not in INHERITED}
    done = subprocess.run(
        demo_command(tmp_path, "--once"), env=env, capture_output=True, text=True, timeout=900, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]

    assert processes_naming(tmp_path) == []  # Label Studio, its workers and ls-langchain serve all stopped
    printed = re.search(r"The backend prefilled (\d+) of (\d+) tasks of .* \(model version (llm-\w+)\)", output)
    assert printed, output[-3000:]
    assert printed[1] == printed[2] == "6"
    version = printed[3]
    table = output[printed.end() :].split("Evaluated")[0]
    assert len(re.findall(r"^\s+\d+\s+.+\s+Sarcastic\s", table, re.MULTILINE)) == 6  # the double's first label
    assert "Oh great, another Monday." in table
    assert "Auto-Annotation" in output and "Shift+Enter" in output

    report = json.loads((tmp_path / "exports" / "prefill-report" / "report.json").read_text())
    assert (tmp_path / "exports" / "prefill-report" / "report.html").is_file()
    assert report["project"]["title"] == TITLE
    assert report["tasks"]["evaluated"] == 4 and list(report["models"]) == [version]

    # Without --once both servers stay up; `kill` (SIGTERM, as Ctrl-C) stops them. This second run reuses the project.
    log_path = tmp_path / "second-run.log"
    with log_path.open("w") as log:
        running = subprocess.Popen(demo_command(tmp_path), env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 900
        while "Both servers stay up" not in log_path.read_text() and running.poll() is None:
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        assert processes_naming(tmp_path), "the servers should be up now"
        running.send_signal(signal.SIGTERM)
        assert running.wait(timeout=60) == 0, log_path.read_text()[-3000:]
    assert processes_naming(tmp_path) == []
    assert f"The backend prefilled 6 of 6 tasks of {TITLE!r} (model version {version})" in log_path.read_text()

    studio.start()  # the demo's Label Studio again, to read what it kept
    ls = sdk_client(studio.url, studio.personal_token())
    [project] = [p for p in ls.projects.list() if p.title == TITLE]
    [backend] = ls.ml.list(project=project.id)
    assert backend.model_version == version and backend.is_interactive
    predictions = list(ls.predictions.list(project=project.id))
    assert len(predictions) == 6 and {p.model_version for p in predictions} == {version}  # none twice
    chosen = [item["value"] for p in predictions for item in p.result if item["from_name"] == "sentiment"]
    assert chosen == [{"choices": ["Sarcastic"]}] * 6
    studio.stop()
