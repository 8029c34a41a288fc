"""The deployment recipe (deploy/docker-compose.yml) runs Label Studio as the suite does: the same commands, the
same options and variables, so what the tests show on PostgreSQL holds for the recipe (Docker cannot run here)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from ls_langchain.localstudio import GUNICORN_OPTIONS, WSGI_APP, WSGI_SETTINGS

RECIPE = Path(__file__).resolve().parents[2] / "deploy" / "docker-compose.yml"


def services() -> dict[str, Any]:
    recipe: dict[str, Any] = yaml.safe_load(RECIPE.read_text())
    return dict(recipe["services"])


def test_label_studio_is_initialized_then_served_by_gunicorn_with_the_suites_options() -> None:
    command = services()["label-studio"]["command"]
    init, serve = command[-1].split("&&")
    assert shlex.split(init)[:2] == ["label-studio", "init"]
    words = shlex.split(serve)
    assert words[:3] == ["exec", "gunicorn", WSGI_APP]
    assert "--workers" in words
    tail = words[words.index("--workers") + 2 :]
    assert tuple(tail) == GUNICORN_OPTIONS


def test_label_studio_gets_the_variables_the_suite_sets() -> None:
    env = services()["label-studio"]["environment"]
    assert env["DJANGO_DB"] == "default" and env["DJANGO_SETTINGS_MODULE"] == WSGI_SETTINGS
    expected = {"POSTGRE_NAME", "POSTGRE_USER", "POSTGRE_PASSWORD", "POSTGRE_HOST", "POSTGRE_PORT"}
    expected |= {"LABEL_STUDIO_BASE_DATA_DIR", "LABEL_STUDIO_USERNAME", "LABEL_STUDIO_PASSWORD"}
    expected |= {"ML_BLOCK_LOCAL_IP", "SSRF_PROTECTION_ENABLED"}
    assert expected <= set(env)
    assert env["ML_BLOCK_LOCAL_IP"] == env["SSRF_PROTECTION_ENABLED"] == "false"


def test_backend_replicas_share_state_through_redis() -> None:
    backend = services()["ml-backend"]["environment"]
    assert backend["STATE_URL"].startswith("redis://") and backend["LABEL_STUDIO_URL"] == "http://label-studio:8080"
