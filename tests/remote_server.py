"""A real HTTP server on 127.0.0.1 for the fetch tests: files, redirects, drips, endless bodies."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.helpers import tiny_png

PNG = tiny_png(padding=2048)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RemoteServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_body(self, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: C901  (one branch per scenario reads best here)
        self.server.requests.append((self.path, dict(self.headers)))
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = url.path
        if path == "/files/photo.png":
            self.send_body(PNG, "image/png")
        elif path == "/files/r%C3%A9sum%C3%A9%20100%25.pdf":
            self.send_body(b"%PDF-1.4", "application/pdf")
        elif path == "/superscript-length":
            # A length of "²": str.isdigit() says yes, int() says no.
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "\u00b2")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"superscript body")
            self.close_connection = True
        elif path == "/download":
            self.send_body(
                b"%PDF-1.4 report body",
                "application/pdf; charset=binary",
                Content_Disposition='attachment; filename="../report.pdf"',
            )
        elif path == "/download-star":
            self.send_body(
                b"resume body",
                "application/pdf",
                Content_Disposition=(
                    "attachment; filename=\"fallback.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
                ),
            )
        elif path == "/disguised.png":
            self.send_body(b"<html><script>alert(1)</script></html>", "image/png")
        elif path == "/page.html":
            self.send_body(b"<script>alert(1)</script>", "text/html")
        elif path.startswith("/hops/"):
            left = int(path.rsplit("/", 1)[1])
            if left == 0:
                self.send_body(PNG, "image/png")
            else:
                self.send_response(302)
                self.send_header("Location", f"/hops/{left - 1}")
                self.send_header("Content-Length", "0")
                self.end_headers()
        elif path == "/redirect":
            self.send_response(int(query.get("status", ["302"])[0]))
            location = query["to"][0]
            if "utf8" in query:  # the raw UTF-8 bytes on the wire, as many servers send them
                location = location.encode().decode("latin-1")
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                if self.server.stopping.is_set():
                    return
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.25)
        elif path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()  # no length: the body ends when the connection does
            block = b"e" * 65536
            while not self.server.stopping.is_set():
                try:
                    self.wfile.write(block)
                except OSError:
                    return
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "10000")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"t" * 3000)
            self.close_connection = True
        elif path == "/odd-length":  # a Content-Length that is no number: read to the end
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            value = query["value"][0]
            self.send_header("Content-Length", "9" * 5000 if value == "5000 digits" else value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"odd length")
            self.close_connection = True
        elif path == "/huge-declared":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self.wfile.write(b"x" * 1000)
            self.server.stopping.wait(10)
        elif path == "/slow-headers":
            self.server.stopping.wait(5)
        elif path.startswith("/status/"):
            self.send_response(int(path.rsplit("/", 1)[1]))
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"oops!")
        else:
            self.send_error(404)


class RemoteServer(ThreadingHTTPServer):
    """The remote server; with ``tls`` (a server-side context), an HTTPS one that records the
    host names clients asked for in TLS's SNI."""

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.server_names: list[str | None] = []
        self.tls = tls
        if tls is not None:
            tls.sni_callback = lambda _socket, name, _context: self.server_names.append(name)
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def finish_request(self, request: socket.socket, client_address: object) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:  # the handshake in the request's thread, not the server's
            secure = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused the certificate, as it should
        with secure:
            super().finish_request(secure, client_address)

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
