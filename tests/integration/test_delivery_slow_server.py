"""Exactly-once delivery through a Label Studio too slow to answer: the server is frozen (SIGSTOP) the moment it has
received an import, kept frozen until the client has given up waiting for that import, then thawed.

The server then stores the import while the client asks what it got; whatever the order, every record must end as
one task with its prediction, and the outbox empty. In the second case the client's access token also expires
during the wait: the server refuses the first checks, and the client must carry on with a fresh token.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from langchain_core.language_models.fake import FakeListLLM

from ls_langchain import LabelStudioCallbackHandler
from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import sdk_client

RECORDS = 3000


@pytest.fixture(scope="module")
def own_studio(
    tmp_path_factory: pytest.TempPathFactory, start_own_studio: Callable[[Path, str], LocalStudio]
) -> Iterator[LocalStudio]:
    """A server of this module's own, since these tests freeze it."""
    server = start_own_studio(tmp_path_factory.mktemp("labelstudio-slow"), "data")
    yield server
    server.resume()
    server.stop()


class FreezeAfterImport:
    """Freezes the server once the client has sent it a whole import, and notes when the client stops waiting for
    the answer. Hooked into the client's HTTP connection (httpx's trace), so the moment is exact, not a sleep."""

    def __init__(self, studio: LocalStudio) -> None:
        self.studio = studio
        self.frozen = threading.Event()
        self.gave_up = threading.Event()

    def on_request(self, request: httpx.Request) -> None:
        if request.url.path.endswith("/import") and not self.frozen.is_set():
            request.extensions = {**request.extensions, "trace": self.trace}

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "http11.receive_response_headers.started" and not self.frozen.is_set():
            self.studio.pause()  # the body is out: the server holds the import and answers nothing
            self.frozen.set()
        elif event == "http11.receive_response_headers.failed":
            self.gave_up.set()


def expire_access_token(handler: LabelStudioCallbackHandler, in_seconds: float) -> None:
    """Give the client an access token that Label Studio refuses but the client believes good for ``in_seconds``
    more: what a token that expired while the server was frozen looks like (the real lifetime is 5 minutes). The
    client then fetches a fresh one by itself, as it does for an expired token."""
    tokens = handler._delivery.destination.studio.client._client_wrapper._tokens_client
    claims = jwt.decode(tokens.api_key, options={"verify_signature": False})
    claims["exp"] = int(time.time() + in_seconds)
    tokens._set_access_token(jwt.encode(claims, "a key that is not the server's, 32+ bytes", algorithm="HS256"))


def tasks_in(studio: LocalStudio, project_id: int | None) -> list[dict[str, Any]]:
    assert project_id is not None
    client = sdk_client(studio.url, studio.personal_token())
    return [task.model_dump() for task in client.tasks.list(project=project_id, fields="all", page_size=500)]


@pytest.mark.parametrize("token_expires", [False, True], ids=["frozen", "frozen-and-token-expired"])
def test_an_import_answered_too_late_ends_as_one_task_per_record_with_its_prediction(
    own_studio: LocalStudio, tmp_path: Path, title: str, monkeypatch: pytest.MonkeyPatch, token_expires: bool
) -> None:
    # A base timeout shorter than the default 30 s, so that the import's own (the base plus time for its size) runs
    # out sooner; not so short that the checks (pages of 500 tasks) time out on a loaded machine.
    monkeypatch.setenv("LS_LANGCHAIN_TIMEOUT", "20")
    handler = LabelStudioCallbackHandler(
        api_key=own_studio.personal_token(),
        url=own_studio.url,
        outbox_dir=tmp_path,
        project_name=title,
        flush_at=RECORDS,
        flush_interval=3600,
    )
    freeze = FreezeAfterImport(own_studio)
    http = handler._delivery.destination.studio.client._client_wrapper.httpx_client.httpx_client
    http.event_hooks["request"].append(freeze.on_request)
    llm = FakeListLLM(responses=["ok"], callbacks=[handler])
    try:
        for index in range(RECORDS):
            llm.invoke(f"call-{index}")  # the last one fills the batch: the worker sends all of them at once
        assert freeze.frozen.wait(timeout=600), "no import was sent"
        assert freeze.gave_up.wait(timeout=600), "the client never gave up waiting for the import"
        if token_expires:  # refused until a few seconds after the thaw
            expire_access_token(handler, 6)
        threading.Event().wait(3)  # frozen a while past the timeout: the client's checks meet a frozen server too
    finally:
        own_studio.resume()
    assert handler.flush(timeout=900)

    tasks = tasks_in(own_studio, handler.project_id)
    copies = Counter(task["data"]["prompt"] for task in tasks)
    assert set(copies) == {f"call-{i}" for i in range(RECORDS)}
    assert [prompt for prompt, count in copies.items() if count > 1] == []
    assert [task["id"] for task in tasks if len(task["predictions"] or ()) != 1] == []
    outbox = handler._delivery.worker.outbox
    assert outbox.count() == 0 and outbox.held_groups() == []
    handler.close()
