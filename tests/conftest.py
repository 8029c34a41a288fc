"""Shared fixtures: one real Label Studio server for the whole session, started on a free loopback port.

Tests live by what they need: ``unit/`` (no server), ``integration/`` (the real Label Studio, Redis, PostgreSQL the
suite starts), ``recorded/`` (replayed cassettes). The fixtures are here so that ``make cassettes`` can record.

A fresh data dir migrates for ~40 s, so the first run keeps a migrated copy under ``.cache/`` and later servers
start from a copy of it in ~8 s.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.localstudio import LocalStudio, start_from_template

from fake_openai import fake_openai  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = ROOT / ".cache" / "labelstudio-template"
# The ML backend tests register a server on 127.0.0.1, which Label Studio refuses unless told otherwise.
STUDIO_ENV = {"ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false"}


def start_studio(tmp_root: Path, name: str) -> LocalStudio:
    """Start a Label Studio from a copy of the migrated template, in a data dir of its own."""
    return start_from_template(TEMPLATE_DIR, tmp_root / name, extra_env=STUDIO_ENV)


@pytest.fixture(scope="session")
def start_own_studio() -> Callable[[Path, str], LocalStudio]:
    """For tests that stop or restart a server: starts one of their own (``from conftest import`` is ambiguous when
    test folders have conftest files of their own)."""
    return start_studio


@pytest.fixture(scope="session")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStudio]:
    """The real Label Studio server of this test session."""
    server = start_studio(tmp_path_factory.mktemp("labelstudio"), "data")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pat(studio: LocalStudio) -> str:
    """A personal access token (JWT) of the server's admin user."""
    return studio.personal_token()


@pytest.fixture(scope="session")
def ls(studio: LocalStudio, pat: str) -> LabelStudio:
    """An SDK client on the session's server, for reading back what the tests created."""
    return LabelStudio(base_url=studio.url, api_key=pat)


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
