"""What the app received from the browser, and faults to inject into it.

The live server runs in a thread of the test process, so the tests read and steer one
module-level :data:`wire` that the URLconf's wrapper views write to.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase


@dataclass(frozen=True)
class Exchange:
    """One request to the FilePond endpoints and the status it got."""

    method: str
    path: str
    query: dict[str, str]
    upload_id: str | None
    #: ``Upload-Offset`` of a PATCH, or the one a HEAD answered with.
    offset: int | None
    #: ``Content-Length`` of the request body.
    body_length: int
    #: Whether a POST started a chunked transfer (``Upload-Length`` and no file part).
    chunk_start: bool
    status: int
    #: True when the answer came from an injected fault, not from the app.
    injected: bool = False


@dataclass
class Fault:
    """Answer PATCHes at ``offset`` with ``status`` ``times`` times.

    ``after=False`` answers before the app sees the chunk (a connection that broke on the
    way in); ``after=True`` lets the app keep the chunk and loses its answer (a proxy that
    timed out while the app was writing).
    """

    offset: int
    times: int = 1
    status: int = 500
    after: bool = False
    message: str = "The chunk was lost on the way (injected by the test)."


class Gathering:
    """The first ``count`` requests of ``method`` reach the app only once all of them have
    arrived, and are answered only once the app has handled all of them.

    A barrier that times out lets the requests go on (the server must not hang), and the
    timeout is recorded: a test that relies on the gathering asserts :attr:`held`.
    """

    def __init__(self, method: str, count: int) -> None:
        self.method = method
        self.count = count
        self.free_places = count
        self.arrived = threading.Barrier(count, timeout=10)
        self.handled = threading.Barrier(count, timeout=10)
        self.passed = 0  # barrier waits that every request reached in time
        self.timeouts: list[str] = []
        self.lock = threading.Lock()

    def wait(self, barrier: threading.Barrier) -> None:
        stage = "arrived" if barrier is self.arrived else "handled"
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            with self.lock:
                self.timeouts.append(f"{stage}: the barrier broke before {self.count} requests met")
        else:
            with self.lock:
                self.passed += 1

    @property
    def held(self) -> bool:
        """Whether all ``count`` requests were in flight together and answered together."""
        return not self.timeouts and self.passed == 2 * self.count


@dataclass
class Wire:
    exchanges: list[Exchange] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    gathering: Gathering | None = None

    def reset(self) -> None:
        with self.lock:
            self.exchanges.clear()
            self.faults.clear()
            self.gathering = None

    def gather(self, method: str, count: int) -> Gathering:
        """Make the next ``count`` ``method`` requests surely in flight at once (each sent
        before any was answered) and answered together, whatever the timing of the browser
        and the server. Assert the returned gathering's ``held`` afterwards."""
        self.gathering = Gathering(method, count)
        return self.gathering

    def join_gathering(self, request: HttpRequest) -> Gathering | None:
        with self.lock:
            gathering = self.gathering
            if gathering is None or request.method != gathering.method:
                return None
            gathering.free_places -= 1
            if gathering.free_places == 0:
                self.gathering = None
        return gathering

    def fail_patch(self, offset: int, **kwargs: Any) -> Fault:
        fault = Fault(offset, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, request: HttpRequest) -> Fault | None:
        if request.method != "PATCH":
            return None
        offset = _int_or_none(request.headers.get("Upload-Offset"))
        with self.lock:
            for fault in self.faults:
                if fault.offset == offset and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def record(self, exchange: Exchange) -> None:
        with self.lock:
            self.exchanges.append(exchange)

    def of(self, *methods: str) -> list[Exchange]:
        with self.lock:
            return [e for e in self.exchanges if e.method in methods]


wire = Wire()


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def recorded(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """``view`` as the browser reaches it, with every exchange written to :data:`wire`.

    ``functools.wraps`` keeps the view's ``csrf_exempt`` mark, so CSRF is decided by the app
    exactly as without the wrapper.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Revert carries the id as its body; read it first (Django keeps it for the view).
        reverted_id = (
            request.body.decode("utf-8", "replace").strip() if request.method == "DELETE" else ""
        )
        gathering = wire.join_gathering(request)
        if gathering is not None:
            gathering.wait(gathering.arrived)
        fault = wire.take_fault(request)
        if fault is not None and not fault.after:
            request.read()  # the app never saw these bytes
            response: HttpResponseBase = HttpResponse(
                fault.message, status=fault.status, content_type="text/plain"
            )
        else:
            response = view(request, *args, **kwargs)
            if fault is not None:
                response.close()
                response = HttpResponse(
                    fault.message, status=fault.status, content_type="text/plain"
                )
        if gathering is not None:
            gathering.wait(gathering.handled)
        query = {key: request.GET[key] for key in request.GET}
        keys = ("patch", "restore", "load", "id")
        upload_id = kwargs.get("upload_id") or next((query[k] for k in keys if k in query), None)
        if request.method == "DELETE":
            upload_id = reverted_id or upload_id
        if request.method == "HEAD":
            offset = _int_or_none(response.get("Upload-Offset"))
        else:
            offset = _int_or_none(request.headers.get("Upload-Offset"))
        wire.record(
            Exchange(
                method=request.method or "",
                path=request.path,
                query=query,
                upload_id=upload_id,
                offset=offset,
                body_length=_int_or_none(request.META.get("CONTENT_LENGTH")) or 0,
                chunk_start=request.method == "POST" and "Upload-Length" in request.headers,
                status=response.status_code,
                injected=fault is not None,
            )
        )
        return response

    return wrapper
