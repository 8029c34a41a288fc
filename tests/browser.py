"""A real browser for the tests: Debian's ``chromium`` driven by Playwright, logged into the suite's Label Studio.

``playwright install`` cannot download a browser here, so Playwright drives the system's chromium
(``make browser`` installs it with apt) through ``executable_path``. Every page is watched: an error toast or error
message that Label Studio shows, an uncaught exception and a console error all count as problems, except the few
Label Studio makes on its own (``LABEL_STUDIO_NOISE``), each with its reason.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page, sync_playwright

from ls_langchain.localstudio import LocalStudio

__all__ = ["CHROMIUM_ARGS", "BrowserSession", "PageWatch", "chromium", "chromium_executable", "log_in", "open_task"]

CHROMIUM_ENV = "LS_LANGCHAIN_CHROMIUM"
# Root needs --no-sandbox; the rest keep a headless chromium from reaching out to the network or updating itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What Label Studio shows when something went wrong: its toasts (CSS-module classes such as
# ``toast_error--ODG86``) and the error-message blocks of the app (``ls-``) and the labeling editor (``lsf-``).
ERROR_SELECTOR = ", ".join(
    [
        '[class*="toast_error"]',
        '[class*="toast_alertError"]',
        '[class*="messageToast_error"]',
        '[class*="messageToast_alertError"]',
        ".ls-error-message",
        ".lsf-error-message",
    ]
)
# Console errors Label Studio 1.23.2 logs by itself, on any page, whatever the project holds.
LABEL_STUDIO_NOISE = [
    # Resources the offline machine cannot load (fonts, avatars from gravatar, ...): not about our data.
    re.compile(r"net::ERR_(NAME_NOT_RESOLVED|INTERNET_DISCONNECTED|CONNECTION_REFUSED|ADDRESS_UNREACHABLE)"),
    # The projects page asks for tips that only Label Studio's cloud edition serves.
    re.compile(r"status of 404 .*/heidi-tips\b"),
]


def chromium_executable() -> str:
    """Where the system chromium is: ``LS_LANGCHAIN_CHROMIUM``, else ``/usr/bin/chromium``, else ``PATH``."""
    candidates = [os.environ.get(CHROMIUM_ENV), "/usr/bin/chromium", shutil.which("chromium")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise RuntimeError(f"No chromium found: run `make browser` (apt-get install chromium) or set {CHROMIUM_ENV}.")


class PageWatch:
    """What went wrong on a page: console errors and uncaught exceptions as they come, error toasts on demand."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught {error.name}: {error.message}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        text = f"console error: {message.text}" + (f" ({where})" if where else "")
        if not any(pattern.search(text) for pattern in LABEL_STUDIO_NOISE):
            self.errors.append(text)

    def shown_errors(self) -> list[str]:
        """The text of every error toast or error message Label Studio shows right now."""
        if self.page.is_closed():
            return []
        try:
            shown = self.page.locator(ERROR_SELECTOR).all_inner_texts()
        except Error:  # the page crashed or navigates away right now: nothing shown
            return []
        return [f"Label Studio shows an error: {' '.join(text.split())[:300]}" for text in shown if text.strip()]

    def problems(self) -> list[str]:
        """Everything that went wrong on this page so far, one line each."""
        return [*self.errors, *self.shown_errors()]


class BrowserSession:
    """A headless chromium with a fresh user-data dir (no stored settings: Auto-Annotation is off), every page of it
    watched for errors."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.watches: list[PageWatch] = []
        context.on("page", lambda page: self.watches.append(PageWatch(page)))

    def new_page(self) -> Page:
        return self.context.new_page()

    def problems(self) -> list[str]:
        """What went wrong on any page of the session, one line each."""
        return [problem for watch in self.watches for problem in watch.problems()]

    def screenshots(self, folder: Path, stem: str) -> list[Path]:
        """Save what every open page shows, as ``stem.png`` (``stem-2.png``, ... for more pages)."""
        folder.mkdir(parents=True, exist_ok=True)
        saved = []
        for number, watch in enumerate((w for w in self.watches if not w.page.is_closed()), start=1):
            path = folder / (f"{stem}.png" if number == 1 else f"{stem}-{number}.png")
            with contextlib.suppress(Error):
                watch.page.screenshot(path=str(path), full_page=True)
                saved.append(path)
        return saved


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[BrowserSession]:
    """Start the system chromium through Playwright, with ``profile`` as its fresh user-data dir."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_executable(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(20_000)
        # A persistent context opens with one blank page, made before anything could watch it.
        for page in context.pages:
            page.close()
        try:
            yield BrowserSession(context)
        finally:
            context.close()


def log_in(page: Page, studio: LocalStudio) -> None:
    """Log in through Label Studio's own login form, as a person would."""
    page.goto(f"{studio.url}/user/login/")
    page.fill('input[name="email"]', studio.username)
    page.fill('input[name="password"]', studio.password)
    page.click('button[type="submit"]')
    page.wait_for_url(lambda url: "/user/login" not in url)


def open_task(page: Page, studio: LocalStudio, project_id: int, task_id: int) -> None:
    """Open one task in the labeling editor of its project's Data Manager, and wait until the editor shows it."""
    page.goto(f"{studio.url}/projects/{project_id}/data?task={task_id}")
    page.get_by_test_id("bottombar-submit-button").or_(page.get_by_test_id("bottombar-update-button")).wait_for()
