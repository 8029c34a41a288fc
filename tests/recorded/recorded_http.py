"""What may go into a cassette and how replayed requests are matched: placeholders, scrubbers, the body matcher.

Tokens never reach a cassette: ``Authorization`` and cookies are dropped, and token fields in request and response
bodies are replaced by placeholder JWTs (far-future expiry, a public key) before anything is written.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import jwt
from vcr.request import Request  # type: ignore[import-untyped]  # vcrpy ships no type hints

__all__ = [
    "PLACEHOLDER_ACCESS",
    "PLACEHOLDER_LEGACY_TOKEN",
    "PLACEHOLDER_PAT",
    "REPLAY_URL",
    "VCR_CONFIG",
    "Target",
    "stable_body",
]

# Nothing listens here; replay never opens a socket anyway (block_network).
REPLAY_URL = "http://127.0.0.1:9"
# Any non-JWT key is sent as a legacy ``Token <key>``; the header never reaches a cassette.
PLACEHOLDER_LEGACY_TOKEN = "recorded-legacy-token-placeholder"
_FAR_FUTURE = 4102444800  # 2100-01-01: the SDK checks a JWT's expiry before it uses it
_NOT_A_SECRET = "ls-langchain-recorded-placeholder"
PLACEHOLDER_PAT = jwt.encode(
    {"token_type": "refresh", "exp": _FAR_FUTURE, "jti": "recorded-pat", "user_id": 1}, _NOT_A_SECRET
)
PLACEHOLDER_ACCESS = jwt.encode(
    {"token_type": "access", "exp": _FAR_FUTURE, "jti": "recorded-access", "user_id": 1}, _NOT_A_SECRET
)
_TOKEN_FIELDS = {"refresh": PLACEHOLDER_PAT, "access": PLACEHOLDER_ACCESS, "token": PLACEHOLDER_PAT}
# Request bodies differ run to run only in the handler's meta (run ids, clock times); tasks' meta is left out
# when bodies are compared, everything else (data, predictions, model versions) must be what was recorded.
_VOLATILE_TASK_FIELDS = ("meta",)


@dataclass(frozen=True)
class Target:
    """Where the recorded tests send requests, and with which key."""

    url: str
    api_key: str
    legacy_token: str


def _scrubbed_json(body: Any) -> Any:
    """``body`` with every token field, at any depth, replaced by its placeholder."""
    if isinstance(body, dict):
        return {
            key: _TOKEN_FIELDS[key] if key in _TOKEN_FIELDS and isinstance(value, str) else _scrubbed_json(value)
            for key, value in body.items()
        }
    if isinstance(body, list):
        return [_scrubbed_json(item) for item in body]
    return body


def _parsed(body: bytes | str | None) -> Any:
    """A JSON body as Python values; None for an empty or non-JSON body."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _scrubbed_body(body: bytes | str | None) -> bytes | str | None:
    """The body with its tokens replaced; left as the server sent it when it holds none."""
    parsed = _parsed(body)
    scrubbed = _scrubbed_json(parsed)
    if scrubbed == parsed:
        return body
    text = json.dumps(scrubbed)
    return text.encode() if isinstance(body, bytes) else text


def scrub_request(request: Request) -> Request:
    """The request as a cassette may hold it: no token in its body (headers are dropped by ``filter_headers``)."""
    request = copy.deepcopy(request)
    request.body = _scrubbed_body(request.body)
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """The answer as a cassette may hold it: no cookies, no token in its body."""
    headers = response.get("headers") or {}
    for name in [name for name in headers if name.lower() == "set-cookie"]:
        del headers[name]
    body = response.get("body") or {}
    if body.get("string"):
        body["string"] = _scrubbed_body(body["string"])
        for name in [name for name in headers if name.lower() == "content-length"]:
            size = body["string"] if isinstance(body["string"], bytes) else body["string"].encode()
            headers[name] = [str(len(size))]
    return response


def _comparable_body(request: Request) -> Any:
    parsed = _parsed(request.body)
    if parsed is None:
        return request.body or b""
    if isinstance(parsed, list):
        return [
            {k: v for k, v in item.items() if k not in _VOLATILE_TASK_FIELDS} if isinstance(item, dict) else item
            for item in parsed
        ]
    return parsed


def stable_body(r1: Request, r2: Request) -> None:
    """vcr matcher: JSON bodies are equal once the tasks' volatile meta is left out."""
    assert _comparable_body(r1) == _comparable_body(r2)


VCR_CONFIG: dict[str, Any] = {
    "filter_headers": ["authorization", "cookie", "x-api-key"],
    "before_record_request": scrub_request,
    "before_record_response": scrub_response,
    # Not host or port: the recording server's port is random, and replay goes to REPLAY_URL.
    "match_on": ["method", "path", "query", "stable_body"],
    "decode_compressed_response": True,
}
