"""What the browser tests share: the page driver :class:`Pond`, which reads the widget's state
from the DOM, sample files, and checks of what the server holds."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.storage import get_permanent_storage
from django_filepond_server.temporary import get_temporary_area

#: Longest wait for the widget to reach a state; uploads here take well under a second.
TIMEOUT_MS = 20_000


@contextlib.contextmanager
def browser_context(
    browser: Any,
    base_url: str,
    *,
    width: int = 720,
    height: int = 900,
    timeout_ms: int = TIMEOUT_MS,
) -> Iterator[Any]:
    """A fresh browser profile (cookies, session) on ``base_url``, closed on the way out."""
    context = browser.new_context(base_url=base_url, viewport={"width": width, "height": height})
    context.set_default_timeout(timeout_ms)
    try:
        yield context
    finally:
        context.close()


MB = 1_000_000

T = TypeVar("T")

#: The two URL layouts the app serves: FilePond's defaults (one URL, query keys) and one
#: path per endpoint, as django-drf-filepond users configure it.
URL_STYLES = {
    "single-url": "/fp/",
    "per-endpoint": {
        "url": "/fp/",
        "process": "process/",
        "patch": "patch/",
        "revert": "revert/",
        "restore": "restore/?id=",
        "load": "load/?id=",
        "fetch": "fetch/?target=",
    },
}


@dataclass(frozen=True)
class SampleFile:
    path: Path
    data: bytes

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def sha256(self) -> str:
        return sha256(self.data)


def eventually(check: Callable[[], T], timeout: float = TIMEOUT_MS / 1000) -> T:
    """``check()``'s first truthy result; for server-side effects the widget does not wait
    for (FilePond shows a revert done before its DELETE is answered)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still {result!r} after {timeout} s")
        time.sleep(0.02)
    return result


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temporary_bytes(upload_id: str) -> bytes:
    with get_temporary_area().open(upload_id) as f:
        return f.read()


def stored_bytes(stored: StoredUpload) -> bytes:
    with get_permanent_storage().open(stored.file.name, "rb") as f:
        return f.read()


def assert_temporary(upload_id: str, sample: SampleFile) -> TemporaryUpload:
    """The server holds ``sample`` complete, byte for byte, under its own name."""
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.complete
    assert upload.file_name == sample.name
    assert upload.received == len(sample.data)
    assert sha256(temporary_bytes(upload_id)) == sample.sha256
    return upload


# What the page knows about each item, in FilePond's order: the item's API, its DOM element
# (state attribute, name and status labels) and its hidden input.
_SNAPSHOT_JS = """() => {
  const inputs = [...document.querySelectorAll('input[type="hidden"][name="filepond"]')];
  return window.pond.getFiles().map((item, index) => {
    const el = document.getElementById('filepond--item-' + item.id);
    const text = (selector) => (el && el.querySelector(selector) || {}).textContent || null;
    return {
      id: item.id,
      name: item.filename,
      serverId: item.serverId,
      origin: item.origin,
      state: el ? el.dataset.filepondItemState || '' : null,
      label: text('.filepond--file-info-main'),
      status: text('.filepond--file-status-main'),
      hidden: inputs[index] === undefined ? null : inputs[index].value,
    };
  });
}"""

_STATES_REACHED_JS = """(expected) => {
  const items = [...document.querySelectorAll('.filepond--list .filepond--item')];
  const states = items.map((el) => el.dataset.filepondItemState || '').sort();
  return JSON.stringify(states) === JSON.stringify([...expected].sort());
}"""


_SETTLED_JS = """(count) => {
  const settled = ['processing-complete', 'processing-error', 'idle', 'load-invalid', 'load-error'];
  const items = [...document.querySelectorAll('.filepond--list .filepond--item')];
  const done = (el) => settled.includes(el.dataset.filepondItemState);
  return items.length === count && items.every(done);
}"""


class Pond:
    """The test page with FilePond, driven and read as a person's browser would be."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def open(
        self,
        server: str | dict[str, Any] = "/fp/",
        *,
        csrf: bool = False,
        messages: bool = False,
        session: bool = True,
        **options: Any,
    ) -> Pond:
        # allowMinimumUploadDuration only stretches each upload to 0.75-1.5 s for the eye; off,
        # the tests run faster and FilePond sends exactly the same requests.
        options = {
            "server": server,
            "allowMultiple": True,
            "allowMinimumUploadDuration": False,
            **options,
        }
        config = {"options": options, "csrf": csrf, "messages": messages, "session": session}
        self.page.goto("/?" + urlencode({"config": json.dumps(config)}))
        self.page.wait_for_function("() => window.pond !== undefined")
        return self

    def add(self, *files: SampleFile) -> None:
        """Pick files with FilePond's own file input, as the browse dialog would."""
        self.page.set_input_files(".filepond--browser", [str(f.path) for f in files])

    def add_source(self, source: str) -> None:
        self.page.evaluate("(source) => { window.pond.addFile(source).catch(() => {}); }", source)

    def wait_for_states(self, *states: str) -> list[dict[str, Any]]:
        """Wait until the items' ``data-filepond-item-state`` are exactly ``states`` (in any
        order); returns :meth:`items`."""
        try:
            self.page.wait_for_function(_STATES_REACHED_JS, arg=list(states))
        except Exception as exc:  # say what the widget showed instead
            raise AssertionError(
                f"expected item states {sorted(states)}; the page shows {self.items()} "
                f"after events {self.events()}"
            ) from exc
        return self.items()

    def wait_until_settled(self, count: int) -> list[dict[str, Any]]:
        """Wait until ``count`` items have each finished, well or not; returns :meth:`items`."""
        self.page.wait_for_function(_SETTLED_JS, arg=count)
        return self.items()

    def items(self) -> list[dict[str, Any]]:
        return self.page.evaluate(_SNAPSHOT_JS)  # type: ignore[no-any-return]

    def item(self, name: str) -> dict[str, Any]:
        (found,) = [item for item in self.items() if item["name"] == name]
        return found

    def button(self, name: str, action: str) -> Any:
        """The ``filepond--action-<action>`` button of the item called ``name``."""
        label = self.page.locator(".filepond--file-info-main", has_text=_exactly(name))
        item = self.page.locator(".filepond--item").filter(has=label)
        return item.locator(f".filepond--action-{action}")

    def events(self) -> list[dict[str, Any]]:
        return self.page.evaluate("() => window.pondEvents")  # type: ignore[no-any-return]

    def widget_sha256(self, name: str) -> str:
        """sha256 of the bytes the widget holds for item ``name`` (e.g. what load returned)."""
        return self.page.evaluate(  # type: ignore[no-any-return]
            """async (name) => {
              const item = window.pond.getFiles().find((f) => f.filename === name);
              const digest = await crypto.subtle.digest('SHA-256', await item.file.arrayBuffer());
              const hex = (b) => b.toString(16).padStart(2, '0');
              return [...new Uint8Array(digest)].map(hex).join('');
            }""",
            name,
        )

    def submit(self) -> dict[str, Any]:
        """Submit the page's form natively; returns the JSON the form's view answered."""
        with self.page.expect_response("**/submit/") as response:
            self.page.click("button[type=submit]")
        assert response.value.status == 200, response.value.text()
        return response.value.json()  # type: ignore[no-any-return]


def _exactly(text: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(text) + "$")
