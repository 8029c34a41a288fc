"""The recorded layer: the library's Label Studio conversation, replayed from cassettes without a server.

``make cassettes`` runs these tests with ``--record-mode=rewrite`` against the real Label Studio of the session
(the ``studio`` fixture) and a real personal access token. Without that flag they replay: the URL is one where
nothing listens, the network is blocked, and the key is a placeholder JWT, which the SDK treats as a personal
access token just as it treats the real one (``recorded_http`` says what a cassette may hold).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from vcr import VCR  # type: ignore[import-untyped]  # vcrpy ships no type hints
from vcr.cassette import Cassette  # type: ignore[import-untyped]  # vcrpy ships no type hints

from recorded_http import PLACEHOLDER_LEGACY_TOKEN, PLACEHOLDER_PAT, REPLAY_URL, VCR_CONFIG, Target, stable_body


def pytest_recording_configure(config: pytest.Config, vcr: VCR) -> None:
    vcr.register_matcher("stable_body", stable_body)


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    return dict(VCR_CONFIG)


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, record_mode: str) -> Target:
    """The real server and its real tokens when recording; the placeholders when replaying.

    The server is asked for only while recording, so replaying tests are not marked ``studio`` and run in
    ``make unit``. Both are set up before any cassette opens, so logging in is never recorded.
    """
    if record_mode == "none":
        return Target(REPLAY_URL, PLACEHOLDER_PAT, PLACEHOLDER_LEGACY_TOKEN)
    studio = request.getfixturevalue("studio")
    return Target(studio.url, studio.personal_token(), studio.legacy_token)


@pytest.fixture(autouse=True)
def whole_conversation_replayed(vcr: Cassette | None, record_mode: str) -> Iterator[None]:
    """In replay, every recorded exchange must have been asked for: a request our code stopped making fails."""
    yield
    if vcr is not None and record_mode == "none":
        unplayed = [f"{r.method} {r.path}" for i, (r, _) in enumerate(vcr.data) if not vcr.play_counts[i]]
        assert vcr.all_played, f"recorded requests never made: {unplayed}"
