"""The client of ``compare.py``: FilePond's requests, the same for every target.

All three targets are asked at django-drf-filepond's paths (one path per endpoint), which our
app serves as well as FilePond's single URL, and the limit imitates: ``POST /fp/process/``,
``PATCH /fp/patch/<id>``, ``GET /fp/restore/?id=<id>``, ``GET /fp/load/?id=<id>``, plus the
benchmark's ``POST /store/``. Every answer is checked (status, id shape, bytes); a wrong one
raises :class:`~core.CheckFailed`.
"""

from __future__ import annotations

import http.client
import math
import re
import threading
import time
from dataclasses import dataclass

from core import (
    READ_BLOCK,
    BrowserConnection,
    CheckFailed,
    expect_status,
    send,
    send_chunks,
)

PROCESS_URL = "/fp/process/"
STORE_URL = "/store/"
BOUNDARY = "compare-bench-boundary"
#: Every id the three targets hand out: 22 characters of shortuuid or token_urlsafe.
ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
#: Our app keeps at most 100 temporary uploads per session (FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER)
#: so a client starts a new session, as a new visitor would, after this many uploads.
UPLOADS_PER_SESSION = 100


def multipart_body(size: int) -> bytes:
    """FilePond's whole-file POST: the metadata part, then the file part, one field name."""
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="filepond"\r\n\r\n'
        "{}\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="filepond"; filename="small.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    # Bytes no sniffer takes for anything but data, the same in every request.
    content = bytes(range(256)) * (size // 256) + bytes(size % 256)
    return head + content + f"\r\n--{BOUNDARY}--\r\n".encode()


START_BODY = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="filepond"\r\n\r\n{{}}\r\n'
    f"--{BOUNDARY}--\r\n"
).encode()
MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def checked_id(body: bytes, what: str) -> str:
    text = body.decode("ascii", "replace")
    if not ID_RE.match(text):
        raise CheckFailed(f"{what}: the answer {text[:80]!r} is not an upload id")
    return text


def process(conn: http.client.HTTPConnection, body: bytes) -> str:
    """A whole-file upload (FilePond's ``process``); returns the id."""
    response = send(conn, "POST", PROCESS_URL, body=body, headers={"Content-Type": MULTIPART_TYPE})
    return checked_id(expect_status(response, "process", 200, 201), "process")


def upload_chunked(conn: http.client.HTTPConnection, path: str, size: int, chunk_size: int) -> str:
    """Send ``path`` as FilePond's chunked upload does (start POST, then one PATCH per chunk,
    in order); returns the transfer id. No resume HEAD: FilePond sends it only to resume."""
    headers = {"Content-Type": MULTIPART_TYPE, "Upload-Length": str(size)}
    response = send(conn, "POST", PROCESS_URL, body=START_BODY, headers=headers)
    upload_id = checked_id(expect_status(response, "start POST", 200, 201), "start POST")
    send_chunks(conn, f"/fp/patch/{upload_id}", path, size, chunk_size)
    return upload_id


def download_equals(
    conn: http.client.HTTPConnection, url: str, path: str, size: int, what: str
) -> None:
    """GET ``url`` and compare the body, as it streams in, with the file at ``path``.

    Comparing with the file (in the page cache) costs the client far less than hashing, which
    would make the client the limit of every target.
    """
    response = send(conn, "GET", url)
    if response.status != 200:
        expect_status(response, what, 200)
    received = 0
    with open(path, "rb") as source:
        while piece := response.read(READ_BLOCK):
            if piece != source.read(len(piece)):
                raise CheckFailed(f"{what}: the bytes from {received:,} on differ from the file's")
            received += len(piece)
    if received != size:
        raise CheckFailed(f"{what}: {received:,} bytes received, expected {size:,}")


def store(conn: http.client.HTTPConnection, upload_id: str) -> str:
    """``store_upload`` (or the limit's rename) inside the server; returns the stored id."""
    headers = {"Content-Type": "text/plain"}
    response = send(conn, "POST", STORE_URL, body=upload_id.encode(), headers=headers)
    return checked_id(expect_status(response, "store", 200), "store")


@dataclass
class SmallRun:
    count: int
    seconds: float
    #: Seconds of each upload, request sent to answer read (a new connection included: a sync
    #: gunicorn worker closes it after every answer).
    latencies: list[float]

    def uploads_per_second(self) -> float:
        return self.count / self.seconds

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds."""
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def small_uploads(port: int, count: int, clients: int, body: bytes) -> SmallRun:
    """``count`` whole-file uploads of ``body`` from ``clients`` threads at once, each with its
    own connection and session cookie; the threads take the next upload until none is left."""
    lock = threading.Lock()
    remaining = [count]
    latencies: list[float] = []
    failures: list[BaseException] = []
    start = threading.Barrier(clients + 1)

    def client() -> None:
        conn = BrowserConnection(port)
        done = 0
        try:
            start.wait()
            while True:
                with lock:
                    if remaining[0] == 0 or failures:
                        return
                    remaining[0] -= 1
                if done and done % UPLOADS_PER_SESSION == 0:
                    conn.close()
                    conn = BrowserConnection(port)
                began = time.perf_counter()
                process(conn, body)
                elapsed = time.perf_counter() - began
                done += 1
                with lock:
                    latencies.append(elapsed)
        except BaseException as exc:  # reported by the caller, after every thread ended
            with lock:
                failures.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if failures:
        raise failures[0]
    return SmallRun(count, seconds, latencies)
