"""Two ``ls-langchain serve`` processes share per-project state: through SQLite under one ``MODEL_DIR`` (workers of
one host), and through a real ``redis-server`` with ``STATE_URL`` (replicas on several hosts, each with its own
``MODEL_DIR`` here, so that nothing can pass through a file).

The LLM is ``FakeOpenAI`` (a local OpenAI-compatible HTTP server, a test double) behind the real ``ChatOpenAI``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ls_langchain.cli import main
from ls_langchain.errors import StateError
from ls_langchain.localstudio import free_port
from ls_langchain.predictor.redis_state import RedisState
from ls_langchain.predictor.state import STATE_FILE_NAME

from fake_openai import FakeOpenAI, Reply
from seed_configs import TEXT_CLASSIFICATION
from serving import redis_server, running_backend

OPENAI_KEY = "sk-shared-state-secret"


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """``(kind, STATE_URL)``: no URL for SQLite, a real redis-server's for Redis."""
    if request.param == "sqlite":
        yield "sqlite", None
        return
    with redis_server(tmp_path) as url:
        yield "redis", url


def server_env(fake_openai: FakeOpenAI, model_dir: Path, state_url: str | None) -> dict[str, str]:
    env = {
        "MODEL_DIR": str(model_dir),
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_MODEL": "gpt-4o-mini",
    }
    if state_url:
        env["STATE_URL"] = state_url
    return env


def test_two_server_processes_share_prompt_params_config_and_versions(
    store: tuple[str, str | None], fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    kind, state_url = store
    fake_openai.responder = lambda request: Reply.of_json({"answer": "Yes.", "sentiment": ["Sarcastic"]})
    dirs = [tmp_path / "host-a", tmp_path / "host-b"] if kind == "redis" else [tmp_path / "shared"] * 2
    env_a, env_b = (server_env(fake_openai, directory, state_url) for directory in dirs)
    with (
        running_backend(env_a, tmp_path / "a.log", secrets=(OPENAI_KEY,)) as a,
        running_backend(env_b, tmp_path / "b.log", secrets=(OPENAI_KEY,)) as b,
    ):
        setup = {"project": "7.1700000000", "schema": TEXT_CLASSIFICATION, "extra_params": {"TEMPERATURE": 0.1}}
        first = httpx.post(f"{a}/setup", json=setup, timeout=30).json()["model_version"]

        annotation = {"result": [{"from_name": "prompt", "type": "textarea", "value": {"text": ["Is it sarcastic?"]}}]}
        webhook = {
            "action": "ANNOTATION_CREATED",
            "project": {"id": 7, "label_config": TEXT_CLASSIFICATION},
            "annotation": annotation,
        }
        answer = httpx.post(f"{b}/webhook", json=webhook, timeout=30).json()
        assert answer["changed"] is True
        second = answer["model_version"]
        assert second != first
        assert httpx.get(f"{a}/versions", params={"project": "7"}, timeout=30).json() == {"versions": [first, second]}

        # B predicts with the config and extra params A was given, and the prompt B itself was sent
        task = {"id": 1, "data": {"text": "Great, another Monday."}}
        [prediction] = httpx.post(f"{b}/predict", json={"tasks": [task], "project": "7"}, timeout=30).json()["results"]
        assert prediction["model_version"] == second
        values = {item["from_name"]: item["value"] for item in prediction["result"]}
        assert values == {
            "sentiment": {"choices": ["Sarcastic"]},
            "response": {"text": ["Yes."]},
            "prompt": {"text": ["Is it sarcastic?"]},
        }
        assert fake_openai.requests[-1].json["temperature"] == 0.1
        # and A predicts the same way, with the prompt it learnt through the shared state
        [again] = httpx.post(f"{a}/predict", json={"tasks": [task], "project": "7"}, timeout=30).json()["results"]
        assert again["model_version"] == second

    if kind == "redis":
        assert RedisState(str(state_url)).get("7").prompt == "Is it sarcastic?"
        assert not any((directory / STATE_FILE_NAME).exists() for directory in dirs)
    else:
        assert (dirs[0] / STATE_FILE_NAME).exists()


def test_an_unreachable_redis_stops_the_server_before_it_listens_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("STATE_URL", f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    assert main(["serve", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "The shared state store (redis at 127.0.0.1:" in err and "is Redis running, and is STATE_URL right?" in err
    assert "hunter2" not in err


def test_a_state_url_that_is_not_redis_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("STATE_URL", "postgres://user:secret@db/state")
    assert main(["serve", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "STATE_URL must be a redis://, rediss:// or unix:// URL" in err and "secret" not in err


def test_redis_refusing_the_password_is_one_line(tmp_path: Path) -> None:
    """A real redis-server that wants another password: the message names the server, never a password."""
    with redis_server(tmp_path, password="right-one") as url, pytest.raises(StateError) as refused:
        RedisState(url.replace(":right-one@", ":hunter2@"))
    message = str(refused.value)
    assert message.startswith("The shared state store (redis at 127.0.0.1:")
    assert message.endswith("refused the password in STATE_URL.")
    assert "hunter2" not in message and "right-one" not in message
    with redis_server(tmp_path, password="right-one") as url:
        RedisState(url).save_prompt("1", "works with the right one")
