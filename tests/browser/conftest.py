"""Browser fixtures: one Chromium per session (Playwright), live gunicorn servers (one per test,
or one per module for tests that keep to accounts of their own), and a screenshot of every
open page when a test fails.

Chromium is Debian's (Playwright cannot download browsers here). When it is missing the
browser tests are skipped with the reason, except under CI=true, where they fail: CI must
never pass by silently not running them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.support import IN_CI, LIVE_KIND, new_live_database, start_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--no-sandbox",  # the tests run as root
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
# Explicit waits only; a page of this shop answers in milliseconds, so 10 s means "never".
TIMEOUT_MS = 10_000
CONTEXTS = pytest.StashKey[list[BrowserContext]]()


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def require_chromium() -> None:
    if not Path(CHROMIUM).is_file() or not os.access(CHROMIUM, os.X_OK):
        _unavailable(
            f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture runs, so no server is started for a test that cannot run.
    if item.get_closest_marker("browser"):
        require_chromium()


@pytest.fixture(scope="session")
def playwright_api() -> Iterator[Playwright]:
    with sync_playwright() as api:
        yield api


@pytest.fixture(scope="session")
def browser(playwright_api: Playwright) -> Iterator[Browser]:
    """One Chromium for the whole session; each test gets its own contexts (cookie jars)."""
    require_chromium()
    browser = playwright_api.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    expect.set_options(timeout=TIMEOUT_MS)
    yield browser
    browser.close()


@pytest.fixture
def new_context(browser: Browser, request: pytest.FixtureRequest,
                ) -> Iterator[Callable[..., BrowserContext]]:
    """`new_context()` is a new browser profile (cookie jar); closed after the test."""
    contexts: list[BrowserContext] = []
    request.node.stash[CONTEXTS] = contexts  # for the screenshot hook below

    def make(**options: object) -> BrowserContext:
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def new_page(new_context: Callable[..., BrowserContext]) -> Callable[..., Page]:
    """`new_page()`: a page in a fresh context (a second browser, a second device)."""
    return lambda **options: new_context(**options).new_page()


@pytest.fixture
def shop(start_live_server):  # noqa: ANN001, ANN201
    """A gunicorn server of this test's own (its own database and memory rate limiter)."""
    return start_live_server()


@pytest.fixture(scope="module")
def shared_shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """One gunicorn server for a whole module whose tests each use accounts of their own
    (a server costs about a second to start and stop). The rate limits then count for the
    module: keep its registrations under 10 an hour."""
    folder = tmp_path_factory.mktemp("shared-shop")
    template = request.getfixturevalue("sqlite_template") if LIVE_KIND == "sqlite" else ""
    database = new_live_database(LIVE_KIND, template, folder)
    try:
        server = start_server(database.url, folder)
    except Exception:
        database.drop()
        raise
    yield server
    server.stop()
    database.drop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    pages = [page for context in item.stash.get(CONTEXTS, []) for page in context.pages]
    if not pages:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)
    saved = []
    for number, page in enumerate(pages, start=1):
        path = ARTIFACTS / f"{stem}-{number}.png"
        try:
            page.screenshot(path=str(path), full_page=True, timeout=5_000)
        except Exception as error:  # noqa: BLE001 - a screenshot must not hide the failure
            saved.append(f"{path.name}: not saved ({error.__class__.__name__})")
        else:
            saved.append(f"{path} ({page.url})")
    report.sections.append(("screenshots", "\n".join(saved)))
