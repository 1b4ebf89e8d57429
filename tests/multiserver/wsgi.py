"""The WSGI application of one app server of the multi-server tests.

Django's own application, with two test-only additions: every answer names the server in
``X-Served-By``, and a PATCH can be held half way through its body by the test's
:class:`~tests.multiserver.cluster.Gate` (the server claims an armed gate by renaming its
file, writes ``held-<n>`` once half the body is read, and goes on when ``release`` appears).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

CONFIG = json.loads(os.environ["FILEPOND_MULTISERVER"])
NAME: str = CONFIG["name"]
GATE_DIR: str | None = CONFIG.get("gate_dir")
#: The longest a held request waits for the test before going on by itself.
HOLD_LIMIT = 120

django_application = get_wsgi_application()


class HeldInput:
    """``wsgi.input`` that stops after ``hold_after`` bytes until the gate is released."""

    def __init__(self, stream: Any, hold_after: int, number: str) -> None:
        self.stream = stream
        self.hold_after = hold_after
        self.number = number
        self.read_so_far = 0
        self.held = False

    def read(self, size: int = -1) -> bytes:
        if not self.held:
            left = self.hold_after - self.read_so_far
            if size is None or size < 0 or size > left:
                size = left
            data: bytes = self.stream.read(size)
            self.read_so_far += len(data)
            if self.read_so_far >= self.hold_after or not data:
                self.hold()
            return data
        return self.stream.read(size)  # type: ignore[no-any-return]

    def readline(self, size: int = -1) -> bytes:
        return self.stream.readline(size)  # type: ignore[no-any-return]

    def hold(self) -> None:
        self.held = True
        assert GATE_DIR is not None
        held = os.path.join(GATE_DIR, f"held-{self.number}")
        with open(held, "w") as f:
            f.write(NAME)
        deadline = time.monotonic() + HOLD_LIMIT
        while not os.path.exists(os.path.join(GATE_DIR, "release")):
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        os.remove(held)


def _claim(environ: dict[str, Any]) -> str | None:
    """The number of the armed gate this PATCH claims, if any."""
    assert GATE_DIR is not None
    offset = int(environ.get("HTTP_UPLOAD_OFFSET") or -1)
    for name in sorted(os.listdir(GATE_DIR)):
        if not (name.startswith("arm-") and name.endswith(".json")):
            continue
        path = os.path.join(GATE_DIR, name)
        with contextlib.suppress(FileNotFoundError, ValueError):
            with open(path) as f:
                gate = json.load(f)
            if gate["server"] not in ("any", NAME) or offset < gate["min_offset"]:
                continue
            number = name[len("arm-") : -len(".json")]
            os.rename(path, os.path.join(GATE_DIR, f"claimed-{number}"))  # one taker only
            return number
    return None


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if GATE_DIR and environ["REQUEST_METHOD"] == "PATCH":
        number = _claim(environ)
        if number is not None:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            environ["wsgi.input"] = HeldInput(environ["wsgi.input"], length // 2, number)

    def served_by(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, ("X-Served-By", NAME)], exc_info)

    return django_application(environ, served_by)  # type: ignore[no-any-return]
