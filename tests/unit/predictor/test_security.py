"""Hostile input to the running backend (the ASGI app through FastAPI's TestClient): what a project may configure,
what it may make the backend read, and how auth and request bodies are guarded.

The LLM is ``FakeOpenAI`` (a local OpenAI-compatible HTTP server, a test double) behind the real ``ChatOpenAI``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from ls_langchain.localstudio import free_port
from ls_langchain.predictor.netguard import address_refusal
from ls_langchain.predictor.server import create_app
from ls_langchain.predictor.settings import Settings

from fake_openai import FakeOpenAI
from seed_configs import IMAGE_SUMMARIZATION, PROMPT_ENGINEERING
from serving import connections_recorded, media_server


def _app(settings: Settings, fake_openai: FakeOpenAI, **options: Any) -> TestClient:
    """The app with its chat model pointed at FakeOpenAI (the test double)."""

    def model_for(project: Settings) -> BaseChatModel:
        return ChatOpenAI(model="gpt-4o-mini", api_key="sk-test-key", base_url=fake_openai.base_url, max_retries=0)

    return TestClient(create_app(settings, chat_model_factory=model_for, **options))


@pytest.fixture
def client(tmp_path: Path, fake_openai: FakeOpenAI) -> TestClient:
    return _app(Settings(model_dir=str(tmp_path)), fake_openai)


def _setup(client: TestClient, extra_params: Any) -> Any:
    return client.post(
        "/setup", json={"project": "7.1700000000", "schema": PROMPT_ENGINEERING, "extra_params": extra_params}
    )


def _batch_predict(client: TestClient) -> Any:
    body = {"tasks": [{"id": 1, "data": {"text": "t"}}], "project": "7.1700000000", "params": {"context": None}}
    return client.post("/predict", json={**body, "label_config": PROMPT_ENGINEERING})


# DEFAULT_PROMPT: text from a project, a file only from the server's environment


def test_a_default_prompt_from_extra_params_is_text_never_a_file(
    client: TestClient, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """The attack: a project admin names a file on the backend host; its content must reach neither model nor answer."""
    secret_file = tmp_path / "secret.env"
    secret_file.write_text("OPENAI_API_KEY=sk-host-secret-1234", encoding="utf-8")
    for path in (str(secret_file), "/proc/self/environ"):
        assert _setup(client, {"DEFAULT_PROMPT": path}).status_code == 200
        answer = _batch_predict(client)
        assert answer.status_code == 200, answer.text
        sent = fake_openai.requests[-1].json["messages"][-1]["content"]
        assert f"Task Directive: {path}" in str(sent)
        assert "sk-host-secret-1234" not in answer.text
        assert "sk-host-secret-1234" not in str(sent)
        assert "OPENAI_API_KEY" not in str(sent)


def test_the_servers_environment_may_name_a_prompt_file_and_the_log_says_which(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text("Classify {text}", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="ls_langchain.predictor.settings"):
        settings = Settings.from_env({"DEFAULT_PROMPT": str(path)})
    assert settings.default_prompt == "Classify {text}"
    assert str(path) in caplog.text
    assert Settings.from_env({"DEFAULT_PROMPT": "Just text"}).default_prompt == "Just text"
    assert Settings().merged({"DEFAULT_PROMPT": str(path)}).default_prompt == str(path)


# what task data can make the backend fetch: public addresses only, decided where it connects

TEXT_URL = """<View><Text name="text" value="$doc" valueType="url"/>
<TextArea name="prompt" toName="text"/><TextArea name="response" toName="text"/></View>"""
METADATA_SPELLINGS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[::169.254.169.254]/",
    "http://2852039166/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    "http://[fe80::a9fe:a9fe]/",
    "http://metadata.rebound.test/latest/meta-data/",
]


@pytest.fixture
def media(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1, standing in for an internal service and for a redirecting host."""
    root = tmp_path / "media"
    root.mkdir()
    (root / "internal.txt").write_text("internal-only page", encoding="utf-8")
    with media_server(root) as url:
        yield url


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Every TCP connection the test's process attempts (only loopback goes through), with a resolver in which the
    name ``metadata.rebound.test`` points at the metadata address, as a rebinding DNS name would (a test double)."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return resolve("169.254.169.254" if host == "metadata.rebound.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with connections_recorded() as recorded:
        yield recorded


def _interactive(client: TestClient, data: dict[str, Any], config: str = TEXT_URL) -> Any:
    to_name = "image" if config is IMAGE_SUMMARIZATION else "text"
    prompt = {"from_name": "prompt", "to_name": to_name, "type": "textarea", "value": {"text": ["Repeat it"]}}
    body = {"tasks": [{"id": 1, "data": data}], "label_config": config, "params": {"context": {"result": [prompt]}}}
    return client.post("/predict", json=body)


