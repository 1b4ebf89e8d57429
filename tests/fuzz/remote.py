"""The file server that the run's fetch requests may reach: one loopback address of its own
(127.0.0.2), the only one the fuzz server's fetch allow-list opens. Every path answers 200, so
that no fetch fails upstream (the fetch tests cover those answers)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.helpers import tiny_png

HOST = "127.0.0.2"

#: Path -> (body, Content-Type, extra headers).
FILES: dict[str, tuple[bytes, str, dict[str, str]]] = {
    "/small.txt": (b"a small text file\n", "text/plain", {}),
    "/photo.png": (tiny_png(padding=1000), "image/png", {}),
    "/page.html": (b"<html><body>hi</body></html>", "text/html", {}),
    "/hidden.png": (b"<html><script>alert(1)</script></html>", "image/png", {}),
    "/big.bin": (b"\x00" * (300 * 1024), "application/octet-stream", {}),
    "/empty": (b"", "application/octet-stream", {}),
    # Lengths no number: the body then ends with the connection.
    "/odd-length": (b"odd length\n", "text/plain", {"Content-Length": "\u00b2"}),
    "/long-length": (b"long length\n", "text/plain", {"Content-Length": "9" * 5000}),
    "/named": (
        b"named\n",
        "text/plain",
        {"Content-Disposition": 'attachment; filename="odd;name%41.txt"'},
    ),
}
OTHER = (b"any other path\n", "text/plain", {})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body, content_type, headers = FILES.get(urlsplit(self.path).path, OTHER)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.close_connection = True
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class FileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"

    def files(self) -> dict[str, bytes]:
        return {path: body for path, (body, _type, _headers) in FILES.items()}

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
