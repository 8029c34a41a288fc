"""Access tokens against a real Label Studio: renewed before a busy server could see them expire."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ls_langchain import studio as studio_module
from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import Studio


def access_token(studio: Studio) -> str:
    token: str = studio.client._client_wrapper._tokens_client._access_token
    return token


@pytest.mark.parametrize(
    ("later", "renewed"), [(timedelta(minutes=1), False), (timedelta(minutes=3, seconds=30), True)]
)
def test_an_access_token_with_under_two_minutes_left_is_renewed_before_the_request(
    studio: LocalStudio, pat: str, monkeypatch: pytest.MonkeyPatch, later: timedelta, renewed: bool
) -> None:
    client = Studio(studio.url, pat)
    client.check()
    first = access_token(client)
    now = studio_module._now()
    monkeypatch.setattr(studio_module, "_now", lambda: now + later)  # Label Studio's tokens live 5 minutes
    client.check()  # accepted either way: a renewed token is a valid one
    assert (access_token(client) != first) is renewed
