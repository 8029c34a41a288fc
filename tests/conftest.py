"""Shared fixtures: one real Label Studio server for the whole session, started on a free loopback port.

Tests live by what they need: ``unit/`` (no server), ``integration/`` (the real Label Studio, Redis, PostgreSQL the
suite starts), ``recorded/`` (replayed cassettes). The fixtures are here so that ``make cassettes`` can record.

A fresh data dir migrates for ~40 s, so the first run keeps a migrated copy under ``.cache/`` and later servers
start from a copy of it in ~8 s.

Two engines: Label Studio on SQLite (``label-studio start``, the default of every test) and on PostgreSQL (its
production set-up: a cluster of the suite's own, several gunicorn workers; migrated once into ``.cache/`` too, which
takes minutes). A test marked ``engines`` runs on both: its ``studio``, ``pat`` and ``ls`` are the SQLite ones,
then the PostgreSQL ones. ``postgresql_studio`` asks for the PostgreSQL deployment directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.localstudio import Engine, LocalStudio, start_from_template
from ls_langchain.studio import sdk_client

from fake_openai import fake_openai  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES: dict[Engine, Path] = {
    "sqlite": ROOT / ".cache" / "labelstudio-template",
    "postgresql": ROOT / ".cache" / "labelstudio-template-postgresql",
}
# The ML backend tests register a server on 127.0.0.1, which Label Studio refuses unless told otherwise.
STUDIO_ENV = {"ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false"}


def start_studio(tmp_root: Path, name: str, engine: Engine = "sqlite", workers: int | None = None) -> LocalStudio:
    """Start a Label Studio from a copy of the migrated template, in a data dir (and cluster) of its own."""
    return start_from_template(TEMPLATES[engine], tmp_root / name, extra_env=STUDIO_ENV, engine=engine, workers=workers)


def discard(studio: LocalStudio) -> None:
    """Stop a studio and delete its PostgreSQL cluster, if it has one."""
    studio.stop()
    if studio.database is not None:
        studio.database.remove()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``engines`` run on SQLite and on PostgreSQL. SQLite's parameter is None, the value of every
    unmarked test, so that only the PostgreSQL runs switch the session's ``studio``."""
    if metafunc.definition.get_closest_marker("engines") and "engine" in metafunc.fixturenames:
        values = [pytest.param(None, id="sqlite"), pytest.param("postgresql", id="postgresql")]
        metafunc.parametrize("engine", values, indirect=True, scope="session")


@pytest.fixture(scope="session")
def start_own_studio() -> Iterator[Callable[..., LocalStudio]]:
    """For tests that stop or restart a server: starts one of their own (``from conftest import`` is ambiguous when
    test folders have conftest files of their own); ``engine="postgresql"`` for one on PostgreSQL. Each is stopped
    (and its cluster deleted) at the end of the session, if the test has not done so."""
    started: list[LocalStudio] = []

    def start(tmp_root: Path, name: str, engine: Engine = "sqlite", workers: int | None = None) -> LocalStudio:
        started.append(start_studio(tmp_root, name, engine, workers))
        return started[-1]

    yield start
    for studio in started:
        discard(studio)


@pytest.fixture(scope="session")
def sqlite_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStudio]:
    """Label Studio on SQLite, as ``label-studio start`` runs it."""
    server = start_studio(tmp_path_factory.mktemp("labelstudio"), "data")
    yield server
    discard(server)


@pytest.fixture(scope="session")
def postgresql_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStudio]:
    """Label Studio on a PostgreSQL cluster of its own, served by several gunicorn workers."""
    server = start_studio(tmp_path_factory.mktemp("labelstudio-postgresql"), "data", "postgresql")
    yield server
    discard(server)


@pytest.fixture(scope="session")
def engine(request: pytest.FixtureRequest) -> Engine:
    """The database engine of this test's ``studio``: SQLite unless the test is marked ``engines``."""
    value: Engine = getattr(request, "param", None) or "sqlite"
    return value


@pytest.fixture(scope="session")
def studio(engine: Engine, request: pytest.FixtureRequest) -> LocalStudio:
    """The real Label Studio server of this test: the session's SQLite one, or its PostgreSQL one."""
    server: LocalStudio = request.getfixturevalue(f"{engine}_studio")
    return server


@pytest.fixture(scope="session")
def pat(studio: LocalStudio) -> str:
    """A personal access token (JWT) of the server's admin user."""
    return studio.personal_token()


@pytest.fixture(scope="session")
def ls(studio: LocalStudio, pat: str) -> LabelStudio:
    """An SDK client on the session's server, for reading back what the tests created."""
    return sdk_client(studio.url, pat)


@pytest.fixture
def legacy_tokens(studio: LocalStudio) -> Iterator[str]:
    """Legacy ``Token <key>`` auth switched on for the duration of one test; yields the legacy token."""
    studio.set_legacy_tokens(True)
    yield studio.legacy_token
    studio.set_legacy_tokens(False)


@pytest.fixture
def studio_env(studio: LocalStudio, pat: str, monkeypatch: pytest.MonkeyPatch) -> LocalStudio:
    """The environment a user sets (LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY), pointing at the session server."""
    monkeypatch.setenv("LABEL_STUDIO_URL", studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", pat)
    monkeypatch.delenv("LABEL_STUDIO_PROJECT_ID", raising=False)
    return studio


@pytest.fixture
def title() -> str:
    """A project title no other test uses."""
    return f"test-{uuid.uuid4().hex[:10]}"
