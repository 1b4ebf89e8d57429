"""Throughput and server memory of the core FilePond round trip, against a real gunicorn.

Run from the repository root::

    python benchmarks/core.py [--sizes 64,1024] [--chunk-mb 5] [--port 8123]

For each size a random file is written to disk and sent with FilePond's chunked protocol
(start POST, one PATCH per chunk, a resume HEAD), read back through ``restore``, promoted with
``store_upload`` (inside the server) and read back through ``load``. Each phase prints its
speed and the peak resident memory (``VmHWM``) of the gunicorn worker during that phase. The
exit status is non-zero only when a protocol or checksum check fails; the figures are for
people to read, never pass/fail.

``fetch.py`` imports the server, worker-memory and work-directory pieces from here.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import http.cookies
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

MiB = 1024 * 1024
MB = 1000 * 1000
#: Size of every client-side disk and socket read.
READ_BLOCK = MiB
#: Generous, so that gunicorn never kills the worker in the middle of a 1 GiB phase.
SERVER_TIMEOUT = 900
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
UPLOAD_NAME = "bench.bin"


class CheckFailed(Exception):
    """The server answered wrongly (status, offset or checksum): that size's figures are void."""


# --- The gunicorn worker's memory, from /proc (Linux) ---------------------------------------


def child_pids(pid: int) -> list[int]:
    """Pids of the direct children of ``pid``."""
    try:
        children: list[int] = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children += [int(child) for child in f.read().split()]
        return children
    except FileNotFoundError:  # kernels without CONFIG_PROC_CHILDREN: scan every process
        pass
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:  # exited while we looked
            continue
        # The command name (field 2) may hold spaces and ")": fields resume after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry))
    return children


class Worker:
    """The one gunicorn worker process, whose memory each phase reports."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_resets = True

    def _status_bytes(self, key: str) -> int:
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1]) * 1024  # the kernel reports kB
        except FileNotFoundError:
            raise CheckFailed(
                f"the gunicorn worker {self.pid} exited (see the server log)"
            ) from None
        raise RuntimeError(f"/proc/{self.pid}/status has no {key} line")

    def rss(self) -> int:
        return self._status_bytes("VmRSS")

    def peak_rss(self) -> int:
        return self._status_bytes("VmHWM")

    def reset_peak(self) -> None:
        """Make ``VmHWM`` start again from the current RSS, so a peak belongs to one phase."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError as exc:
            if self.peak_resets:
                print(f"note: cannot reset VmHWM ({exc}); peaks are since the worker started")
            self.peak_resets = False


# --- The server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(work_dir: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of ``migrate`` and gunicorn: bench settings, package importable.

    ``extra`` adds variables that ``bench_settings.py`` turns into settings (see there).
    """
    env = dict(os.environ)
    # The benchmark directory holds bench_settings/bench_urls; the repository root makes the
    # package importable even when it is not pip-installed.
    path = [BENCH_DIR, REPO_ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["DJANGO_SETTINGS_MODULE"] = "bench_settings"
    env["FILEPOND_BENCH_DIR"] = work_dir
    # gunicorn >= 25.1 puts its control socket here instead of under the shared $HOME.
    env["XDG_RUNTIME_DIR"] = work_dir
    env.update(extra or {})
    return env


def log_tail(path: str, lines: int = 30) -> str:
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


class Server:
    """A gunicorn master with one sync worker serving ``bench_urls``."""

    def __init__(self, work_dir: str, port: int, env: Mapping[str, str] | None = None) -> None:
        self.work_dir = work_dir
        self.port = port
        self.env = server_env(work_dir, env)
        self.log_path = os.path.join(work_dir, "gunicorn.log")
        self.process: subprocess.Popen[bytes] | None = None

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
            env=self.env,
            check=True,
        )

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--timeout",
            str(SERVER_TIMEOUT),
            "--log-level",
            "warning",
            "django.core.wsgi:get_wsgi_application()",
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until the port accepts connections and the worker process exists."""
        assert self.process is not None
        wait_for_gunicorn(self.process, self.port, self.log_path, workers=1, timeout=timeout)

    def worker(self) -> Worker:
        assert self.process is not None
        children = child_pids(self.process.pid)
        if len(children) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found pids {children}")
        return Worker(children[0])

    def stop(self) -> None:
        stop_gunicorn(self.process)


