"""Many hosts log into one project at once.

Each producer is a process of its own with an outbox of its own, as separate hosts would be; nothing but Label
Studio is shared between them. Exactly every run must arrive once, with its prediction.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ls_langchain.labeling import LabelStudioMode, default_config
from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import Studio

CHILD = str(Path(__file__).with_name("delivery_child.py"))


Producer = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def producer() -> Iterator[Producer]:
    """Starts delivery_child.py processes (``count`` runs named ``prefix-i`` into ``title``); those still running
    when the test ends, as after a failure, are killed rather than left retrying against a stopped server."""
    started: list[subprocess.Popen[str]] = []

    def start(
        studio: LocalStudio, title: str, outbox: Path, count: int, prefix: str, *then: str
    ) -> subprocess.Popen[str]:
        command = [sys.executable, CHILD, studio.url, title, str(outbox), str(count), prefix, *then]
        env = {**os.environ, "LABEL_STUDIO_API_KEY": studio.personal_token()}
        started.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.timeout(1800)  # a collision costs an undo (a delete per task) and a resend
def test_hosts_importing_at_once_into_sqlite_still_deliver_each_run_once_with_its_prediction(
    sqlite_studio: LocalStudio, producer: Producer, tmp_path: Path, title: str
) -> None:
    # On SQLite two imports at once lose predictions (bench/concurrent_imports.py); nothing spans hosts to prevent
    # it, so each answer's counts are checked and an import stored without its predictions is undone and sent again.
    studio = Studio(sqlite_studio.url, sqlite_studio.personal_token(), timeout=120)
    project = studio.create_project(title, default_config(LabelStudioMode.PROMPT))
    hosts = [
        producer(sqlite_studio, title, tmp_path / f"host-{h}", 600, f"h{h}", "flush", "0.05", "100") for h in range(3)
    ]
    for host in hosts:
        _, err = host.communicate(timeout=1200)
        assert host.returncode == 0, err
    tasks = list(studio.export_tasks(project.id))
    prompts = Counter(str(task["data"]["prompt"]) for task in tasks)
    assert len(tasks) == 1800 and set(prompts) == {f"h{h}-{i}" for h in range(3) for i in range(600)}
    assert [task["id"] for task in tasks if len(task["predictions"]) != 1] == []
