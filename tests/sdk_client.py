"""The SDK client the tests read Label Studio back with, safe from an access token expiring in flight.

The SDK decides on the client's clock, with no margin, whether its access token (5 minutes) is still good; on a
busy machine a request sent just before the expiry arrives after it, Label Studio answers 401 ("Authentication
credentials were not provided") and a test fails for no reason of its own. This client sends such a request once
more with a fresh access token from the personal access token.
"""

from __future__ import annotations

import httpx
from label_studio_sdk import LabelStudio

__all__ = ["sdk_client"]


class _FreshTokenOn401(httpx.HTTPTransport):
    """An HTTP transport that answers a 401 to a Bearer request by asking for a new access token and retrying once."""

    def __init__(self, url: str, personal_token: str) -> None:
        super().__init__()
        self._refresh_url = f"{url.rstrip('/')}/api/token/refresh/"
        self._personal_token = personal_token

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        bearer = request.headers.get("authorization", "").startswith("Bearer ")
        if response.status_code != 401 or not bearer or str(request.url) == self._refresh_url:
            return response
        response.close()
        with httpx.Client() as plain:
            refreshed = plain.post(self._refresh_url, json={"refresh": self._personal_token}, timeout=30)
        if refreshed.status_code != 200:
            return super().handle_request(request)
        request.headers["Authorization"] = f"Bearer {refreshed.json()['access']}"
        return super().handle_request(request)


def sdk_client(url: str, api_key: str) -> LabelStudio:
    """``LabelStudio(base_url=url, api_key=api_key)`` whose requests survive an access token expiring in flight."""
    transport = _FreshTokenOn401(url, api_key)
    return LabelStudio(base_url=url, api_key=api_key, httpx_client=httpx.Client(transport=transport, timeout=60))