def wait_for_gunicorn(
    process: subprocess.Popen[bytes], port: int, log_path: str, workers: int, timeout: float
) -> None:
    """Wait until ``port`` accepts connections and gunicorn has forked ``workers`` workers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{log_tail(log_path)}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=1),
        ):
            if len(child_pids(process.pid)) >= workers:
                return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start in {timeout} s:\n{log_tail(log_path)}")


def stop_gunicorn(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a gunicorn master gracefully (SIGTERM), killing it if it takes over 30 s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def work_directory() -> Iterator[str]:
    """A fresh directory under ``$TMPDIR`` for one run, removed afterwards whatever happens."""
    work_dir = tempfile.mkdtemp(prefix="filepond-bench-")
    try:
        yield work_dir
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


@contextlib.contextmanager
def running_server(
    work_dir: str, port: int, env: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """A migrated, started and ready :class:`Server`, stopped on the way out."""
    server = Server(work_dir, port or free_port(), env)
    try:
        server.migrate()
        server.start()
        server.wait_ready()
        yield server
    finally:
        server.stop()


# --- The client: FilePond's requests over http.client -----------------------------------------


class BrowserConnection(http.client.HTTPConnection):
    """A connection to the server that sends back the cookies it sets, as a browser does.

    An upload belongs to the session that started it, so without the session cookie every
    request after the first one of an upload is refused.
    """

    def __init__(self, port: int) -> None:
        super().__init__("127.0.0.1", port, timeout=SERVER_TIMEOUT)
        self.cookies = http.cookies.SimpleCookie()

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        encode_chunked: bool = False,
    ) -> None:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(
                f"{name}={morsel.coded_value}" for name, morsel in self.cookies.items()
            )
        super().request(method, url, body=body, headers=headers, encode_chunked=encode_chunked)

    def getresponse(self) -> http.client.HTTPResponse:
        response = super().getresponse()
        for header in response.headers.get_all("Set-Cookie") or []:
            self.cookies.load(header)
        return response


def expect_status(response: http.client.HTTPResponse, what: str, *statuses: int) -> bytes:
    """Read the whole (small) body; raise :class:`CheckFailed` on an unexpected status."""
    body = response.read()
    if response.status not in statuses:
        text = body[:300].decode("utf-8", "replace")
        raise CheckFailed(f"{what}: HTTP {response.status} {response.reason}: {text}")
    return body


def send(
    conn: http.client.HTTPConnection,
    method: str,
    url: str,
    body: bytes | Iterator[bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> http.client.HTTPResponse:
    """Send a request and return its response, even one the server gave before the body ended.

    A server may refuse a chunk from its headers (413, 415) and close the connection without
    reading the body; the answer then waits in the socket behind the client's broken pipe.
    """
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        conn.request(method, url, body=body, headers=headers or {})
    return conn.getresponse()


def file_pieces(f: BinaryIO, offset: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of ``f`` from ``offset``, read from disk one block at a time."""
    f.seek(offset)
    remaining = length
    while remaining:
        piece = f.read(min(READ_BLOCK, remaining))
        if not piece:
            raise RuntimeError(f"{f.name} ended early")
        remaining -= len(piece)
        yield piece


