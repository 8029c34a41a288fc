"""Browser tests: a real chromium (tests/browser.py) against the suite's Label Studio.

``browser`` is a fresh headless chromium; ``studio_page`` a page of it logged into the session's Label Studio. A
test that uses either fails when a page showed a Label Studio error toast or logged a console error of ours, and a
failing test keeps screenshots of its pages under ``test-artifacts/browser/`` (or ``$LS_LANGCHAIN_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from ls_langchain.localstudio import LocalStudio

from browser import BrowserSession, chromium, log_in

ROOT = Path(__file__).resolve().parents[3]
SESSION = pytest.StashKey[BrowserSession]()


def artifacts_dir() -> Path:
    """Where failing browser tests leave their screenshots."""
    return Path(os.environ.get("LS_LANGCHAIN_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Fail the test when its browser saw an error, and keep screenshots of its pages when it fails."""
    session = item.stash.get(SESSION, None)
    try:
        result = yield
        problems = session.problems() if session else []
        if problems:
            pytest.fail("The browser saw errors:\n  " + "\n  ".join(problems), pytrace=False)
        return result
    except BaseException:
        if session:
            stem = re.sub(r"[^\w.-]+", "_", item.nodeid.split("::", 1)[-1])
            shots = session.screenshots(artifacts_dir(), stem)
            item.add_report_section("call", "browser", "\n".join(f"screenshot: {path}" for path in shots))
        raise


@pytest.fixture
def browser(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrowserSession]:
    """A fresh headless chromium (its own user-data dir), watched for errors."""
    with chromium(tmp_path / "chromium-profile") as session:
        request.node.stash[SESSION] = session
        yield session


@pytest.fixture
def studio_page(browser: BrowserSession, studio: LocalStudio) -> Page:
    """A page logged into the session's Label Studio as its admin user."""
    page = browser.new_page()
    log_in(page, studio)
    return page
