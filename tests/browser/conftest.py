"""Fixtures of the browser tests: one headless Chromium for the package, a live server on the
test page's URLconf, a fresh browser profile and page per test, and sample files."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.support import Pond, SampleFile, browser_context
from tests.browser.views import FILEPOND_DIST
from tests.browser.wire import wire

CHROMIUM = os.environ.get("FILEPOND_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_configure(config: pytest.Config) -> None:
    # Also registered here so `--strict-markers` accepts the marker from any checkout.
    config.addinivalue_line("markers", "browser: the real FilePond client in headless Chromium")


def _unavailable() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[browser]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if not (FILEPOND_DIST / "filepond.min.js").is_file():
        return f"no FilePond in {FILEPOND_DIST} (npm ci in demo/)"
    return None


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Chromium for the whole package. Without it the tests are skipped, unless
    FILEPOND_REQUIRE_BROWSER is set (as CI does), so a missing install cannot pass quietly."""
    with headless_chromium(required=bool(os.environ.get("FILEPOND_REQUIRE_BROWSER"))) as chromium:
        yield chromium


@contextlib.contextmanager
def headless_chromium(*, required: bool) -> Iterator[Any]:
    """Chromium through Playwright; a missing piece fails the test when ``required``, else
    skips it."""
    reason = _unavailable()
    if reason is not None:
        if required:
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread while it is started,
    # and Django would then refuse every ORM call of the tests as "async".
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def site_urlconf() -> str:
    """The URLconf of the test pages; a test module with pages of its own overrides it."""
    return "tests.browser.urls"


@pytest.fixture
def site(
    settings: Any, transactional_db: None, live_server: Any, site_urlconf: str
) -> Iterator[str]:
    """The live server on the test pages' URLconf, with a clean record of requests."""
    settings.ROOT_URLCONF = site_urlconf
    wire.reset()
    yield str(live_server.url)
    wire.reset()


@pytest.fixture
def context(browser: Any, site: str) -> Iterator[Any]:
    """A fresh browser profile (cookies, session) per test."""
    with browser_context(browser, site) as ctx:
        yield ctx


@pytest.fixture
def pond(context: Any) -> Pond:
    return Pond(context.new_page())


@pytest.fixture
def make_file(tmp_path: Path) -> Any:
    """Write a file of ``size`` reproducible random bytes (or ``data``) under ``name``."""
    folder = tmp_path / "client"
    folder.mkdir()

    def make(name: str, size: int = 0, data: bytes | None = None) -> SampleFile:
        if data is None:
            data = random.Random(f"{name}:{size}").randbytes(size)
        path = folder / name
        path.write_bytes(data)
        return SampleFile(path, data)

    return make
