"""The demo's own page after the three scenario-1 uploads, saved as PNGs for a person to see.

The demo runs as a person runs it (``manage.py runserver``, DEBUG on, its SQLite database,
static FilePond from npm), with its database and files in a temporary directory. The PNGs go
to ``FILEPOND_SCREENSHOT_DIR`` (default ``.ci/out/``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.forms_support import FormPage
from tests.browser.support import MB, browser_context, sha256

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCREENSHOT_DIR = Path(os.environ.get("FILEPOND_SCREENSHOT_DIR") or REPO / ".ci" / "out")


SETTLED_LOOK_JS = """(count) => {
  const buttons = [...document.querySelectorAll('.filepond--action-revert-item-processing')];
  return buttons.length === count && buttons.every((b) => getComputedStyle(b).opacity === '1');
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """The demo on a free port of 127.0.0.1; its URL."""
    env = {
        **os.environ,
        # demo/ has a `tests` package of its own: load the settings by their folder.
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "demo"), str(HERE)]),
        "DJANGO_SETTINGS_MODULE": "demo_settings",
        "DEMO_DB_PATH": str(tmp_path / "demo.sqlite3"),
        "FILEPOND_DEMO_VAR": str(tmp_path / "demo-var"),
    }
    manage = [sys.executable, str(REPO / "demo" / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], env=env, check=True, timeout=60)
    port = free_port()
    log = (tmp_path / "runserver.log").open("wb")
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        (tmp_path / "runserver.log").read_text(errors="replace")
                    ) from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def test_screenshot_of_the_demo_after_the_scenario_1_uploads(
    browser: Any, demo: str, make_file: Any, tmp_path: Path
) -> None:
    small = make_file("notes.txt", data=b"Minutes of the meeting.\n" * 800)
    chunked = make_file("site-survey.bin", 3_500_000)
    exact = make_file("exactly-2MB.bin", 2 * MB)
    with browser_context(browser, demo, width=900) as context:
        page = FormPage(context.new_page()).goto("/", ponds=2)
        page.page.fill("input[name=title]", "Site survey")
        # One file first: the demo's page starts no session, so the first upload must make it
        # before others start (test_sessions.py shows what happens otherwise).
        page.add("files", small.path)
        page.wait_for_states("files", "processing-complete")
        page.add("files", chunked.path, exact.path)
        items = page.wait_for_states("files", *["processing-complete"] * 3)
        assert {item["name"] for item in items} == {small.name, chunked.name, exact.name}
        assert all(item["hidden"] == item["serverId"] for item in items)
        # The state flips before FilePond's completion animation ends; wait for it to end, so
        # the picture shows what a person sees a moment later (green items, undo buttons).
        page.page.wait_for_function(SETTLED_LOOK_JS, arg=3)
        page.page.wait_for_timeout(300)
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        page.page.screenshot(path=str(SCREENSHOT_DIR / "demo-upload.png"), full_page=True)

        page.page.click("button[type=submit]")
        page.page.wait_for_url("**/documents/*/")
        rows = page.page.locator("table.files tbody tr td:first-child").all_inner_texts()
        assert sorted(rows) == sorted([small.name, chunked.name, exact.name])
        # The demo stored them (its DESTINATION is "demo/"), byte for byte.
        stored = tmp_path / "demo-var" / "media" / "demo"
        for sample in (small, chunked, exact):
            assert sha256((stored / sample.name).read_bytes()) == sample.sha256
        page.page.screenshot(path=str(SCREENSHOT_DIR / "demo-document.png"), full_page=True)