def _metadata(address: str) -> bool:
    return address_refusal(address, allow_private=True, allow_link_local=False) is not None


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("url", METADATA_SPELLINGS)
def test_the_metadata_address_is_never_connected_to_in_any_spelling_nor_after_a_redirect(
    tmp_path: Path, fake_openai: FakeOpenAI, media: str, attempts: list[tuple[str, int]], url: str, allow_private: bool
) -> None:
    """Image and <Text valueType="url"> fields naming it, directly or through a redirect from another host, are
    refused in one line; the test's connection guard shows no attempt to reach it."""
    client = _app(Settings(model_dir=str(tmp_path), allow_private_urls=allow_private), fake_openai)
    tries = [({"doc": url}, TEXT_URL), ({"image": url}, IMAGE_SUMMARIZATION)]
    if allow_private:  # the redirecting host is on 127.0.0.1
        tries.append(({"doc": f"{media}/redirect?to={url}"}, TEXT_URL))
    for data, config in tries:
        answer = _interactive(client, data, config)
        assert answer.status_code == 422, answer.text
        assert "link-local or cloud-metadata address" in answer.json()["error"]
        assert "\n" not in answer.json()["error"]
    assert not [peer for peer in attempts if _metadata(peer[0])]
    assert fake_openai.requests == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "0.0.0.0", "2130706433", "[::1]", "127.1"]
)
def test_loopback_and_private_addresses_are_refused_by_default(
    client: TestClient, fake_openai: FakeOpenAI, media: str, attempts: list[tuple[str, int]], host: str
) -> None:
    """An internal page named by a task, in any spelling of a loopback address, is not fetched and not returned."""
    port = int(media.rsplit(":", 1)[1])
    answer = _interactive(client, {"doc": f"http://{host}:{port}/internal.txt"})
    assert answer.status_code == 422, answer.text
    assert "ALLOW_PRIVATE_URLS=true" in answer.json()["error"]
    assert "internal-only page" not in answer.text
    assert not [peer for peer in attempts if peer[1] == port]
    assert fake_openai.requests == []


def test_a_redirect_to_another_scheme_is_refused(
    tmp_path: Path, fake_openai: FakeOpenAI, media: str, attempts: list[tuple[str, int]]
) -> None:
    """Every hop is checked: a redirect to a file on the backend host is refused like a task naming one."""
    client = _app(Settings(model_dir=str(tmp_path), allow_private_urls=True), fake_openai)
    answer = _interactive(client, {"doc": f"{media}/redirect?to=file:///etc/passwd"})
    assert answer.status_code == 422, answer.text
    assert "only http(s) URLs" in answer.json()["error"]
    assert "root:" not in answer.text


def test_allow_private_urls_lets_an_on_premise_media_host_be_read(
    tmp_path: Path, fake_openai: FakeOpenAI, media: str
) -> None:
    """ALLOW_PRIVATE_URLS=true (server environment only): the loopback media host is fetched, and the page goes to
    the model."""
    client = _app(Settings.from_env({"MODEL_DIR": str(tmp_path), "ALLOW_PRIVATE_URLS": "true"}), fake_openai)
    answer = _interactive(client, {"doc": f"{media}/internal.txt"})
    assert answer.status_code == 200, answer.text
    assert "internal-only page" in str(fake_openai.requests[-1].json["messages"])


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", "public"),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", "public"),
        ("64:ff9b::5db8:d70e", "public"),
        ("10.0.0.5", "private"),
        ("192.168.1.1", "private"),
        ("::ffff:10.0.0.5", "private"),
        ("fd12::1", "private"),
        ("100.64.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("2001:0:4136:e378:8000:63bf:5601:5645", "link-local"),  # Teredo, its client 169.254.169.186
    ],
)
def test_each_address_is_judged_with_the_ipv4_address_it_carries(address: str, allowed: str) -> None:
    def refused(**switches: bool) -> bool:
        return address_refusal(address, **{"allow_private": False, "allow_link_local": False, **switches}) is not None

    assert refused() == (allowed != "public")
    assert refused(allow_private=True) == (allowed == "link-local")
    assert refused(allow_private=True, allow_link_local=True) is False


# extra params within bounds


