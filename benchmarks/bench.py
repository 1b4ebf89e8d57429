"""Benchmarks of django-filepond-server against real gunicorn servers, for people to read.

Run from the repository root (``pip install -e '.[bench]'`` first)::

    python benchmarks/bench.py compare      # this app, django-drf-filepond 0.5.2, the bare limit
    python benchmarks/bench.py contention   # another visitor's upload beside slow requests
    python benchmarks/bench.py limit-race   # the per-owner limit under simultaneous starts
    python benchmarks/bench.py store|fetch|tus|direct   # one large file through one worker
    python benchmarks/bench.py scaleout     # the temporary area on S3, several servers, nginx

``--help`` after a subcommand lists its options; ``benchmarks/README.md`` says what each figure
means. The exit status is non-zero only when a server answers wrongly (status, offset,
checksum); the figures never fail.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import functools
import hashlib
import http.client
import http.cookies
import http.server
import importlib.metadata
import json
import logging
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

MiB = 1024 * 1024
MB = 1000 * 1000
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
CACHE_DIR = os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
    "django-filepond-server-bench",
)
INCUMBENT, INCUMBENT_VERSION = "django-drf-filepond", "0.5.2"
SHARED = ("Django", "djangorestframework", "gunicorn", "psycopg", "psycopg-binary")
DJANGO_APP = "django.core.wsgi:get_wsgi_application()"
#: Our app keeps at most 100 temporary uploads per owner: a visitor leaves after this many.
UPLOADS_PER_VISITOR = 100
Figures = dict[str, Any]

sys.path.insert(1, REPO_ROOT)  # tests/: the remote stores and the multi-server tests' servers
from tests import remote_storage  # noqa: E402
from tests.multiserver import cluster  # noqa: E402


class CheckFailed(Exception):
    """A server answered wrongly: status, offset or checksum."""


# --- Processes: gunicorn, its workers' memory ----------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(child) for child in f.read().split()]
    return sorted(found)


def proc_status(pid: int, key: str) -> int:
    """``VmRSS`` or ``VmHWM`` of ``pid``, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/{pid}/status has no {key}")


_warned_peak = False


