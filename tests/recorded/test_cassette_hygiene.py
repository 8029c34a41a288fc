"""What the cassettes hold: no token but the placeholders, no credential header, no cookie."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from vcr.persisters.filesystem import FilesystemPersister  # type: ignore[import-untyped]  # vcrpy ships no type hints
from vcr.serializers import yamlserializer  # type: ignore[import-untyped]

from recorded_http import PLACEHOLDER_ACCESS, PLACEHOLDER_PAT

CASSETTES = Path(__file__).parent / "cassettes"
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
CREDENTIAL_HEADERS = {"authorization", "cookie", "set-cookie", "x-api-key"}


@pytest.fixture(scope="module")
def cassettes(record_mode: str) -> list[Path]:
    if record_mode != "none":
        pytest.skip("the cassettes are being rewritten; `make cassettes` checks them in a replay run afterwards")
    found = sorted(CASSETTES.rglob("*.yaml"))
    assert found, f"no cassettes under {CASSETTES}: run `make cassettes`"
    return found


def test_the_only_tokens_in_cassettes_are_the_placeholders(cassettes: list[Path]) -> None:
    tokens = {token for path in cassettes for token in JWT.findall(path.read_text())}

    assert tokens == {PLACEHOLDER_PAT, PLACEHOLDER_ACCESS}


def test_no_cassette_holds_a_credential_header(cassettes: list[Path]) -> None:
    for path in cassettes:
        requests, responses = FilesystemPersister.load_cassette(path, serializer=yamlserializer)
        for headers in [request.headers for request in requests] + [response["headers"] for response in responses]:
            names = {name.lower() for name in headers}
            assert not names & CREDENTIAL_HEADERS, f"{path.name}: {names & CREDENTIAL_HEADERS}"
