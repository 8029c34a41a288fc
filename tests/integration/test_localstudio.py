"""The local Label Studio the suite runs on, on both engines: both kinds of token authenticate against it; the
PostgreSQL deployment keeps its data in its own cluster and serves with several worker processes."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import sdk_client

pytestmark = pytest.mark.engines


def test_personal_access_token_authenticates(studio: LocalStudio, pat: str) -> None:
    response = httpx.get(f"{studio.url}/api/current-user/whoami", headers={"Authorization": f"Bearer {pat}"})
    # A PAT is a refresh token: used directly as a bearer it is refused, the SDK exchanges it first.
    assert response.status_code == 401
    refreshed = httpx.post(f"{studio.url}/api/token/refresh", json={"refresh": pat})
    assert refreshed.status_code == 200
    access = refreshed.json()["access"]
    me = httpx.get(f"{studio.url}/api/current-user/whoami", headers={"Authorization": f"Bearer {access}"})
    assert me.json()["email"] == studio.username


def test_legacy_token_needs_the_org_switch(studio: LocalStudio) -> None:
    headers = {"Authorization": f"Token {studio.legacy_token}"}
    assert httpx.get(f"{studio.url}/api/current-user/whoami", headers=headers).status_code == 401
    studio.set_legacy_tokens(True)
    try:
        assert httpx.get(f"{studio.url}/api/current-user/whoami", headers=headers).status_code == 200
    finally:
        studio.set_legacy_tokens(False)


def worker_pids(studio: LocalStudio) -> set[int]:
    """The processes the server's master process forked (gunicorn's workers)."""
    assert studio._process is not None
    master = studio._process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def test_postgresql_deployment_keeps_data_in_its_cluster_and_serves_with_workers(
    postgresql_studio: LocalStudio, title: str
) -> None:
    studio = postgresql_studio
    assert studio.engine == "postgresql" and studio.database is not None
    project = sdk_client(studio.url, studio.personal_token()).projects.create(title=title)
    assert studio.database.sql(f"SELECT id FROM project WHERE title = '{title}'") == str(project.id)
    assert len(worker_pids(studio)) == studio.workers >= 2
    page = httpx.get(f"{studio.url}/user/login/").text
    stylesheet = re.search(r'href="(/static/css/[^"]+\.css)"', page)
    assert stylesheet and httpx.get(f"{studio.url}{stylesheet.group(1)}").status_code == 200  # static files too


def test_a_restart_replaces_every_worker_and_keeps_the_data(postgresql_studio: LocalStudio, title: str) -> None:
    before = worker_pids(postgresql_studio)
    pat = postgresql_studio.personal_token()
    project = sdk_client(postgresql_studio.url, pat).projects.create(title=title)
    postgresql_studio.restart()
    assert worker_pids(postgresql_studio).isdisjoint(before)
    assert sdk_client(postgresql_studio.url, pat).projects.get(id=project.id).title == title
