"""Fixtures of the evaluation tests: our client and a second annotator on the session's Label Studio."""

from __future__ import annotations

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import Studio


@pytest.fixture(scope="session")
def studio_client(studio: LocalStudio, pat: str) -> Studio:
    """Our own client on the session's server."""
    return Studio(studio.url, pat)


@pytest.fixture(scope="session")
def other_annotator(ls: LabelStudio) -> int:
    """The id of a second user, to annotate as someone else."""
    user = ls.users.create(username="evaluator-two", email="evaluator-two@example.com", first_name="Two")
    return int(user.id)