def reset_peak(pid: int) -> None:
    """Make ``VmHWM`` start again from the current RSS, so that a peak belongs to one phase."""
    global _warned_peak
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError as exc:
        if not _warned_peak:
            print(f"note: cannot reset VmHWM ({exc}); peaks are since the worker started")
        _warned_peak = True


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of ``pid`` (``utime`` and ``stime`` of
    ``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of ``pid``."""
    return sum(cpu_times(pid))


def settings_env(**settings: Any) -> dict[str, str]:
    """The environment that gives the served project these settings (``bench_settings.py``)."""
    return {"FILEPOND_BENCH_SETTINGS": json.dumps(settings)}


def run_quiet(
    command: list[str], env: dict[str, str] | None = None, cwd: str | None = None
) -> None:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command[:4])} failed:\n{done.stdout}{done.stderr}")


class Server:
    """gunicorn (``--worker-class sync``) on loopback serving one target from a fresh directory
    (and on PostgreSQL, a fresh database, ``--pg-database``): ``app`` (this app, or the checkout
    ``source``), ``incumbent``, ``floor`` or ``limit``."""

    def __init__(
        self,
        target: str,
        work_dir: str,
        database: str = "sqlite",
        workers: int = 2,
        env: dict[str, str] | None = None,
        python: str = sys.executable,
        source: str = REPO_ROOT,
    ) -> None:
        self.target, self.work_dir, self.workers, self.python = target, work_dir, workers, python
        self.port = free_port()
        self.log = os.path.join(work_dir, "gunicorn.log")
        path = [BENCH_DIR] + ([source] if target == "app" else [])
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(path),
            "DJANGO_SETTINGS_MODULE": "bench_settings",
            "FILEPOND_BENCH_DIR": work_dir,
            "FILEPOND_BENCH_TARGET": target,
            "FILEPOND_BENCH_DB": database,
            "LIMIT_BENCH_DIR": work_dir,
            "XDG_RUNTIME_DIR": work_dir,  # gunicorn's control socket
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        # The incumbent's directories, which it does not create (nor, safely, stored/bench/
        # when two stores race to make it).
        for name in ("filepond_uploads", "stored/bench"):
            os.makedirs(os.path.join(self.work_dir, name), exist_ok=True)
        if self.env["FILEPOND_BENCH_DB"].startswith("postgresql"):
            fresh_database(self.env.get("FILEPOND_BENCH_PG_DATABASE", "filepond_bench"))
        if self.target != "limit":
            # In the server's own directory: "python -m" puts the working directory first on
            # sys.path, and the repository root there would shadow --source's package.
            migrate = [self.python, "-m", "django", "migrate", "--verbosity", "0"]
            run_quiet(migrate, self.env, cwd=self.work_dir)
        app = "limit_app:application" if self.target == "limit" else DJANGO_APP
        command = [self.python, "-m", "gunicorn", "--workers", str(self.workers)]
        command += ["--worker-class", "sync", "--bind", f"127.0.0.1:{self.port}"]
        command += ["--timeout", "900", "--log-level", "warning", app]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=self.work_dir, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                if len(self.pids()) >= self.workers:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not start:\n{self.log_tail()}")

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def pids(self) -> list[int]:
        assert self.process is not None
        return children(self.process.pid)

    def log_tail(self, lines: int = 20) -> str:
        with open(self.log, errors="replace") as f:
            return "".join(f.readlines()[-lines:])


# --- The client: FilePond's requests, the same for every target ----------------------------

BOUNDARY = "bench-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
PATCH_TYPE = "application/offset+octet-stream"
METADATA = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="filepond"\r\n\r\n{{}}\r\n'
START_BODY = f"{METADATA}--{BOUNDARY}--\r\n".encode()


def multipart_body(size: int, name: str = "small.bin") -> bytes:
    """FilePond's whole-file POST: field ``filepond`` twice, the metadata JSON, then the file."""
    head = (
        f'{METADATA}--{BOUNDARY}\r\nContent-Disposition: form-data; name="filepond"; '
        f'filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    content = bytes(range(256)) * (size // 256) + bytes(size % 256)
    return head + content + f"\r\n--{BOUNDARY}--\r\n".encode()


class Visitor:
    """One browser: a connection, the cookies it was given and the CSRF token it sends back."""

    def __init__(self, port: int, same_as: Visitor | None = None) -> None:
        """A new visitor, given its CSRF cookie and token, or one more tab of ``same_as``."""
        self.port, self.token = port, ""
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
        self.cookies: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        if same_as is None:
            self.token = self.call("GET", "/csrf/").decode()
        else:
            self.cookies.load(same_as.cookies.output(header="", sep=";"))
            self.token = same_as.token

    def send(
        self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={m.coded_value}" for k, m in self.cookies.items())
        if method not in ("GET", "HEAD") and self.token:
            headers["X-CSRFToken"] = self.token
        # A server may answer (413, 415) without reading the body and close the connection.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.conn.request(method, url, body=body, headers=headers)
        response = self.conn.getresponse()
        for header in response.headers.get_all("Set-Cookie") or []:
            self.cookies.load(header)
        return response

    def call(self, method: str, url: str, body: Any = None, **headers: str) -> bytes:
        """A request whose small answer must be 2xx; returns its body."""
        response = self.send(
            method, url, body, {k.replace("_", "-"): v for k, v in headers.items()}
        )
        answer = response.read()
        if not 200 <= response.status < 300:
            text = answer[:200].decode("utf-8", "replace")
            raise CheckFailed(f"{method} {url}: HTTP {response.status}: {text}")
        if method == "HEAD":
            return (response.getheader("Upload-Offset") or "").encode()
        return answer

    def process(self, body: bytes) -> str:
        return checked_id(
            self.call("POST", "/fp/process/", body, Content_Type=MULTIPART), "process"
        )

    def start(self, size: int) -> str:
        headers = {"Content_Type": MULTIPART, "Upload_Length": str(size)}
        return checked_id(self.call("POST", "/fp/process/", START_BODY, **headers), "start POST")

    def upload(self, path: str, size: int, chunk: int) -> str:
        """FilePond's chunked upload of ``path``: the start POST with ``Upload-Length``, then
        one PATCH per chunk in order. Before the last chunk, the resume HEAD must report the
        bytes sent so far (the incumbent forgets a transfer once it has all its bytes)."""
        upload_id = self.start(size)
        patch = f"/fp/patch/{upload_id}"
        offsets = chunk_offsets(size, chunk)
        with open(path, "rb") as f:
            for offset in offsets:
                if offset == offsets[-1] and offset:
                    reported = self.call("HEAD", patch).decode()
                    if reported != str(offset):
                        raise CheckFailed(f"resume HEAD: Upload-Offset {reported!r}, not {offset}")
                piece = f.read(min(chunk, size - offset))
                headers = {"Upload_Offset": str(offset), "Upload_Length": str(size)}
                headers |= {"Upload_Name": "bench.bin", "Content_Type": PATCH_TYPE}
                self.call("PATCH", patch, piece, **headers)
        return upload_id

    def sha256(self, url: str, size: int, expected: str | None = None) -> str:
        """GET ``url``, hashed as it streams in; its length must be ``size`` (and its sha256
        ``expected``, when given)."""
        response = self.send("GET", url)
        if response.status != 200:
            raise CheckFailed(f"GET {url}: HTTP {response.status}: {response.read()[:200]!r}")
        digest, received = hashlib.sha256(), 0
        while piece := response.read(MiB):
            digest.update(piece)
            received += len(piece)
        if received != size:
            raise CheckFailed(f"GET {url}: {received:,} bytes, expected {size:,}")
        if expected and digest.hexdigest() != expected:
            raise CheckFailed(f"GET {url}: the sha256 is not the file's")
        return digest.hexdigest()

    def store(self, upload_id: str) -> str:
        return checked_id(self.call("POST", "/store/", upload_id.encode()), "store")

    def close(self) -> None:
        self.conn.close()


def chunk_offsets(size: int, chunk: int) -> range:
    """Where FilePond's PATCHes of a ``size``-byte file start: ``size // chunk + 1`` chunks,
    so an exact multiple of ``chunk`` ends with an empty one."""
    return range(0, size // chunk * chunk + 1, chunk)


def checked_id(body: bytes, what: str) -> str:
    text = body.decode("ascii", "replace")
    if len(text) != 22 or not text.replace("-", "").replace("_", "").isalnum():
        raise CheckFailed(f"{what}: the answer {text[:80]!r} is not an upload id")
    return text


def in_threads(count: int, work: Callable[[int], None]) -> None:
    """Run ``work(i)`` for i in range(count) in threads at once; raise the first failure."""
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        list(pool.map(work, range(count)))


def small_uploads(port: int, count: int, clients: int, body: bytes) -> list[float]:
    """``count`` whole-file uploads from ``clients`` visitors at once; each upload's seconds."""
    lock, remaining, latencies = threading.Lock(), [count], []

    def client(_: int) -> None:
        visitor, done = Visitor(port), 0
        try:
            while True:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                if done and done % UPLOADS_PER_VISITOR == 0:
                    visitor.close()
                    visitor = Visitor(port)
                began = time.perf_counter()
                visitor.process(body)
                latencies.append(time.perf_counter() - began)
                done += 1
        finally:
            visitor.close()

    in_threads(clients, client)
    return latencies


def write_random_file(path: str, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for offset in range(0, size, MiB):
            block = os.urandom(min(MiB, size - offset))
            digest.update(block)
            f.write(block)
    return digest.hexdigest()


@contextlib.contextmanager
def measured(
    figures: Figures,
    name: str,
    pids: list[int],
    idle: dict[int, int],
    cpu: dict[str, list[int]] | None = None,
) -> Iterator[None]:
    """Time the body as ``<name>_s``; the largest rise of a worker's peak RSS (``VmHWM``,
    reset first) above its idle RSS as ``<name>_rss`` in MiB; the workers' user and system
    CPU seconds as ``<name>_user`` and ``<name>_sys``; for each ``cpu`` key, the CPU seconds
    of its processes as ``<name>_<key>_cpu``. Dirty pages are written out first (untimed),
    so that no phase pays for an earlier one's writeback."""
    os.sync()
    for pid in pids:
        reset_peak(pid)
    cpu = cpu or {}
    before = {key: sum(map(cpu_seconds, group)) for key, group in cpu.items()}
    workers = {pid: cpu_times(pid) for pid in pids}
    began = time.perf_counter()
    yield
    figures[f"{name}_s"] = time.perf_counter() - began
    figures[f"{name}_rss"] = max(proc_status(p, "VmHWM") - idle[p] for p in pids) / MiB
    for index, kind in enumerate(("user", "sys")):
        figures[f"{name}_{kind}"] = sum(cpu_times(p)[index] - workers[p][index] for p in pids)
    for key, group in cpu.items():
        figures[f"{name}_{key}_cpu"] = sum(map(cpu_seconds, group)) - before[key]


# --- Environment: the incumbent's venv, PostgreSQL, the configuration -----------------------


def version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def incumbent_python() -> str:
    """The interpreter of a cached venv with django-drf-filepond 0.5.2 and our Django, DRF,
    gunicorn and psycopg versions, created with pip on first use."""
    pins = [f"{INCUMBENT}=={INCUMBENT_VERSION}"]
    pins += [f"{name}=={version(name)}" for name in SHARED if version(name)]
    key = hashlib.sha256(" ".join(pins).encode()).hexdigest()[:10]
    venv = os.path.join(CACHE_DIR, f"incumbent-{INCUMBENT_VERSION}-{key}")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(os.path.join(venv, "complete")):
        print(f"installing {' '.join(pins)} into {venv}", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        run_quiet([sys.executable, "-m", "venv", venv])
        run_quiet([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins])
        open(os.path.join(venv, "complete"), "w").close()
    return python


#: Where PostgreSQL is: 127.0.0.1:5432, user postgres, unless the environment says otherwise.
PG = {
    "host": os.environ.get("PGHOST", "127.0.0.1"),
    "port": os.environ.get("PGPORT", "5432"),
    "user": os.environ.get("PGUSER", "postgres"),
}


def postgres(dbname: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(**PG, dbname=dbname, autocommit=True, connect_timeout=5)


def postgres_version() -> str | None:
    """PostgreSQL's version, or None (with a message) when it cannot be reached."""
    try:
        with postgres() as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])
    except Exception as exc:
        print(f"PostgreSQL is unreachable ({type(exc).__name__}: {exc}); skipping its databases")
        return None


def fresh_database(name: str) -> None:
    with postgres() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def describe(checkout: str) -> str:
    """The commit a checkout is at (``-dirty`` if changed), or ``unknown``."""
    done = subprocess.run(
        ["git", "-C", checkout, "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def configuration(extra: Figures) -> Figures:
    cpu = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    config = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": describe(REPO_ROOT),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load average": load_average(),
        # Files, SQLite databases and their journals go there: its filesystem counts.
        "work directory": tempfile.gettempdir(),
        "python": platform.python_version(),
        **{name: version(name) for name in ("Django", "djangorestframework", "gunicorn")},
        # The servers inherit the environment: glibc's malloc settings change the figures.
        **{
            name: value
            for name, value in sorted(os.environ.items())
            if name.startswith("MALLOC_") or name == "GLIBC_TUNABLES"
        },
        **extra,
    }
    print("\n".join(f"{key}: {value}" for key, value in config.items()), flush=True)
    return config


def spread(values: list[float], fmt: str = "{:,.1f}") -> str:
    """The median and, over several values, [min–max]."""
    if not values:
        return "—"
    text = fmt.format(statistics.median(values))
    if len(values) > 1:
        text += f" [{fmt.format(min(values))}–{fmt.format(max(values))}]"
    return text


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def py_spy() -> str:
    """py-spy's path, installed into the running environment if missing."""
    found = shutil.which("py-spy", path=os.path.dirname(sys.executable))
    if not found:
        run_quiet([sys.executable, "-m", "pip", "install", "-q", "py-spy"])
    return found or os.path.join(os.path.dirname(sys.executable), "py-spy")


@contextlib.contextmanager
def profiled(pid: int, path: str) -> Iterator[Figures]:
    """py-spy samples ``pid`` while the body runs and writes a speedscope file to ``path``.
    Afterwards the dict yielded holds the number of samples (``total``) and, per function,
    those with it at the top of the stack (``self``) and anywhere on it (``inclusive``)."""
    command = [py_spy(), "record", "--pid", str(pid), "--rate", "200", "--nonblocking"]
    recorder = subprocess.Popen(
        [*command, "--format", "speedscope", "--output", path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)  # attached before the body starts
    found: Figures = {"total": 0, "self": Counter(), "inclusive": Counter()}
    try:
        yield found
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        recorder.wait(timeout=60)
    with open(path) as f:
        profile = json.load(f)
    frames = profile["shared"]["frames"]
    names = [f"{fr['name']} ({os.path.basename(fr.get('file', ''))})" for fr in frames]
    for thread in profile["profiles"]:
        for stack in filter(None, thread["samples"]):
            found["total"] += 1
            found["self"][names[stack[-1]]] += 1
            found["inclusive"].update({names[i] for i in stack})


# --- compare ---------------------------------------------------------------------------------

#: The set-ups ``--databases`` picks from (bench_settings.py says what each one is).
DATABASE_SET_UPS = (
    "sqlite",
    "sqlite-wal",
    "sqlite-wal-persistent",
    "postgresql",
    "postgresql-persistent",
)

#: (key, column heading, figure of a run); speeds from the phases' seconds.
SPEEDS: list[tuple[str, str, Callable[[Figures, argparse.Namespace], float]]] = [
    ("small", "small uploads/s", lambda f, a: a.small / f["small_s"]),
    ("chunked", "chunked MiB/s", lambda f, a: a.chunked_mib / f["chunked_s"]),
    ("restore", "restore MiB/s", lambda f, a: a.chunked_mib / f["restore_s"]),
    ("store", "store_upload ms", lambda f, a: 1000 * f["store_s"]),
    ("load", "load MiB/s", lambda f, a: a.chunked_mib / f["load_s"]),
]


def compare_one(
    args: argparse.Namespace, target: str, database: str, files: Figures, profile: bool = False
) -> Figures:
    """One round of one (target, database): a fresh server and directory, a warm-up, then the
    phases, each timed and with its workers' peak RSS above idle."""
    figures: Figures = {"target": target, "database": database}
    python = files["incumbent_python"] if target == "incumbent" else sys.executable
    # "source": this app as another checkout (--source) has it, beside this one's.
    served, source = ("app", args.source) if target == "source" else (target, REPO_ROOT)
    with (
        tempfile.TemporaryDirectory(prefix=f"{target}-", dir=files["dir"]) as work_dir,
        Server(served, work_dir, database, args.workers, python=python, source=source) as server,
    ):
        try:
            size, chunk, expected = files["size"], files["chunk"], files["sha256"]

            def warm_up(_: int) -> None:  # every request of a phase, from every worker
                visitor = Visitor(server.port)
                visitor.process(files["small_body"])
                if target == "floor":
                    return visitor.close()
                upload_id = visitor.upload(files["warm"], MiB, chunk)
                visitor.sha256(f"/fp/restore/?id={upload_id}", MiB)
                visitor.sha256(f"/fp/load/?id={visitor.store(upload_id)}", MiB)
                visitor.close()

            in_threads(2 * args.workers, warm_up)
            pids = server.pids()
            idle = {pid: proc_status(pid, "VmRSS") for pid in pids}
            figures["idle_rss"] = max(idle.values()) / MiB
            if profile:
                return profile_small(args, server, files, pids[0])
            with measured(figures, "small", pids, idle):
                small_uploads(server.port, args.small, args.clients, files["small_body"])
            if target == "floor":
                return figures
            visitor = Visitor(server.port)
            with measured(figures, "chunked", pids, idle):
                upload_id = visitor.upload(files["source"], size, chunk)
            with measured(figures, "restore", pids, idle):
                restored = visitor.sha256(f"/fp/restore/?id={upload_id}", size)
            with measured(figures, "store", pids, idle):
                stored_id = visitor.store(upload_id)
            with measured(figures, "load", pids, idle):
                loaded = visitor.sha256(f"/fp/load/?id={stored_id}", size)
            visitor.close()
            for what, digest in (("restore", restored), ("load", loaded)):
                if digest != expected:
                    raise CheckFailed(f"{what}: sha256 {digest[:16]}… is not the file's")
        except (CheckFailed, http.client.HTTPException, OSError) as exc:
            figures["failure"] = f"{type(exc).__name__}: {exc}"
            print(f"  FAILED {figures['failure']}\n{server.log_tail()}", flush=True)
    return figures


def profile_small(args: argparse.Namespace, server: Server, files: Figures, pid: int) -> Figures:
    """The small-upload phase once more, with py-spy sampling one worker; prints the functions
    that took most samples and writes a speedscope file to the results directory."""
    path = os.path.join(args.results, f"profile-app-{server.env['FILEPOND_BENCH_DB']}.json")
    with profiled(pid, path) as found:
        small_uploads(server.port, args.small, args.clients, files["small_body"])
    total = found["total"]
    print(f"py-spy: {total} samples of worker {pid} in the small-upload phase → {path}")
    for title in ("self", "inclusive"):
        print(f"  top functions ({title}):")
        # Frames on every stack (gunicorn's loop) say nothing.
        shown = [(n, c) for n, c in found[title].most_common() if c < 0.98 * total]
        for name, count in shown[:12]:
            print(f"    {100 * count / max(total, 1):5.1f}%  {name}")
    return {}


def compare_report(args: argparse.Namespace, runs: list[Figures], config: Figures) -> int:
    """Medians with [min–max] per (target, database), ratios; latest.md and latest.json."""
    groups: dict[tuple[str, str], list[Figures]] = {}
    for run in runs:
        if "failure" not in run:
            groups.setdefault((run["target"], run["database"]), []).append(run)
    speed_rows, memory_rows, cpu_rows, medians = [], [], [], {}
    # Requests per phase, to give the workers' CPU per request: the chunked phase's start
    # POST and resume HEAD are counted in with its PATCHes.
    patches = chunk_offsets(args.chunked_mib * MiB, int(args.chunk_mb * MB))
    per = {"small": args.small, "chunked": len(patches)}
    for (target, database), good in groups.items():
        label = [target, database if target != "limit" else "—", str(len(good))]
        values = {
            key: [fn(run, args) for run in good if f"{key}_s" in run] for key, _, fn in SPEEDS
        }
        medians[(target, database)] = {k: statistics.median(v) for k, v in values.items() if v}
        speed_rows.append(label + [spread(values[key]) for key, _, _ in SPEEDS])
        memory = [spread([run["idle_rss"] for run in good])]
        memory += [
            spread([run[f"{key}_rss"] for run in good if f"{key}_rss" in run], "{:+.1f}")
            for key, _, _ in SPEEDS
        ]
        memory_rows.append(label + memory)
        cpu_rows.append(
            label
            + [
                spread([1000 * run[f"{phase}_{kind}"] / count for run in good], "{:.2f}")
                if all(f"{phase}_{kind}" in run for run in good)
                else "—"
                for phase, count in per.items()
                for kind in ("user", "sys")
            ]
        )
    for database in args.databases:
        app = medians.get(("app", database))
        others = [(other, (other, database)) for other in ("incumbent", "floor", "source")]
        for other, key in [*others, ("limit", ("limit", "none"))]:
            if app and key in medians:
                ratios = [
                    f"{app[k] / medians[key][k]:.2f}×" if k in medians[key] else "—"
                    for k, _, _ in SPEEDS
                ]
                speed_rows.append([f"app/{other}", database, ""] + ratios)
    heads = ["target", "database", "rounds"]
    text = (
        f"# bench.py compare, {config['date']}\n\n"
        + "".join(f"- {key}: {value}\n" for key, value in config.items())
        + f"\nSmall: {args.small} whole-file uploads of {args.small_kib} KiB from {args.clients}"
        f" clients. Chunked: {args.chunked_mib} MiB in {args.chunk_mb:g} MB chunks. Medians"
        " [min–max] over the rounds; ratios are app ÷ other of the medians (for store_upload"
        " ms, lower is better).\n\n"
        + markdown_table(heads + [h for _, h, _ in SPEEDS], speed_rows)
        + "\nWorker RSS, MiB: idle after the warm-up, and the peak above it in each phase.\n\n"
        + markdown_table(heads + ["idle"] + [h.split()[0] for _, h, _ in SPEEDS], memory_rows)
        + "\nWorkers' CPU, ms per request (user and system time): per small upload, and per"
        " PATCH of the chunked upload.\n\n"
        + markdown_table(
            heads + ["small user", "small system", "chunk user", "chunk system"], cpu_rows
        )
    )
    failures = [run for run in runs if "failure" in run]
    if failures:
        text += "\nFailed runs:\n" + "".join(
            f"- {r['target']} {r['database']} round {r['round']}: {r['failure']}\n"
            for r in failures
        )
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "latest.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.results, "latest.json"), "w") as f:
        json.dump(
            {
                "config": config,
                "arguments": {k: v for k, v in vars(args).items() if k != "run"},
                "runs": runs,
            },
            f,
            indent=1,
        )
    print("\n" + text + f"\nwritten: latest.md and latest.json in {args.results}")
    return 1 if failures else 0


def compare(args: argparse.Namespace) -> int:
    targets = args.targets.split(",")
    args.databases = args.databases.split(",")
    extra: Figures = {}
    if any(db.startswith("postgresql") for db in args.databases):
        extra["PostgreSQL"] = postgres_version()
        if extra["PostgreSQL"] is None:
            args.databases = [db for db in args.databases if not db.startswith("postgresql")]
    files: Figures = {"size": args.chunked_mib * MiB, "chunk": int(args.chunk_mb * MB)}
    if "incumbent" in targets:
        files["incumbent_python"] = incumbent_python()
        extra[INCUMBENT] = INCUMBENT_VERSION
    if "source" in targets:
        if not args.source:
            raise SystemExit("the source target serves the checkout --source names")
        args.source = os.path.abspath(args.source)
        extra["source"] = f"{args.source} at {describe(args.source)}"
    os.makedirs(args.results, exist_ok=True)
    if args.profile:
        py_spy()  # installed before anything is measured
    config = configuration(extra)
    # Every (target, database) once per round; the limit has no database.
    pairs = [(t, db) for t in targets if t != "limit" for db in args.databases]
    pairs += [("limit", "none")] if "limit" in targets else []
    runs: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="filepond-bench-") as work_dir:
        files.update(dir=work_dir, small_body=multipart_body(args.small_kib * 1024))
        files["source"], files["warm"] = f"{work_dir}/source.bin", f"{work_dir}/warm.bin"
        files["sha256"] = write_random_file(files["source"], files["size"])
        write_random_file(files["warm"], MiB)
        for number in range(args.rounds):
            turn = pairs[number % len(pairs) :] + pairs[: number % len(pairs)]
            for target, database in turn:
                print(f"round {number + 1}: {target} {database}", flush=True)
                run = compare_one(args, target, database, files)
                runs.append({**run, "round": number + 1})
                print(
                    "  "
                    + ", ".join(f"{k} {v:.3g}" for k, v in run.items() if k[-2:] in ("_s", "ss"))
                )
        if args.profile and "app" in targets:
            for database in args.databases:
                compare_one(args, "app", database, files, profile=True)
    return compare_report(args, runs, config)


# --- contention, limit-race --------------------------------------------------------------------


def paced_uploads(port: int, count: int, seconds: float, body: bytes) -> list[float]:
    """One visitor's ``count`` small uploads, spread evenly over ``seconds``; their seconds,
    negative for an upload the server refused (503: busy)."""
    visitor, took = Visitor(port), []
    began = time.perf_counter()
    for number in range(count):
        time.sleep(max(0.0, began + number * seconds / count - time.perf_counter()))
        started = time.perf_counter()
        try:
            visitor.process(body)
        except CheckFailed as exc:
            if "HTTP 503" not in str(exc):
                raise
            took.append(started - time.perf_counter())
        else:
            took.append(time.perf_counter() - started)
    visitor.close()
    return took


def contention(args: argparse.Namespace) -> int:
    """How long another visitor's small upload takes alone, beside a chunk trickled in for
    ``--trickle`` seconds, and beside a validator that takes 2 s on other uploads."""
    source = os.path.abspath(args.source or REPO_ROOT)
    env = settings_env(FILEPOND_SERVER_VALIDATORS=["bench_urls.slow_validator"])
    env["FILEPOND_BENCH_SLOW_VALIDATOR"] = "2"
    configuration({"source": source, "database": args.database, "workers": args.workers})
    body, slow_body = multipart_body(args.small_kib * 1024), multipart_body(1024, "slow.bin")
    rows, slow_times = {}, []
    with (
        tempfile.TemporaryDirectory(prefix="contention-") as work_dir,
        Server("app", work_dir, args.database, args.workers, env, source=source) as server,
    ):
        port, done = server.port, threading.Event()
        paced_uploads(port, 4, 0.2, body)  # warm-up
        rows["alone"] = paced_uploads(port, args.uploads, args.trickle - 2, body)

        def trickle(_: int) -> None:
            """One PATCH whose 40 KiB body arrive 1 KiB at a time over ``--trickle`` s."""
            visitor, size = Visitor(port), 40 * 1024
            upload_id = visitor.start(size)

            def pieces() -> Iterator[bytes]:
                for _ in range(40):
                    time.sleep(args.trickle / 40)
                    yield os.urandom(1024)

            headers = {"Upload_Offset": "0", "Upload_Length": str(size), "Upload_Name": "t.bin"}
            headers |= {"Content_Type": PATCH_TYPE, "Content_Length": str(size)}
            visitor.call("PATCH", f"/fp/patch/{upload_id}", pieces(), **headers)
            visitor.close()

        def slow_uploads(_: int) -> None:
            visitor = Visitor(port)
            while not done.is_set():
                started = time.perf_counter()
                visitor.process(slow_body)
                slow_times.append(time.perf_counter() - started)
            visitor.close()

        for name, background in (
            ("beside a trickled chunk", trickle),
            ("beside a 2 s validator", slow_uploads),
        ):
            done.clear()
            thread = threading.Thread(target=in_threads, args=(1, background), daemon=True)
            thread.start()
            time.sleep(1)
            rows[name] = paced_uploads(port, args.uploads, args.trickle - 2, body)
            done.set()
            thread.join()
    print(f"\n{args.uploads} small uploads of {args.small_kib} KiB by another visitor, ms:")
    print(f"{'':<26} {'median':>8} {'max':>8} {'refused (503)':>14}")
    for name, took in rows.items():
        seconds = [abs(t) for t in took]
        refused = sum(t < 0 for t in took)
        print(
            f"{name:<26} {1000 * statistics.median(seconds):8.1f} {1000 * max(seconds):8.1f}"
            f" {refused:>14}"
        )
    slow = statistics.median(slow_times) if slow_times else 0
    print(f"the slow uploads took {spread(slow_times, '{:.2f}')} s each ({len(slow_times)})")
    if slow < 1.5:
        print(
            "note: the 2 s validator did not run (this checkout has no FILEPOND_SERVER_VALIDATORS?)"
        )
    return 0


def limit_race(args: argparse.Namespace) -> int:
    """With at most 2 uploads per owner, 8 simultaneous starts by one owner: rows created."""
    env = settings_env(FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER=2)
    databases = args.databases.split(",")
    if "postgresql" in databases and postgres_version() is None:
        databases.remove("postgresql")
    configuration({"workers": args.workers, "starts": args.starts, "runs": args.runs})
    wrong = 0
    for database in databases:
        with (
            tempfile.TemporaryDirectory(prefix="limit-race-") as work_dir,
            Server("app", work_dir, database, args.workers, env) as server,
        ):
            query = "SELECT COUNT(*) FROM django_filepond_server_temporaryupload"
            if database == "sqlite":
                import sqlite3

                connection = sqlite3.connect(os.path.join(work_dir, "db.sqlite3"))
            else:
                connection = postgres(args.pg_database)
            counts = []
            for _ in range(args.runs):
                owner, accepted = Visitor(server.port), []
                before = connection.execute(query).fetchone()[0]
                barrier = threading.Barrier(args.starts)

                def start(_: int) -> None:
                    tab = Visitor(server.port, same_as=owner)  # noqa: B023
                    barrier.wait()  # noqa: B023
                    headers = {"Content-Type": MULTIPART, "Upload-Length": "1000"}
                    response = tab.send("POST", "/fp/process/", START_BODY, headers)
                    response.read()
                    accepted.append(response.status < 300)  # noqa: B023
                    tab.close()

                in_threads(args.starts, start)
                rows = connection.execute(query).fetchone()[0] - before
                counts.append(rows)
                wrong += rows != 2 or sum(accepted) != 2
            connection.close()
        print(f"{database}: rows created per run: {' '.join(map(str, counts))}")
    print("every run created exactly 2 rows" if not wrong else f"{wrong} runs went wrong")
    return 1 if wrong else 0


# --- store, fetch, tus, direct: one large file through one worker ---------------------------


@contextlib.contextmanager
def one_worker(env: dict[str, str]) -> Iterator[Server]:
    """This app under gunicorn with one sync worker, on SQLite, in a fresh directory."""
    with (
        tempfile.TemporaryDirectory(prefix="filepond-bench-") as work_dir,
        Server("app", work_dir, "sqlite", 1, env) as server,
    ):
        yield server


def print_phase(name: str, figures: Figures, size: int | None) -> None:
    seconds = figures[f"{name}_s"]
    speed = f"{size / MiB / seconds:8.1f} MiB/s" if size else ""
    rss = figures[f"{name}_rss"]
    print(f"  {name:<10} {seconds:8.2f} s {speed:>13}   peak RSS {rss:+7.1f} MiB", flush=True)


#: The ``s3`` backend's bounded boto3 TransferConfig: 8 MiB parts, at most three in memory.
S3_TRANSFER = {
    "multipart_threshold": 8 * MiB,
    "multipart_chunksize": 8 * MiB,
    "max_concurrency": 2,
    "max_submission_concurrency": 1,
    "max_in_memory_upload_chunks": 2,
}


def store(args: argparse.Namespace) -> int:
    """Upload, ``store_upload`` into a remote store (S3 on moto, SFTP on a throwaway sshd),
    and ``load`` back: each store's and load's time and worker peak RSS above idle."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server: one line a request

    configuration({"backends": args.backends, "moto": version("moto")})
    with tempfile.TemporaryDirectory(prefix="filepond-bench-") as files:
        sizes = list(dict.fromkeys(MiB * n for n in (10, args.compare_mib, args.size_mib) if n))
        paths = {size: os.path.join(files, f"{size}.bin") for size in sizes}
        digests = {size: write_random_file(path, size) for size, path in paths.items()}
        for backend in args.backends.split(","):
            if backend == "sftp" and remote_storage.sftp_unavailable():
                print(f"sftp: skipped ({remote_storage.sftp_unavailable()})")
                continue
            kind = (
                remote_storage.S3Server if backend.startswith("s3") else remote_storage.SFTPServer
            )
            remote = kind()
            try:
                env = settings_env(
                    STORAGES={"remote": remote.storage_options()},
                    FILEPOND_SERVER_STORAGE="remote",
                )
                if backend == "s3":
                    env["FILEPOND_BENCH_S3_TRANSFER"] = json.dumps(S3_TRANSFER)
                with one_worker(env) as server:
                    visitor, pid = Visitor(server.port), server.pids()[0]
                    print(f"{backend}:")
                    for size in sizes:  # the first, 10 MiB, warms up unmeasured
                        upload_id = visitor.upload(paths[size], size, 5 * MB)
                        figures: Figures = {}
                        idle = {pid: proc_status(pid, "VmRSS")}
                        with measured(figures, "store", [pid], idle):
                            stored_id = visitor.store(upload_id)
                        with measured(figures, "load", [pid], idle):
                            visitor.sha256(f"/fp/load/?id={stored_id}", size, digests[size])
                        if size != sizes[0]:
                            print(f" {size // MiB} MiB (idle RSS {idle[pid] / MiB:.1f} MiB)")
                            print_phase("store", figures, size)
                            print_phase("load", figures, size)
                    visitor.close()
            finally:
                remote.stop()
    return 0


def remote_files(directory: str) -> http.server.ThreadingHTTPServer:
    """The remote site of ``fetch``: the files of ``directory``, from a thread of the benchmark."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    remote = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=directory)
    )
    threading.Thread(target=remote.serve_forever, daemon=True).start()
    return remote


def fetch(args: argparse.Namespace) -> int:
    """FilePond's fetch of a large remote file: GET (download, then the answer), HEAD (download
    only, the copy checked through restore) and GET of 1 MiB; time and peak RSS above idle."""
    size = args.size_mib * MiB
    env = settings_env(
        FILEPOND_SERVER_FETCH_ENABLED=True,
        FILEPOND_SERVER_FETCH_ALLOWED_HOSTS=["127.0.0.1"],
        FILEPOND_SERVER_FETCH_DEADLINE=600.0,
        FILEPOND_SERVER_MAX_UPLOAD_SIZE=size,
    )
    configuration({"size MiB": args.size_mib})
    with tempfile.TemporaryDirectory(prefix="filepond-bench-") as files, one_worker(env) as server:
        digests = {
            name: write_random_file(f"{files}/{name}", n)
            for name, n in (("big", size), ("1m", MiB))
        }
        remote = remote_files(files)

        def url(name: str) -> str:
            return "/fp/?fetch=" + quote(f"http://127.0.0.1:{remote.server_port}/{name}")

        visitor, pid = Visitor(server.port), server.pids()[0]
        visitor.call("GET", url("1m"))  # warm-up
        idle = {pid: proc_status(pid, "VmRSS")}
        for name, method, phase_size in (
            ("big", "GET", size),
            ("big", "HEAD", size),
            ("1m", "GET", MiB),
        ):
            figures: Figures = {}
            label = f"{method} {phase_size // MiB} MiB"
            with measured(figures, label, [pid], idle):
                began = time.perf_counter()
                response = visitor.send(method, url(name))
                download = time.perf_counter() - began  # the app answers once it has the file
                digest = hashlib.sha256()
                while piece := response.read(MiB):
                    digest.update(piece)
            if response.status != 200:
                raise CheckFailed(f"{label}: HTTP {response.status}")
            upload_id = checked_id(response.getheader("X-Content-Transfer-Id", "").encode(), label)
            if method == "HEAD":  # no body: the server's copy, through restore
                visitor.sha256(f"/fp/restore/?id={upload_id}", phase_size, digests[name])
            elif digest.hexdigest() != digests[name]:
                raise CheckFailed(f"{label}: the sha256 is not the remote file's")
            print_phase(label, figures, phase_size)
            if method == "GET":
                print(f"{'':13}of which {download:.2f} s until the answer's headers (the download)")
            visitor.call("DELETE", "/fp/revert/", upload_id.encode())
        remote.shutdown()
    return 0


def tus(args: argparse.Namespace) -> int:
    """The same file through tus-js-client in Node and through FilePond's chunked PATCHes, in
    alternating order per round: each upload's MiB/s and the worker's peak RSS above idle."""
    node_modules = os.path.join(REPO_ROOT, "demo", "node_modules")
    if not os.path.isdir(os.path.join(node_modules, "tus-js-client")):
        print("tus-js-client is missing: run 'npm ci' in demo/ first", file=sys.stderr)
        return 2
    size, chunk = args.size_mib * MiB, int(args.chunk_mb * MB)
    configuration({"size MiB": args.size_mib, "chunk bytes": chunk})
    results: dict[str, list[Figures]] = {"tus": [], "filepond": []}
    with tempfile.TemporaryDirectory(prefix="filepond-bench-") as files, one_worker({}) as server:
        path = os.path.join(files, "source.bin")
        expected = write_random_file(path, size)
        visitor, pid = Visitor(server.port), server.pids()[0]
        # tus uploads belong to the visitor's session, which a first (removed) tus upload
        # opens; Node keeps no cookies, so it is given the visitor's, as a browser sends them.
        tus_headers = {"Tus-Resumable": "1.0.0"}
        response = visitor.send("POST", "/fp/tus/", None, {**tus_headers, "Upload-Length": "1"})
        response.read()
        visitor.send("DELETE", response.getheader("Location", ""), None, tus_headers).read()
        cookie = "; ".join(f"{k}={m.coded_value}" for k, m in visitor.cookies.items())
        node = [
            "node",
            os.path.join(BENCH_DIR, "tus_upload.cjs"),
            f"http://127.0.0.1:{server.port}/fp/tus/",
        ]
        idle = {pid: proc_status(pid, "VmRSS")}
        for number in range(args.rounds):
            for protocol in ("tus", "filepond")[:: 1 if number % 2 == 0 else -1]:
                figures: Figures = {}
                with measured(figures, "upload", [pid], idle):
                    if protocol == "tus":
                        done = subprocess.run(
                            [*node, path, str(chunk), cookie],
                            env={**os.environ, "NODE_PATH": node_modules},
                            capture_output=True,
                            text=True,
                        )
                        if done.returncode:
                            raise CheckFailed(done.stderr.strip())
                        outcome = json.loads(done.stdout)
                        upload_id = outcome["url"].rsplit("/", 1)[1]
                    else:
                        began = time.perf_counter()
                        upload_id = visitor.upload(path, size, chunk)
                        outcome = {"seconds": time.perf_counter() - began}
                # The upload alone: for tus from start() to onSuccess, measured in Node.
                figures["mib_s"] = size / MiB / outcome["seconds"]
                visitor.sha256(f"/fp/restore/?id={upload_id}", size, expected)
                visitor.call("DELETE", "/fp/revert/", upload_id.encode())
                results[protocol].append(figures)
                print(
                    f"  round {number + 1} {protocol:<8} {figures['mib_s']:7.1f} MiB/s, "
                    f"peak RSS {figures['upload_rss']:+.1f} MiB",
                    flush=True,
                )
    for protocol, runs in results.items():
        print(
            f"{protocol:<8} {spread([r['mib_s'] for r in runs])} MiB/s, peak RSS above idle "
            f"{spread([r['upload_rss'] for r in runs], '{:+.1f}')} MiB"
        )
    print(f"load average after: {load_average()}")
    return 0


class Moto(remote_storage.S3Server):
    """moto's S3 server in a process of its own (so that its CPU time can be measured), with
    the bucket ``bench``; large objects spill to files in ``directory``."""

    def __init__(self, directory: str) -> None:
        self.server, self.port = None, free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.bucket, self.access_key, self.secret_key = "bench", "bench", "bench"
        self.region, self.run_prefix, self.location = "us-east-1", "", ""
        with open(os.path.join(directory, "moto.log"), "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=log,
                env={**os.environ, "TMPDIR": directory},
            )
        try:
            remote_storage.wait_for_port(self.port, 30)
            self.client().create_bucket(Bucket=self.bucket)
        except BaseException:
            self.__exit__()
            raise

    def __enter__(self) -> Moto:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(30)

    def storage(self, location: str, port: int | None = None) -> Figures:
        """A ``STORAGES`` entry for a folder of the bucket (through ``port``, a relay)."""
        endpoint = f"http://127.0.0.1:{port or self.port}"
        return self.storage_options(location=location, endpoint_url=endpoint)


def direct(args: argparse.Namespace) -> int:
    """Direct uploads (parts PUT straight to S3, moto in a process of its own) against uploads
    through the app into an S3 or a local temporary area: seconds, and CPU seconds per GiB of
    the app's worker and of moto."""
    size, part = args.size_mib * MiB, args.part_mib * MiB
    configuration({"size MiB": args.size_mib, "moto": version("moto"), "parallel": args.parallel})
    with tempfile.TemporaryDirectory(prefix="filepond-bench-") as files, Moto(files) as moto:
        storages = {"bench-tmp": moto.storage("filepond-bench-tmp")}
        path = os.path.join(files, "source.bin")
        expected = write_random_file(path, size)
        for mode in ("direct", "app, S3 area", "app, local area"):
            settings: Figures = {"STORAGES": storages, "FILEPOND_SERVER_DIRECT_PART_SIZE": part}
            if mode != "app, local area":
                settings["FILEPOND_SERVER_TEMP_STORAGE"] = "bench-tmp"
                settings["SILENCED_SYSTEM_CHECKS"] = ["django_filepond_server.W005"]
            with one_worker(settings_env(**settings)) as server:
                visitor, pid = Visitor(server.port), server.pids()[0]

                def send(length: int, mode: str = mode, visitor: Visitor = visitor) -> str:
                    if mode == "direct":
                        return direct_upload(visitor, path, length, args.parallel)
                    return visitor.upload(path, length, int(args.chunk_mb * MB))

                visitor.call("DELETE", "/fp/revert/", send(part + MiB).encode())  # warm-up
                figures: Figures = {}
                idle = {pid: proc_status(pid, "VmRSS")}
                with measured(
                    figures, "up", [pid], idle, {"app": [pid], "moto": [moto.process.pid]}
                ):
                    upload_id = send(size)
                visitor.sha256(f"/fp/restore/?id={upload_id}", size, expected)
                seconds, gib = figures["up_s"], size / 1024 / MiB
                print(
                    f"  {mode:<16} {seconds:7.1f} s {size / MB / seconds:8.1f} MB/s   CPU s/GiB: "
                    f"app worker {figures['up_app_cpu'] / gib:6.2f}, "
                    f"moto {figures['up_moto_cpu'] / gib:6.2f}",
                    flush=True,
                )
    print(f"load average after: {load_average()}")
    return 0


def direct_upload(visitor: Visitor, path: str, size: int, parallel: int) -> str:
    """What direct.js does: begin, the part URLs in batches of 16, the parts PUT straight to S3
    by ``parallel`` connections at once, complete; returns the upload id."""

    def post(url: str, body: Figures) -> Any:
        return json.loads(
            visitor.call("POST", url, json.dumps(body), Content_Type="application/json")
        )

    begun = post("/fp/direct/", {"name": "bench.bin", "size": size, "type": ""})
    urls = dict(begun["urls"])
    wanted = [n for n in range(1, begun["parts"] + 1) if str(n) not in urls]
    for start in range(0, len(wanted), 16):
        urls |= post(
            "/fp/direct/parts/", {"key": begun["key"], "parts": wanted[start : start + 16]}
        )["urls"]

    def put(number: int) -> None:
        offset = (number - 1) * begun["partSize"]
        with open(path, "rb") as f:
            f.seek(offset)
            body = f.read(min(begun["partSize"], size - offset))
        where = urlsplit(urls[str(number)])
        conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=900)
        conn.request("PUT", f"{where.path}?{where.query}", body=body)
        if conn.getresponse().status != 200:
            raise CheckFailed(f"PUT of part {number} to S3 failed")
        conn.close()

    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        list(pool.map(put, range(1, begun["parts"] + 1)))
    answer = visitor.call(
        "POST",
        "/fp/direct/complete/",
        json.dumps({"key": begun["key"]}),
        Content_Type="application/json",
    )
    return checked_id(answer, "complete")


# --- scaleout: the temporary area on S3, several app servers behind nginx ----------------------

#: 8 MiB chunks let S3 copy the parts of a same-bucket store itself; 5,000,000 bytes do not.
CHUNKS = {"8 MiB": 8 * MiB, "5 MB": 5 * MB}
#: (set-up, chunks, where store puts the file): every run of a round, in this order.
SCALEOUT_RUNS = [
    ("local", "8 MiB", "bucket"),
    ("local", "8 MiB", "disk"),
    ("s3", "8 MiB", "bucket"),
    ("s3", "8 MiB", "disk"),
    ("s3", "5 MB", "bucket"),
    ("s3 lb", "8 MiB", "bucket"),
    ("s3 x3", "8 MiB", "bucket"),
    ("s3 x3", "8 MiB", "disk"),
    ("s3 x3", "5 MB", "bucket"),
]
#: Sent down every path before anything is measured: above two chunks of either size.
WARM_UP_SIZE = 17 * MiB
THROUGH_APP = re.compile(rb"; (\d+) bytes passed through the app")


class SetUp:
    """``count`` app servers of the multi-server tests (``tests/multiserver``) with one sync
    worker each, behind nginx when ``balanced``."""

    def __init__(self, name: str, root: str, config: Figures, count: int, balanced: bool) -> None:
        slug = name.replace(" ", "")
        self.servers = [
            cluster.AppServer(f"{slug}{n}", Path(root, f"{slug}-{n}"), config, workers=1)
            for n in range(count)
        ]
        self.balancer = None
        if balanced:
            nginx = Path(root, f"{slug}-nginx")
            self.balancer = cluster.LoadBalancer(nginx, self.servers, max_body="16m")

    def __enter__(self) -> SetUp:
        cluster.start_all(self.servers)
        if self.balancer is not None:
            self.balancer.start()
        self.port = (self.balancer or self.servers[0]).port
        self.names = {s.worker_pids()[0]: s.name for s in self.servers}
        return self

    def __exit__(self, *exc: object) -> None:
        if self.balancer is not None:
            self.balancer.stop()
        cluster.stop_all(self.servers)

    def warm_up(self, moto: Moto, path: str, digest: str) -> None:
        """Every path once on every worker, so that imports, the storage clients and their
        connections are in place before the idle figure."""
        for server in self.servers:
            visitor = Visitor(server.port)
            for chunk, to in ((8 * MiB, ""), (5 * MB, ""), (8 * MiB, "default")):
                upload_id = visitor.upload(path, WARM_UP_SIZE, chunk)
                visitor.sha256(f"/fp/?restore={upload_id}", WARM_UP_SIZE, digest)
                self.remove(moto, store_to(visitor, upload_id, to), to)
            visitor.close()
        self.idle = {pid: proc_status(pid, "VmRSS") for pid in self.names}

    def remove(self, moto: Moto, saved: str, to: str) -> None:
        """Give the disk or memory back: the name ``save_upload`` answered, or the bucket's
        stored files."""
        if not to:
            return moto.delete_all("store")
        for server in self.servers:
            stored = Path(server.config["media_root"], saved)
            if stored.exists():
                return stored.unlink()
        raise CheckFailed(f"no server holds {saved!r}")

    def through_app(self, since: dict[Path, int]) -> int | None:
        """The bytes the app logged as passed through it since ``since`` (log sizes)."""
        found = []
        for log, offset in since.items():
            with open(log, "rb") as f:
                f.seek(offset)
                found += [int(n) for n in THROUGH_APP.findall(f.read())]
        return sum(found) if found else None


def store_to(visitor: Visitor, upload_id: str, to: str) -> str:
    """``store_upload`` into the bucket (answers the stored id), or with ``to`` ``save_upload``
    into that ``STORAGES`` alias (answers the name saved)."""
    url = f"/store/?to={to}" if to else "/store/"
    return visitor.call("POST", url, upload_id.encode()).decode()


def scaleout_run(setup: SetUp, moto: Moto, path: str, digest: str, chunk: int, to: str) -> Figures:
    """Upload, restore and store once: each phase's seconds, peak RSS above idle and the CPU
    seconds of the workers (``app``) and of moto, and the bytes the store passed through."""
    figures: Figures = {}
    size, pids = os.path.getsize(path), list(setup.names)
    cpu = {"app": pids, "moto": [moto.process.pid]}
    visitor = Visitor(setup.port)
    with measured(figures, "upload", pids, setup.idle, cpu):
        upload_id = visitor.upload(path, size, chunk)
    with measured(figures, "restore", pids, setup.idle, cpu):
        visitor.sha256(f"/fp/?restore={upload_id}", size, digest)
    logs = {s.output: s.output.stat().st_size for s in setup.servers}
    with measured(figures, "store", pids, setup.idle, cpu):
        saved = store_to(visitor, upload_id, to)
    figures["through"] = setup.through_app(logs)
    visitor.close()
    setup.remove(moto, saved, to)
    return figures


def scaleout_phase(figures: Figures, phase: str, size: int) -> str:
    seconds = figures[f"{phase}_s"]
    speed = f"{seconds:.2f} s" if phase == "store" else f"{size / MB / seconds:.0f} MB/s"
    through = figures["through"] if phase == "store" else None
    through_text = "" if through is None else f", {through:,} B through app"
    return f"{phase} {speed} ({figures[f'{phase}_rss']:+.1f} MiB{through_text})"


def scaleout_summary(results: dict[tuple[str, str, str], list[Figures]], size: int) -> None:
    def median(runs: list[Figures], of: Callable[[Figures], float]) -> str:
        return f"{statistics.median(map(of, runs)):.0f}"

    rounds = len(next(iter(results.values())))
    print(f"\nmedian [min–max] of {rounds} rounds; CPU % is CPU seconds per second of the phase")
    print(
        f"{'set-up':<7}{'chunks':<7}{'store to':<9}{'upload MB/s':>16}{'restore MB/s':>22}"
        f"{'store s':>20}{'RSS +MiB':>10}{'CPU % upload':>14}{'moto % store':>14}"
        f"{'through app, B':>16}\n{'':<91}{'app/moto':>14}"
    )
    for (name, chunk, to), runs in results.items():
        rss = max(run[f"{phase}_rss"] for run in runs for phase in ("upload", "restore", "store"))
        upload, restore = (
            spread([size / MB / run[f"{phase}_s"] for run in runs], "{:.0f}")
            for phase in ("upload", "restore")
        )
        cpu = "/".join(
            median(runs, lambda f, key=key: 100 * f[f"upload_{key}_cpu"] / f["upload_s"])
            for key in ("app", "moto")
        )
        moto = median(runs, lambda f: 100 * f["store_moto_cpu"] / f["store_s"])
        through = ", ".join(
            sorted({"-" if r["through"] is None else f"{r['through']:,}" for r in runs})
        )
        print(
            f"{name:<7}{chunk:<7}{to:<9}{upload:>16}{restore:>22}"
            f"{spread([run['store_s'] for run in runs], '{:.2f}'):>20}{rss:>+10.1f}{cpu:>14}"
            f"{moto:>14}{through:>16}"
        )


def scaleout(args: argparse.Namespace) -> int:
    """The temporary area on S3 against the local one, through one app server and through one
    and three behind nginx; then the bytes on the wire during a same-bucket store."""
    size = args.size_mib * MiB
    pg_version = postgres_version()
    if cluster.unavailable() or pg_version is None:
        print(f"scaleout needs nginx and PostgreSQL: {cluster.unavailable() or 'no PostgreSQL'}")
        return 2
    fresh_database(args.pg_database)
    configuration({"size MiB": args.size_mib, "PostgreSQL": pg_version, "moto": version("moto")})
    database = {"ENGINE": "django.db.backends.postgresql", "NAME": args.pg_database}
    database |= {key.upper(): value for key, value in PG.items()}
    with (
        tempfile.TemporaryDirectory(prefix="filepond-bench-") as root,
        Moto(root) as moto,
        contextlib.ExitStack() as running,
    ):
        base = {
            "database": database,
            "log_level": "DEBUG",  # the bytes that pass through the app
            "max_upload_size": max(size, WARM_UP_SIZE) + MiB,
            "storages": {"shared-store": moto.storage("store")},
            "store": "shared-store",
        }
        s3 = {**base, "temp_storage": "shared-tmp"}
        s3["storages"] = {**base["storages"], "shared-tmp": moto.storage("tmp")}
        setups = {
            "local": SetUp("local", root, base, 1, balanced=False),
            "s3": SetUp("s3", root, s3, 1, balanced=False),
            "s3 lb": SetUp("s3 lb", root, s3, 1, balanced=True),
            "s3 x3": SetUp("s3 x3", root, s3, 3, balanced=True),
        }
        migrate = setups["local"].servers[0].manage("migrate", "--verbosity", "0")
        if migrate.returncode:
            raise RuntimeError(migrate.stderr)
        small, path = os.path.join(root, "small.bin"), os.path.join(root, "source.bin")
        small_digest = write_random_file(small, WARM_UP_SIZE)
        for setup in setups.values():
            running.enter_context(setup).warm_up(moto, small, small_digest)
        digest = write_random_file(path, size)
        idle = ", ".join(
            f"{s.names[pid]} {rss / MiB:.0f}"
            for s in setups.values()
            for pid, rss in s.idle.items()
        )
        print(f"{size:,} bytes; idle RSS of the workers, MiB: {idle}", flush=True)
        results: dict[tuple[str, str, str], list[Figures]] = {}
        for number in range(1, args.rounds + 1):
            for name, chunk, to in SCALEOUT_RUNS:
                store = "default" if to == "disk" else ""
                figures = scaleout_run(setups[name], moto, path, digest, CHUNKS[chunk], store)
                results.setdefault((name, chunk, to), []).append(figures)
                phases = "  ".join(
                    scaleout_phase(figures, p, size) for p in ("upload", "restore", "store")
                )
                print(
                    f"round {number} {name:<6} {chunk:<6} {to:<7}  {phases}"
                    f"  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        print(f"load average after: {load_average()}")
        scaleout_summary(results, size)
        bytes_on_the_wire(root, moto, base, path)
        if args.profile:
            profile_moto(setups["s3"], moto, root, path)
    return 0


def bytes_on_the_wire(root: str, moto: Moto, base: Figures, path: str) -> None:
    """One more server, whose S3 traffic goes through a counting relay: the bytes between the
    app and S3 during a same-bucket store, measured on the wire rather than from the app's log."""
    relay = cluster.FaultProxy(("127.0.0.1", moto.port))
    relay.start()
    place = {"tmp": moto.storage("tmp", relay.port), "st": moto.storage("store", relay.port)}
    config = {**base, "storages": place, "temp_storage": "tmp", "store": "st"}
    size = os.path.getsize(path)
    print()
    try:
        with SetUp("relay", root, config, 1, balanced=False) as setup:
            for chunk in CHUNKS.values():
                visitor = Visitor(setup.port)
                upload_id = visitor.upload(path, size, chunk)
                sent, received = relay.sent, relay.received
                store_to(visitor, upload_id, "")
                visitor.close()
                print(
                    f"same-bucket store_upload after {chunk:,}-byte chunks: {relay.sent - sent:,} "
                    f"bytes from the app to S3, {relay.received - received:,} back"
                )
                moto.delete_all("store")
    finally:
        relay.stop()


def profile_moto(setup: SetUp, moto: Moto, root: str, path: str) -> None:
    """Where moto's time goes during an upload and a same-bucket store (8 MiB chunks)."""
    visitor = Visitor(setup.port)
    for phase in ("upload", "store"):
        with profiled(moto.process.pid, os.path.join(root, f"{phase}.json")) as found:
            if phase == "upload":
                upload_id = visitor.upload(path, os.path.getsize(path), 8 * MiB)
            else:
                store_to(visitor, upload_id, "")
        print(f"\nmoto during the {phase}, share of py-spy's samples per innermost function:")
        for frame, count in found["self"].most_common(8):
            print(f"  {count / max(found['total'], 1):6.1%}  {frame}")
    visitor.close()
    moto.delete_all("store")


# --- main --------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("compare", help="this app, the incumbent and the limit, side by side")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--databases", default="sqlite,postgresql,postgresql-persistent")
    p.add_argument("--targets", default="app,incumbent,limit")
    p.add_argument("--small", type=int, default=600, help="whole-file uploads (default 600)")
    p.add_argument("--small-kib", type=int, default=10, help="their size (default 10)")
    p.add_argument("--clients", type=int, default=4, help="concurrent visitors (default 4)")
    p.add_argument("--chunked-mib", type=int, default=256, help="chunked file (default 256)")
    p.add_argument("--chunk-mb", type=float, default=5, help="PATCH size, MB (default 5)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    p.add_argument("--results", default=os.path.join(BENCH_DIR, "results"))
    p.add_argument("--profile", action="store_true", help="py-spy on the app's small uploads")
    p.add_argument("--source", help="another checkout of this repository: target source")
    p.set_defaults(run=compare)
    p = sub.add_parser("contention", help="another visitor's upload beside slow requests")
    p.add_argument("--source", help="another checkout of this repository to serve")
    p.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    p.add_argument("--uploads", type=int, default=50, help="small uploads per case (default 50)")
    p.add_argument("--small-kib", type=int, default=10)
    p.add_argument("--trickle", type=float, default=20, help="seconds of the trickle (default 20)")
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(run=contention)
    p = sub.add_parser("limit-race", help="the per-owner limit under simultaneous starts")
    p.add_argument("--databases", default="sqlite,postgresql")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--starts", type=int, default=8)
    p.add_argument("--workers", type=int, default=4)
    p.set_defaults(run=limit_race)
    p = sub.add_parser("store", help="store_upload into S3 (moto) and SFTP (sshd)")
    p.add_argument("--backends", default="s3,sftp", help="among s3, s3-default, sftp")
    p.add_argument("--size-mib", type=int, default=512)
    p.add_argument("--compare-mib", type=int, default=16, help="a smaller file too (0: none)")
    p.set_defaults(run=store)
    p = sub.add_parser("fetch", help="FilePond's fetch of a large remote file")
    p.add_argument("--size-mib", type=int, default=512)
    p.set_defaults(run=fetch)
    p = sub.add_parser("tus", help="tus-js-client against FilePond's PATCHes")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--chunk-mb", type=float, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.set_defaults(run=tus)
    p = sub.add_parser("direct", help="direct uploads to S3 against uploads through the app")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--parallel", type=int, default=4, help="parts sent at once (default 4)")
    p.add_argument("--part-mib", type=int, default=8)
    p.add_argument("--chunk-mb", type=float, default=5)
    p.set_defaults(run=direct)
    p = sub.add_parser("scaleout", help="the temporary area on S3, several servers behind nginx")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="py-spy on moto")
    p.set_defaults(run=scaleout)
    for name in ("compare", "contention", "limit-race", "scaleout"):
        sub.choices[name].add_argument("--pg-database", default="filepond_bench")
    args = parser.parse_args(argv)
    for name in ("targets", "databases"):
        known = {"targets": {"app", "incumbent", "floor", "limit", "source"}}.get(
            name, set(DATABASE_SET_UPS)
        )
        if hasattr(args, name) and not set(getattr(args, name).split(",")) <= known:
            parser.error(f"--{name} takes names among {', '.join(sorted(known))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if "pg_database" in args:  # for Server, which drops and creates it, and bench_settings.py
        os.environ["FILEPOND_BENCH_PG_DATABASE"] = args.pg_database
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return int(args.run(args))
    except (CheckFailed, http.client.HTTPException, OSError) as exc:
        print(f"FAILED {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
