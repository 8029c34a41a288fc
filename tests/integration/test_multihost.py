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

import pytest

from ls_langchain.labeling import LabelStudioMode, default_config
from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import Studio

CHILD = str(Path(__file__).with_name("delivery_child.py"))
HOSTS, RUNS = 4, 5000


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


def fresh(server: LocalStudio) -> Studio:
    return Studio(server.url, server.personal_token(), timeout=300)


@pytest.mark.multihost  # 16 minutes on this 2-core machine: `make multihost`, not part of `make test`
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
    _, err = killed.communicate(timeout=600)
    assert killed.returncode == -9, err
    # Started again on the same outbox: it logs the second half and delivers what the killed one left.
    running.append(producer(postgresql_studio, title, outboxes[0], RUNS // 2, "h0b", "flush"))

    deadline = time.monotonic() + 1800
    # A new client per look: the SDK renews its access token only once expired, and a request that waits behind the
    # hosts' imports can reach Label Studio after its token's expiry (HTTP 401).
    while fresh(postgresql_studio).count_tasks(project.id) < HOSTS * RUNS // 4:
        assert time.monotonic() < deadline, "a quarter of the runs did not arrive in 30 minutes"
        assert all(p.poll() is None for p in running), "a producer ended before Label Studio was restarted"
        time.sleep(2)
    postgresql_studio.restart()  # every worker, while the hosts keep sending

    for process in running:
        _, err = process.communicate(timeout=2400)
        assert process.returncode == 0, err
    tasks = list(fresh(postgresql_studio).export_tasks(project.id))
    prompts = Counter(str(task["data"]["prompt"]) for task in tasks)
    assert len(tasks) == HOSTS * RUNS
    assert [prompt for prompt, n in prompts.items() if n > 1] == []
    assert set(prompts) == expected
    assert [task["id"] for task in tasks if len(task["predictions"]) != 1] == []
    assert {prediction["result"][0]["value"]["text"][0] for task in tasks for prediction in task["predictions"]} == {
        "ok"
    }


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
