"""The local Label Studio the suite runs on: both kinds of token authenticate against it."""

from __future__ import annotations

import httpx

from ls_langchain.localstudio import LocalStudio


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
