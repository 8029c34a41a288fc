"""The private SDK attributes ``studio.py`` relies on are still there (no server: the SDK client is only built)."""

from __future__ import annotations

import inspect

from label_studio_sdk import LabelStudio

from ls_langchain.studio import _sdk_headers, _sdk_http

# A legacy token: the SDK builds its headers from it without asking the server.
KEY = "0123456789abcdef0123456789abcdef01234567"
UPGRADE_HINT = "label_studio_sdk changed its private client wrapper: update studio.py's _sdk_http / _sdk_headers"


def test_the_sdk_still_has_the_http_client_imports_and_exports_go_through() -> None:
    client = LabelStudio(base_url="http://127.0.0.1:9", api_key=KEY, max_retries=0)
    http = _sdk_http(client)
    # the methods and arguments Studio.import_tasks, Studio._request_json and the export's download use
    for method, arguments in [
        ("request", {"method", "params", "content", "headers", "json", "request_options"}),
        ("stream", {"method", "params", "request_options"}),
    ]:
        call = getattr(http, method, None)
        assert callable(call), UPGRADE_HINT
        assert arguments <= set(inspect.signature(call).parameters), UPGRADE_HINT


def test_the_sdk_still_gives_the_auth_headers_downloads_send() -> None:
    client = LabelStudio(base_url="http://127.0.0.1:9", api_key=KEY, max_retries=0)
    assert _sdk_headers(client).get("Authorization") == f"Token {KEY}", UPGRADE_HINT