def send_chunks(
    conn: http.client.HTTPConnection, patch_url: str, path: str, size: int, chunk_size: int
) -> None:
    """PATCH the file at ``path`` to ``patch_url`` in order, one request per chunk."""
    with open(path, "rb") as f:
        # FilePond sends chunks i = 0 .. size // chunk_size, so a size that is an exact
        # multiple of the chunk size ends with an empty PATCH at offset == length.
        for offset in range(0, size // chunk_size * chunk_size + 1, chunk_size):
            length = min(chunk_size, size - offset)
            response = send(
                conn,
                "PATCH",
                patch_url,
                body=file_pieces(f, offset, length),
                headers={
                    "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(length),
                    "Upload-Offset": str(offset),
                    "Upload-Length": str(size),
                    "Upload-Name": UPLOAD_NAME,
                },
            )
            expect_status(response, f"PATCH at offset {offset}", 200, 201, 204)


def upload(conn: http.client.HTTPConnection, path: str, size: int, chunk_size: int) -> str:
    """Send ``path`` as FilePond's chunked upload does; return the transfer id."""
    boundary = "filepond-bench-boundary"
    # The start POST carries one part: the item's metadata under the field name, no file.
    start_body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="filepond"\r\n'
        "\r\n"
        "{}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    response = send(
        conn,
        "POST",
        "/fp/",
        body=start_body,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Upload-Length": str(size),
        },
    )
    upload_id = expect_status(response, "start POST", 200, 201).decode()
    patch_url = f"/fp/?patch={upload_id}"
    send_chunks(conn, patch_url, path, size, chunk_size)
    response = send(conn, "HEAD", patch_url)
    expect_status(response, "resume HEAD", 200)
    reported = response.getheader("Upload-Offset")
    if reported != str(size):
        raise CheckFailed(f"resume HEAD: Upload-Offset is {reported!r}, expected {size}")
    return upload_id


def download_sha256(conn: http.client.HTTPConnection, url: str, what: str) -> str:
    """GET ``url`` and hash the body as it streams in, never holding more than one read."""
    response = send(conn, "GET", url)
    if response.status != 200:
        expect_status(response, what, 200)
    digest = hashlib.sha256()
    while piece := response.read(READ_BLOCK):
        digest.update(piece)
    return digest.hexdigest()


def store(conn: http.client.HTTPConnection, upload_id: str) -> str:
    response = send(
        conn, "POST", "/store/", body=upload_id.encode(), headers={"Content-Type": "text/plain"}
    )
    return expect_status(response, "store", 200).decode()


# --- Measuring ---------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    seconds: float
    peak_rss: int
    #: Bytes moved over HTTP; ``None`` for phases whose speed is not a transfer rate.
    transferred: int | None

    def mb_per_second(self) -> float | None:
        if self.transferred is None:
            return None
        return self.transferred / MB / self.seconds


@dataclass
class SizeRun:
    size: int
    phases: list[Phase] = field(default_factory=list)
    failure: str | None = None

    @property
    def label(self) -> str:
        return f"{self.size // MiB} MiB" if self.size % MiB == 0 else f"{self.size} B"

    def peak_rss(self) -> int:
        return max(phase.peak_rss for phase in self.phases)


@contextlib.contextmanager
def phase(run: SizeRun, worker: Worker, name: str, transferred: int | None) -> Iterator[None]:
    """Time the body and record the worker's peak RSS during it."""
    worker.reset_peak()
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    result = Phase(name, seconds, worker.peak_rss(), transferred)
    run.phases.append(result)
    rate = result.mb_per_second()
    speed = f"{seconds:.3f} s" if rate is None else f"{rate:.1f} MB/s"
    print(f"  {name:<8} {speed:>14}   peak RSS {result.peak_rss / MiB:7.1f} MiB", flush=True)


