"""Many hosts log into one project on Label Studio's production set-up (PostgreSQL, several gunicorn workers).

Each producer is a process of its own with an outbox of its own, as separate hosts would be; nothing but Label
Studio is shared between them. One producer is SIGKILLed halfway and started again on the same outbox, and Label
Studio (every worker) is restarted while the runs flow. Exactly every run must arrive once, with its prediction.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ls_langchain.labeling import LabelStudioMode, default_config
from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import Studio

CHILD = str(Path(__file__).with_name("delivery_child.py"))
HOSTS, RUNS = 4, 5000


Producer = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def producer(tmp_path: Path) -> Iterator[Producer]:
    """Starts delivery_child.py processes (``count`` runs named ``prefix-i`` into ``title``), their output in
    ``prefix.log`` (a pipe nobody reads would stall a child that logs much); those still running when the test ends,
    as after a failure, are killed rather than left retrying against a stopped server."""
    started: list[subprocess.Popen[str]] = []

    def start(
        studio: LocalStudio, title: str, outbox: Path, count: int, prefix: str, *then: str
    ) -> subprocess.Popen[str]:
        command = [sys.executable, CHILD, studio.url, title, str(outbox), str(count), prefix, *then]
        env = {**os.environ, "LABEL_STUDIO_API_KEY": studio.personal_token()}
        with open(tmp_path / f"{prefix}.log", "w") as log:
            started.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def output(process: subprocess.Popen[str], tmp_path: Path) -> str:
    """The end of a producer's log, for a failure message."""
    prefix = process.args[6]  # the command ``start`` made
    return (tmp_path / f"{prefix}.log").read_text()[-3000:]


def stored(studio: Studio, project_id: int) -> list[dict[str, Any]]:
    """Every task's id, data and predictions, through the API."""
    return list(studio.iter_tasks(project_id, page_size=1000, include="id,data,predictions"))


def stored_in_postgresql(server: LocalStudio, project_id: int) -> list[tuple[str, int, str]]:
    """(prompt, predictions, their answers) of every task, from Label Studio's own database in one query: paging
    20,000 tasks through the API takes 80 s on this busy machine, and an export of them, built in one request,
    outlasts a gunicorn worker's 120 s."""
    assert server.database is not None
    rows = server.database.sql(
        "SELECT t.data->>'prompt', count(p.id), coalesce(string_agg(p.result->0->'value'->'text'->>0, ','), '') "
        f"FROM task t LEFT JOIN prediction p ON p.task_id = t.id WHERE t.project_id = {project_id} GROUP BY t.id"
    )
    return [(prompt, int(count), answers) for prompt, count, answers in (row.split("|") for row in rows.splitlines())]


@pytest.mark.multihost  # `make multihost` runs it alone
@pytest.mark.timeout(3600)  # 20,000 tasks with their predictions, a restart of every worker: minutes on 2 cores
def test_four_hosts_20000_runs_a_producer_killed_and_label_studio_restarted(
    postgresql_studio: LocalStudio, producer: Producer, tmp_path: Path, title: str
) -> None:
    studio = Studio(postgresql_studio.url, postgresql_studio.personal_token(), timeout=120)
    # Made once beforehand, as a deployment does: hosts that each create a missing project may race to make two.
    project = studio.create_project(title, default_config(LabelStudioMode.PROMPT))
    outboxes = [tmp_path / f"host-{host}" for host in range(HOSTS)]
    # Host 0 is killed (SIGKILL, by itself) right after its first half of the runs, with deliveries in flight.
    running = [producer(postgresql_studio, title, outboxes[0], RUNS // 2, "h0a", "kill")]
    running += [producer(postgresql_studio, title, outboxes[h], RUNS, f"h{h}", "flush") for h in range(1, HOSTS)]
    expected = {f"h0{half}-{i}" for half in "ab" for i in range(RUNS // 2)}
    expected |= {f"h{h}-{i}" for h in range(1, HOSTS) for i in range(RUNS)}

    killed = running.pop(0)
    assert killed.wait(timeout=600) == -9, output(killed, tmp_path)
    # Started again on the same outbox: it logs the second half and delivers what the killed one left.
    running.append(producer(postgresql_studio, title, outboxes[0], RUNS // 2, "h0b", "flush"))

    deadline = time.monotonic() + 1800
    # One client throughout: its access token is renewed before a request queued behind the imports could arrive
    # with an expired one (it once did, HTTP 401).
    while studio.count_tasks(project.id) < HOSTS * RUNS // 4:
        assert time.monotonic() < deadline, "a quarter of the runs did not arrive in 30 minutes"
        assert all(p.poll() is None for p in running), "a producer ended before Label Studio was restarted"
        time.sleep(2)
    postgresql_studio.restart()  # every worker, while the hosts keep sending

    for process in running:
        assert process.wait(timeout=2400) == 0, output(process, tmp_path)
    assert studio.count_tasks(project.id) == HOSTS * RUNS
    tasks = stored_in_postgresql(postgresql_studio, project.id)
    prompts = Counter(prompt for prompt, _, _ in tasks)
    assert len(tasks) == HOSTS * RUNS
    assert [prompt for prompt, n in prompts.items() if n > 1] == []
    assert set(prompts) == expected
    assert [task for task in tasks if task[1:] != (1, "ok")] == []  # one prediction each, the LLM's answer


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
        assert host.wait(timeout=1200) == 0, output(host, tmp_path)
    tasks = stored(studio, project.id)
    prompts = Counter(str(task["data"]["prompt"]) for task in tasks)
    assert len(tasks) == 1800 and set(prompts) == {f"h{h}-{i}" for h in range(3) for i in range(600)}
    assert [task["id"] for task in tasks if len(task["predictions"]) != 1] == []
