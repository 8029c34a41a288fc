"""`make demo ONCE=1` as a newcomer runs it: examples/demo.py with --once on free ports, offline (the backend
serves ``OPENAI_PROVIDER=offline``, a demo double, and the examples their offline stand-ins)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from label_studio_sdk import LabelStudio

from ls_langchain.localstudio import LocalStudio, free_port

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


def test_demo_once_prefills_a_project_evaluates_it_and_stops_everything(
    tmp_path: Path, start_own_studio: Callable[..., LocalStudio]
) -> None:
    studio = start_own_studio(tmp_path, "data")  # the migrated template, copied where the demo keeps its data
    studio.stop()
    env = {key: value for key, value in os.environ.items() if key not in INHERITED}
    command = [sys.executable, str(ROOT / "examples" / "demo.py"), "--once", "--data-dir", str(tmp_path)]
    command += ["--port", str(free_port()), "--backend-port", str(free_port())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
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

    studio.start()  # the demo's Label Studio again, to read what it kept
    ls = LabelStudio(base_url=studio.url, api_key=studio.personal_token())
    [project] = [p for p in ls.projects.list() if p.title == TITLE]
    [backend] = ls.ml.list(project=project.id)
    assert backend.model_version == version and backend.is_interactive
    predictions = list(ls.predictions.list(project=project.id))
    assert len(predictions) == 6 and {p.model_version for p in predictions} == {version}
    chosen = [item["value"] for p in predictions for item in p.result if item["from_name"] == "sentiment"]
    assert chosen == [{"choices": ["Sarcastic"]}] * 6
    studio.stop()