def write_random_file(path: str, size: int) -> str:
    """Write ``size`` random bytes to ``path`` a block at a time; return their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        remaining = size
        while remaining:
            block = os.urandom(min(READ_BLOCK, remaining))
            digest.update(block)
            f.write(block)
            remaining -= len(block)
    return digest.hexdigest()


def run_size(server: Server, work_dir: str, size: int, chunk_size: int) -> SizeRun:
    run = SizeRun(size)
    path = os.path.join(work_dir, f"source-{size}.bin")
    expected = write_random_file(path, size)
    print(f"{run.label} ({size:,} bytes, sha256 {expected[:16]}...)", flush=True)
    # Looked up per size: gunicorn replaces a worker that died during an earlier size.
    worker = server.worker()
    conn = BrowserConnection(server.port)
    try:
        with phase(run, worker, "upload", size):
            upload_id = upload(conn, path, size, chunk_size)
        with phase(run, worker, "restore", size):
            restored = download_sha256(conn, f"/fp/?restore={upload_id}", "restore")
        if restored != expected:
            raise CheckFailed(f"restore: sha256 {restored} differs from the file's {expected}")
        with phase(run, worker, "store", None):
            stored_id = store(conn, upload_id)
        with phase(run, worker, "load", size):
            loaded = download_sha256(conn, f"/fp/?load={stored_id}", "load")
        if loaded != expected:
            raise CheckFailed(f"load: sha256 {loaded} differs from the file's {expected}")
    except (CheckFailed, http.client.HTTPException, OSError) as exc:
        run.failure = f"{type(exc).__name__}: {exc}"
        print(f"  FAILED {run.failure}", flush=True)
    finally:
        conn.close()
        os.remove(path)  # the next size needs the disk more than this file does
    return run


def print_summary(runs: list[SizeRun], idle_rss: int) -> None:
    print()
    print(f"worker idle RSS {idle_rss / MiB:.1f} MiB")
    print(f"{'size':>9}  {'phase':<8} {'seconds':>8} {'MB/s':>8} {'peak RSS MiB':>13}")
    for run in runs:
        for result in run.phases:
            rate = result.mb_per_second()
            speed = "" if rate is None else f"{rate:.1f}"
            print(
                f"{run.label:>9}  {result.name:<8} {result.seconds:8.3f} {speed:>8} "
                f"{result.peak_rss / MiB:13.1f}"
            )
        if run.failure:
            print(f"{run.label:>9}  FAILED: {run.failure}")
    measured = [run for run in runs if run.phases]
    if len(measured) >= 2:
        smallest = min(measured, key=lambda run: run.size)
        largest = max(measured, key=lambda run: run.size)
        difference = abs(largest.peak_rss() - smallest.peak_rss()) / MiB
        print(
            f"peak RSS for {largest.label} is within {difference:.1f} MiB of {smallest.label} "
            f"({largest.peak_rss() / MiB:.1f} vs {smallest.peak_rss() / MiB:.1f} MiB, "
            "highest phase of each)"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--sizes",
        default="64,1024",
        help="comma-separated file sizes in MiB (default: 64,1024)",
    )
    parser.add_argument(
        "--chunk-mb",
        type=float,
        default=5,
        help="PATCH chunk size in MB of 1,000,000 bytes (default: 5, FilePond's chunkSize)",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port for gunicorn (default: a free one)"
    )
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(text) * MiB for text in args.sizes.split(",")]
    except ValueError:
        parser.error("--sizes takes whole MiB separated by commas, such as 64,1024")
    if any(size <= 0 for size in args.sizes):
        parser.error("--sizes must all be positive")
    args.chunk_size = int(args.chunk_mb * MB)
    if args.chunk_size <= 0:
        parser.error("--chunk-mb must be positive")
    return args


def warm_up(server: Server) -> None:
    """One request, so that the URLconf and views are imported before anything is measured
    and the idle figure is the worker as it sits between requests."""
    conn = BrowserConnection(server.port)
    send(conn, "GET", "/fp/").read()
    conn.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with work_directory() as work_dir, running_server(work_dir, args.port) as server:
        worker = server.worker()
        warm_up(server)
        idle_rss = worker.rss()
        print(
            f"gunicorn worker pid {worker.pid} on 127.0.0.1:{server.port}, "
            f"chunks of {args.chunk_size:,} bytes, idle RSS {idle_rss / MiB:.1f} MiB",
            flush=True,
        )
        runs = [run_size(server, work_dir, size, args.chunk_size) for size in args.sizes]
        print_summary(runs, idle_rss)
        if any(run.failure for run in runs):
            print(f"server log (last lines):\n{log_tail(server.log_path)}")
            return 1
        return 0


def exit_on_sigterm(signum: int, frame: Any) -> None:
    # Unwinds through main()'s ``with`` blocks, so a killed benchmark still stops gunicorn and
    # removes its directory (``fetch.py`` installs it too).
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