@pytest.mark.parametrize(
    ("extra_params", "message"),
    [
        ({"NUM_RESPONSES": 1_000_000}, "NUM_RESPONSES must be between 1 and 10"),
        ({"MAX_CONCURRENCY": 1e9}, "MAX_CONCURRENCY must be between 1 and 64"),
        ({"LLM_TIMEOUT": "inf"}, "LLM_TIMEOUT must be more than 0 and at most 600 seconds"),
        ('{"LLM_TIMEOUT": Infinity}', "LLM_TIMEOUT must be more than 0 and at most 600 seconds"),
        ({"PREDICT_TIMEOUT": "nan"}, "PREDICT_TIMEOUT must be more than 0 and at most 3600 seconds"),
        ({"LLM_MAX_ATTEMPTS": 1000}, "LLM_MAX_ATTEMPTS must be between 1 and 10"),
        ({"MAX_IMAGE_BYTES": 10**12}, "MAX_IMAGE_BYTES must be between 1 and 100000000"),
    ],
)
def test_setup_refuses_extra_params_out_of_bounds_in_one_line(
    client: TestClient, fake_openai: FakeOpenAI, extra_params: Any, message: str
) -> None:
    answer = _setup(client, extra_params)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]
    assert "\n" not in answer.json()["error"]
    assert fake_openai.requests == []


def test_setup_takes_extra_params_at_their_bounds(client: TestClient) -> None:
    bounds = {"NUM_RESPONSES": 10, "MAX_CONCURRENCY": 64, "LLM_TIMEOUT": 600, "PREDICT_TIMEOUT": 3600}
    assert _setup(client, {**bounds, "LLM_MAX_ATTEMPTS": 10, "TEMPERATURE": 0}).status_code == 200


# basic auth and request bodies


def test_basic_auth_compares_bytes_so_a_non_ascii_password_works(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    """A non-ASCII password (or user) answered 500 to every request, the right one included."""
    client = _app(Settings(model_dir=str(tmp_path)), fake_openai, basic_auth=("łukasz", "pässwörd"))
    assert client.get("/health", auth=("łukasz", "pässwörd")).status_code == 200
    assert client.get("/health", auth=("łukasz", "passwort")).status_code == 401
    assert client.get("/health", auth=("lukasz", "pässwörd")).status_code == 401


@pytest.mark.parametrize(
    "header", ["Basic łukasz:pässwörd".encode(), b"Basic \xfc\xfc", "Basic ÿÿÿÿ".encode("latin-1"), b"Basic ====="]
)
def test_a_non_ascii_or_broken_authorization_header_is_a_401(
    tmp_path: Path, fake_openai: FakeOpenAI, header: bytes
) -> None:
    client = _app(Settings(model_dir=str(tmp_path)), fake_openai, basic_auth=("ls", "s3cret"))
    answer = client.get("/health", headers={"Authorization": header})
    assert answer.status_code == 401, answer.text
    assert "Traceback" not in answer.text


def test_basic_auth_user_without_password_refuses_to_start(tmp_path: Path) -> None:
    """The real CLI: `ls-langchain serve` stops before it opens the port, with one line."""
    env = {**os.environ, "MODEL_DIR": str(tmp_path), "BASIC_AUTH_USER": "ls"}
    env.pop("BASIC_AUTH_PASS", None)
    command = [sys.executable, "-m", "ls_langchain.cli", "serve", "--port", str(free_port())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "ls-langchain: BASIC_AUTH_USER is set but BASIC_AUTH_PASS is not: set both to require basic auth, or neither."
    ]


def test_a_request_body_over_the_limit_is_refused_before_it_is_read(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    """By Content-Length, and while reading a body sent without one (chunked); smaller bodies go through."""
    settings = Settings.from_env({"MODEL_DIR": str(tmp_path), "MAX_REQUEST_BYTES": "5000"})
    client = _app(settings, fake_openai)
    big = {"tasks": [{"data": {"text": "x" * 6000}}], "label_config": PROMPT_ENGINEERING}
    answer = client.post("/predict", json=big)
    assert answer.status_code == 413
    assert answer.json() == {"error": "Request body larger than MAX_REQUEST_BYTES=5000: send fewer tasks per request."}
    body = json.dumps(big).encode()
    chunked = client.post(
        "/predict", content=iter([body[:4000], body[4000:]]), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413, chunked.text
    assert _setup(client, None).status_code == 200


def test_the_default_body_limit_refuses_a_50_mb_body(client: TestClient) -> None:
    answer = client.post("/webhook", content=b"x" * 50_000_000, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert "MAX_REQUEST_BYTES" in answer.json()["error"]


def test_credentials_in_label_studio_url_stay_out_of_the_backends_answers(
    tmp_path: Path, fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    """LABEL_STUDIO_URL with ``user:password@`` (nothing listens on port 9): the error names the server only."""
    settings = Settings(
        model_dir=str(tmp_path), label_studio_url="http://ls-user:s3cret-pw@127.0.0.1:9", label_studio_api_key="k"
    )
    answer = _interactive(_app(settings, fake_openai), {"image": "/data/upload/1/x.png"}, IMAGE_SUMMARIZATION)
    assert answer.status_code in (422, 502), answer.text
    assert "127.0.0.1:9" in answer.json()["error"]
    assert "s3cret-pw" not in answer.text + caplog.text
