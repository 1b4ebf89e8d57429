"""Raw HTTP/1.1 over loopback, with every liberty a broken or hostile client takes.

:class:`Request` is sent byte for byte as built: any method, any target, repeated headers,
header values with odd bytes, a ``Content-Length`` that is not the body's, and a body cut
short (the client half-closes and waits for the answer) or abandoned (the client goes away).
The answer is read while the body is still going out, so that an answer a server gives
before it has read everything (a refusal from the headers) is not lost.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any

#: Header value types: bytes go out as they are, text as Latin-1 where it can (else UTF-8).
HeaderValue = str | bytes


def _raw(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


TIMEOUT = 60


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, HeaderValue]] = field(default_factory=list)
    body: bytes = b""
    #: ``Content-Length`` to declare: the body's by default, ``None`` for none.
    content_length: int | None | str = "auto"
    #: Send only this many body bytes, then half-close (``abandon``: close) the connection.
    cut_at: int | None = None
    abandon: bool = False
    version: str = "HTTP/1.1"
    #: A second Cookie header makes who the request stands for unknowable: the client then
    #: keeps none of the answer's cookies, and judges nothing about the upload it made.
    garbled: bool = False
    #: The credentials the sender put in (:class:`tests.fuzz.visitors.Sent`).
    sent: Any = None

    def header(self, name: str) -> HeaderValue | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def encode(self, port: int) -> bytes:
        lines = [_raw(f"{self.method} {self.target} {self.version}")]
        lines.append(f"Host: 127.0.0.1:{port}".encode())
        headers = list(self.headers)
        if self.content_length == "auto":
            headers.append(("Content-Length", str(len(self.body))))
        elif self.content_length is not None:
            headers.append(("Content-Length", str(self.content_length)))
        for name, value in headers:
            raw = value if isinstance(value, bytes) else _raw(value)
            lines.append(_raw(name) + b": " + raw)
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        body = self.body if self.cut_at is None else self.body[: self.cut_at]
        return head + body


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


class _Bytes:
    """What :class:`http.client.HTTPResponse` reads an answer from."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def parse(data: bytes, method: str) -> Response | None:
    """The answer in ``data``, or ``None`` if no complete head arrived."""
    if b"\r\n\r\n" not in data:
        return None
    raw = http.client.HTTPResponse(_Bytes(data), method=method)  # type: ignore[arg-type]
    try:
        raw.begin()
        body = raw.read()
    except http.client.IncompleteRead as exc:
        body = exc.partial + b"\x00<cut short>"
    except http.client.HTTPException:
        return None
    return Response(raw.status, raw.headers, body)


class Exchange:
    """One request on its own connection; may be sent in stages (:meth:`send`)."""

    def __init__(self, port: int, request: Request) -> None:
        self.request = request
        self.pending = memoryview(request.encode(port))
        self.received = bytearray()
        self.closed = False
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setblocking(False)
        self.deadline = time.monotonic() + TIMEOUT

    def _pump(self, until_sent: int | None) -> None:
        """Send until ``until_sent`` bytes are left (``None``: until all answered)."""
        while not self.closed:
            left = len(self.pending)
            if until_sent is not None and left <= until_sent:
                return
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer in {TIMEOUT} s")
            writers = [self.sock] if left else []
            readable, writable, _ = select.select([self.sock], writers, [], remaining)
            if writable:
                try:
                    sent = self.sock.send(self.pending[: 256 * 1024])
                    self.pending = self.pending[sent:]
                except (BrokenPipeError, ConnectionResetError):
                    self.pending = memoryview(b"")  # the server stopped reading
                if not self.pending and self.request.cut_at is not None:
                    self._end_of_body()
            if readable:
                try:
                    data = self.sock.recv(256 * 1024)
                except ConnectionResetError:
                    data = b""
                if not data:
                    self.close()
                else:
                    self.received += data

    def _end_of_body(self) -> None:
        if self.request.abandon:
            self.close()
        else:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)

    def send(self, leave: int = 0) -> None:
        """Send all but the last ``leave`` bytes of the request."""
        self._pump(leave)

    def finish(self) -> Response | None:
        """Send the rest and read the whole answer (``None`` if none came, or abandoned)."""
        self._pump(None)
        return None if self.request.abandon else parse(bytes(self.received), self.request.method)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()


def exchange(port: int, request: Request) -> Response | None:
    return Exchange(port, request).finish()
