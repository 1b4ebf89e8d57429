"""Server memory while the fetch endpoint imports a large remote file, against a real gunicorn.

Run from the repository root::

    python benchmarks/fetch.py [--size-mb 512] [--port 8123]

A "remote" web server, a thread of this process on 127.0.0.1, serves pseudo-random bytes made
on the fly. gunicorn (one sync worker) serves the app with the fetch endpoint on and loopback
allowed, and three phases ask it to import a remote file: ``GET /fp/?fetch=<url>`` of the large
file, whose answer is hashed as it streams in; ``HEAD`` of the same (no body, but the server
still downloads and keeps the whole file); and ``GET`` of a 1 MiB file for comparison. Each
phase prints its speed, the worker's resident memory before it and its peak (``VmHWM``) during
it. The exit status is non-zero only when a check fails (status, checksum, header); the figures
are for people to read, never pass/fail.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

from core import (
    MB,
    READ_BLOCK,
    BrowserConnection,
    CheckFailed,
    MiB,
    Server,
    Worker,
    download_sha256,
    exit_on_sigterm,
    expect_status,
    log_tail,
    running_server,
    send,
    warm_up,
    work_directory,
)

#: The remote server makes and sends its bytes one block at a time.
BLOCK = MiB
SMALL_SIZE = MiB
#: Fetched once before measuring, so the first database query and the like are not in a phase.
WARM_UP_SIZE = 64 * 1024
#: The app's own limit on a whole fetch; below gunicorn's SERVER_TIMEOUT, so a stalled fetch
#: ends as the app's 502 rather than as a worker killed mid-request.
FETCH_DEADLINE = 600
#: How long the remote thread may take to note a finished send after the app has the bytes.
SEND_RECORD_TIMEOUT = 5
UPLOAD_ID_RE = re.compile(r"^[A-Za-z0-9]{22}$")


# --- The remote server -------------------------------------------------------------------------


@dataclass
class ServedFile:
    """A file of ``size`` deterministic pseudo-random bytes that exists only as it is sent."""

    name: str
    size: int
    seed: int

    @property
    def label(self) -> str:
        return f"{self.size // MiB} MiB" if self.size % MiB == 0 else f"{self.size // 1024} KiB"

    def blocks(self) -> Iterator[bytes]:
        """The bytes, one block at a time; every call yields the same ones.

        ``randbytes`` runs at about 400 MiB/s, slow enough to make the remote the limit of what
        is measured, so one random block is drawn and each block sent is a different rotation
        of it: a memcpy each, and a block lost or moved still changes the sha256.
        """
        base = random.Random(self.seed).randbytes(BLOCK)
        remaining = self.size
        index = 0
        while remaining:
            # An odd step gives 2**20 different rotations before one repeats (1 TiB).
            shift = (index * 0x9E3779B1) % BLOCK
            block = base[shift:] + base[:shift]
            if remaining < BLOCK:
                block = block[:remaining]
            remaining -= len(block)
            index += 1
            yield block

    @cached_property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for block in self.blocks():
            digest.update(block)
        return digest.hexdigest()


class RemoteServer(ThreadingHTTPServer):
    """The "remote" site that fetch downloads from, serving :class:`ServedFile` by name."""

    # A send the app gave up on must not hold up the benchmark's exit.
    daemon_threads = True

    def __init__(self, files: list[ServedFile]) -> None:
        super().__init__(("127.0.0.1", 0), RemoteHandler)
        self.files = {served.name: served for served in files}
        self._sends: list[int] = []
        self._active = 0  # requests being answered
        self._sent = threading.Condition()
        # Set on the way out: a send under way stops, so the worker's fetch ends at once and
        # gunicorn's graceful stop need not wait for the rest of the file.
        self.closing = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, served: ServedFile) -> str:
        return f"http://127.0.0.1:{self.port}/{served.name}"

    def start_send(self) -> None:
        with self._sent:
            self._active += 1

    def record_send(self, sent: int) -> None:
        with self._sent:
            self._active -= 1
            self._sends.append(sent)
            self._sent.notify_all()

    def take_sends(self, count: int, timeout: float) -> list[int]:
        """Bytes sent per response since the last call, once at least ``count`` responses
        have ended and none is under way.

        Waiting for the ones under way matters after a refusal: the app hangs up early, and
        the send that notices it may end only after the next phase has begun.
        """
        with self._sent:
            self._sent.wait_for(lambda: len(self._sends) >= count and self._active == 0, timeout)
            sends, self._sends = self._sends, []
            return sends


class RemoteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        remote = self.server
        assert isinstance(remote, RemoteServer)
        served = remote.files.get(self.path.lstrip("/"))
        if served is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(served.size))
        self.send_header("Content-Disposition", f'attachment; filename="{served.name}"')
        self.send_header("Connection", "close")
        # Counted before the headers go out, so the app cannot answer the benchmark before
        # this send is known to be under way.
        remote.start_send()
        sent = 0
        try:
            # The app may hang up early (a cap, a deadline); what it got is what is recorded.
            with contextlib.suppress(OSError):
                self.end_headers()
                for block in served.blocks():
                    if remote.closing.is_set():
                        break
                    self.wfile.write(block)
                    sent += len(block)
        finally:
            remote.record_send(sent)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would bury the figures


@contextlib.contextmanager
def serving_remote(files: list[ServedFile]) -> Iterator[RemoteServer]:
    remote = RemoteServer(files)
    thread = threading.Thread(target=remote.serve_forever, name="remote", daemon=True)
    thread.start()
    try:
        yield remote
    finally:
        remote.closing.set()
        remote.shutdown()
        remote.server_close()


# --- The fetch requests ------------------------------------------------------------------------


def fetch_settings_env(size: int) -> dict[str, str]:
    """Variables ``bench_settings.py`` turns into fetch settings for a file of ``size``."""
    return {
        "FILEPOND_BENCH_FETCH_ENABLED": "1",
        # Fetch refuses loopback unless it is listed, which is where the remote is.
        "FILEPOND_BENCH_FETCH_ALLOWED_HOSTS": "127.0.0.1",
        "FILEPOND_BENCH_FETCH_DEADLINE": str(FETCH_DEADLINE),
        # The fetch cap defaults to the upload cap; exactly the size, as a file at the limit
        # must be accepted.
        "FILEPOND_BENCH_MAX_UPLOAD_SIZE": str(size),
    }


def fetch_target(remote: RemoteServer, served: ServedFile) -> str:
    return "/fp/?fetch=" + quote(remote.url(served), safe="")


def revert(conn: http.client.HTTPConnection, upload_id: str) -> None:
    """FilePond's revert, so each phase's copy leaves the disk before the next one."""
    response = send(
        conn, "DELETE", "/fp/", body=upload_id.encode(), headers={"Content-Type": "text/plain"}
    )
    expect_status(response, "revert", 204)


def check_answer(response: http.client.HTTPResponse, what: str, served: ServedFile) -> str:
    """Check the headers FilePond reads from a fetch answer; return the transfer id."""
    upload_id = response.getheader("X-Content-Transfer-Id") or ""
    if not UPLOAD_ID_RE.match(upload_id):
        raise CheckFailed(f"{what}: X-Content-Transfer-Id is {upload_id!r}, not a 22-character id")
    length = response.getheader("Content-Length")
    if length != str(served.size):
        raise CheckFailed(f"{what}: Content-Length is {length!r}, expected {served.size}")
    disposition = response.getheader("Content-Disposition") or ""
    if f'filename="{served.name}"' not in disposition:
        raise CheckFailed(f"{what}: Content-Disposition {disposition!r} lacks {served.name}")
    return upload_id


def check_remote_sends(remote: RemoteServer, what: str, served: ServedFile) -> None:
    """The app must have downloaded the file once and to the end (for HEAD too)."""
    sends = remote.take_sends(1, SEND_RECORD_TIMEOUT)
    if sends != [served.size]:
        raise CheckFailed(
            f"{what}: the remote sent {sends} bytes per request, expected [{served.size}]"
        )


def warm_up_fetch(server: Server, remote: RemoteServer, served: ServedFile) -> None:
    conn = BrowserConnection(server.port)
    try:
        response = send(conn, "GET", fetch_target(remote, served))
        expect_status(response, "warm-up fetch", 200)
        revert(conn, check_answer(response, "warm-up fetch", served))
        remote.take_sends(1, SEND_RECORD_TIMEOUT)
    finally:
        conn.close()


# --- Measuring ---------------------------------------------------------------------------------


@dataclass
class Phase:
    method: str
    served: ServedFile
    idle_rss: int = 0
    peak_rss: int = 0
    seconds: float = 0.0
    #: Until the answer's headers: the server's download and write, as it answers only then.
    to_headers: float = 0.0
    measured: bool = False
    failure: str | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.served.label}"

    def mb_per_second(self, seconds: float | None = None) -> float:
        return self.served.size / MB / (seconds or self.seconds)


def run_phase(
    server: Server, worker: Worker, remote: RemoteServer, method: str, served: ServedFile
) -> Phase:
    result = Phase(method, served)
    what = f"{method} fetch of {served.label}"
    remote.take_sends(0, SEND_RECORD_TIMEOUT)  # let an earlier, failed phase's send end
    conn = BrowserConnection(server.port)
    try:
        result.idle_rss = worker.rss()
        worker.reset_peak()
        started = time.perf_counter()
        response = send(conn, method, fetch_target(remote, served))
        result.to_headers = time.perf_counter() - started
        if response.status != 200:
            expect_status(response, what, 200)
        digest = hashlib.sha256()
        received = 0
        # Empty at once for HEAD; for GET one block at a time, never the whole file.
        while piece := response.read(READ_BLOCK):
            digest.update(piece)
            received += len(piece)
        result.seconds = time.perf_counter() - started
        result.peak_rss = worker.peak_rss()
        result.measured = True

        upload_id = check_answer(response, what, served)
        check_remote_sends(remote, what, served)
        if method == "GET":
            if received != served.size or digest.hexdigest() != served.sha256:
                raise CheckFailed(
                    f"{what}: got {received:,} bytes with sha256 {digest.hexdigest()}, "
                    f"the remote sent {served.size:,} with {served.sha256}"
                )
        else:
            # HEAD brings no body: read the kept copy back (not timed) to check the bytes.
            kept = download_sha256(conn, f"/fp/?restore={upload_id}", f"restore after {what}")
            if kept != served.sha256:
                raise CheckFailed(f"{what}: the kept copy has sha256 {kept}, not {served.sha256}")
        revert(conn, upload_id)
    except (CheckFailed, http.client.HTTPException, OSError) as exc:
        result.failure = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    print_phase(result)
    return result


def print_phase(result: Phase) -> None:
    if result.measured:
        print(
            f"  {result.name:<13} {result.seconds:8.3f} s {result.mb_per_second():8.1f} MB/s   "
            f"idle RSS {result.idle_rss / MiB:6.1f} MiB, peak {result.peak_rss / MiB:6.1f} MiB "
            f"(+{(result.peak_rss - result.idle_rss) / MiB:.1f})",
            flush=True,
        )
        if result.method == "GET" and result.seconds > result.to_headers:
            body = result.seconds - result.to_headers
            print(
                f"  {'':<13} download and write {result.to_headers:.3f} s "
                f"({result.mb_per_second(result.to_headers):.1f} MB/s), "
                f"answer body {body:.3f} s ({result.mb_per_second(body):.1f} MB/s)",
                flush=True,
            )
    if result.failure:
        print(f"  {result.name:<13} FAILED {result.failure}", flush=True)


def print_summary(phases: list[Phase], large: ServedFile) -> None:
    print()
    print(f"{'phase':<13} {'seconds':>8} {'MB/s':>8} {'idle MiB':>9} {'peak MiB':>9} {'+MiB':>6}")
    for result in phases:
        if not result.measured:
            print(f"{result.name:<13} FAILED: {result.failure}")
            continue
        print(
            f"{result.name:<13} {result.seconds:8.3f} {result.mb_per_second():8.1f} "
            f"{result.idle_rss / MiB:9.1f} {result.peak_rss / MiB:9.1f} "
            f"{(result.peak_rss - result.idle_rss) / MiB:6.1f}"
            + ("" if result.failure is None else "   (a check failed)")
        )
    measured = [p for p in phases if p.served is large and p.measured]
    if measured:
        # The phase that added most, rather than the highest peak: idle creeps between phases.
        top = max(measured, key=lambda p: p.peak_rss - p.idle_rss)
        print(
            f"peak RSS while fetching {large.label}: {top.peak_rss / MiB:.1f} MiB "
            f"(idle {top.idle_rss / MiB:.1f} MiB, +{(top.peak_rss - top.idle_rss) / MiB:.1f} MiB)"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--size-mb", type=int, default=512, help="remote file size in MiB (default: 512)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port for gunicorn (default: a free one)"
    )
    args = parser.parse_args(argv)
    if args.size_mb <= 0:
        parser.error("--size-mb must be positive")
    args.size = args.size_mb * MiB
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    large = ServedFile("big.bin", args.size, seed=1)
    small = ServedFile("small.bin", SMALL_SIZE, seed=2)
    warm = ServedFile("warm.bin", WARM_UP_SIZE, seed=3)
    print(f"remote file: {large.label} ({large.size:,} bytes, sha256 {large.sha256[:16]}...)")
    with (
        work_directory() as work_dir,
        running_server(work_dir, args.port, fetch_settings_env(args.size)) as server,
        # Inside the server, so that on the way out it stops first (see RemoteServer.closing).
        serving_remote([large, small, warm]) as remote,
    ):
        worker = server.worker()
        try:
            warm_up(server)
            warm_up_fetch(server, remote, warm)
        except (CheckFailed, http.client.HTTPException, OSError) as exc:
            print(f"warm-up FAILED {type(exc).__name__}: {exc}")
            print(f"server log (last lines):\n{log_tail(server.log_path)}")
            return 1
        print(
            f"gunicorn worker pid {worker.pid} on 127.0.0.1:{server.port}, remote on "
            f"127.0.0.1:{remote.port}, idle RSS {worker.rss() / MiB:.1f} MiB",
            flush=True,
        )
        phases = [
            run_phase(server, worker, remote, "GET", large),
            run_phase(server, worker, remote, "HEAD", large),
            run_phase(server, worker, remote, "GET", small),
        ]
        print_summary(phases, large)
        if any(result.failure for result in phases):
            print(f"server log (last lines):\n{log_tail(server.log_path)}")
            return 1
        return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
