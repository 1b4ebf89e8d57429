"""The gunicorn server of the randomized run, and what it leaves behind: logs and files.

Everything the server may write lives under one run directory::

    tmp/      the temporary upload area          media/   the permanent store
    spool/    spooled chunk bodies (transient)    audit/   writes recorded per worker
    cwd/ home/ systmp/   its working, home and TMPDIR directories (must stay empty)
    gunicorn.log  access.log  django.log
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: Directories the server writes to by design; each must exist before it starts.
WRITABLE = ("tmp", "media", "spool", "audit")
#: Directories given to the server as its own that it has no reason to write to.
MUST_STAY_EMPTY = ("cwd", "home", "systmp")
#: The request number (the X-Fuzz-Request header), status, Retry-After, worker and request line.
ACCESS_FORMAT = '%({x-fuzz-request}i)s %(s)s %({retry-after}o)s %(p)s "%(r)s"'
#: gunicorn's own refusals of malformed HTTP (they never reach Django), logged as warnings.
GUNICORN_REFUSAL = re.compile(r"\[WARNING\] Invalid request from ip=")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class FuzzServer:
    """gunicorn with ``workers`` sync workers serving :mod:`tests.fuzz.urls` on loopback.

    ``storages`` adds ``STORAGES`` aliases: ``"fuzz-tmp"`` becomes the temporary area and
    ``"fuzz-store"`` the permanent store (else a directory of the run).
    """

    def __init__(
        self,
        run_dir: str,
        database: dict[str, Any],
        *,
        fetch_host: str,
        storages: dict[str, Any] | None = None,
        workers: int = 3,
    ) -> None:
        self.run_dir = run_dir
        self.workers = workers
        self.port = free_port()
        for name in (*WRITABLE, *MUST_STAY_EMPTY):
            os.makedirs(os.path.join(run_dir, name), exist_ok=True)
        self.log_path = os.path.join(run_dir, "gunicorn.log")
        self.access_path = os.path.join(run_dir, "access.log")
        self.django_log_path = os.path.join(run_dir, "django.log")
        env = dict(os.environ)
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(filter(None, [REPO_ROOT, env.get("PYTHONPATH")])),
                "PYTHONDONTWRITEBYTECODE": "1",
                "DJANGO_SETTINGS_MODULE": "tests.fuzz.settings",
                "FILEPOND_FUZZ_DIR": run_dir,
                "FILEPOND_FUZZ_DATABASE": json.dumps(database),
                "FILEPOND_FUZZ_FETCH_HOST": fetch_host,
                "FILEPOND_FUZZ_STORAGES": json.dumps(storages or {}),
                "HOME": os.path.join(run_dir, "home"),
                "TMPDIR": os.path.join(run_dir, "systmp"),
                # gunicorn >= 25.1 puts its control socket here instead of under $HOME.
                "XDG_RUNTIME_DIR": os.path.join(run_dir, "systmp"),
            }
        )
        env.pop("COVERAGE_PROCESS_START", None)
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            # A worker stuck this long is killed (and logged as CRITICAL): a failure.
            "--timeout",
            "60",
            "--log-level",
            "info",
            "--error-logfile",
            self.log_path,
            "--access-logfile",
            self.access_path,
            "--access-logformat",
            ACCESS_FORMAT,
            "django.core.wsgi:get_wsgi_application()",
        ]
        with open(os.path.join(self.run_dir, "stderr.log"), "wb") as stderr:
            self.process = subprocess.Popen(
                command,
                cwd=os.path.join(self.run_dir, "cwd"),
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log_tail()}")
            if self.booted_workers() >= self.workers:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", self.port), timeout=1),
                ):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not start in {timeout} s:\n{self.log_tail()}")

    def booted_workers(self) -> int:
        try:
            with open(self.log_path, errors="replace") as f:
                return sum("Booting worker with pid" in line for line in f)
        except FileNotFoundError:
            return 0

    def log_tail(self, lines: int = 40) -> str:
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def stop(self) -> None:
        """Stop gracefully, so that every log line is written."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- After the run: logs -----------------------------------------------------------------------


#: Django logs every 5xx answer, the permitted 503s with Retry-After too.
DJANGO_503 = re.compile(r" ERROR django\.request Service Unavailable: \S*$")


def server_log_problems(server: FuzzServer, permitted_503s: int) -> list[str]:
    """Lines of gunicorn's and Django's logs that show a server error, a traceback, a dropped
    body or a worker that died: anything but gunicorn's refusals of malformed HTTP and the
    log lines of the ``permitted_503s`` (503 with Retry-After) the access log shows."""
    problems: list[str] = []
    with open(server.log_path, errors="replace") as f:
        for line in f:
            if "[INFO]" in line or GUNICORN_REFUSAL.search(line):
                continue
            problems.append(f"gunicorn.log: {line.rstrip()}")
    if server.booted_workers() != server.workers:
        problems.append(
            f"gunicorn.log: {server.booted_workers()} workers booted for {server.workers}: "
            "a worker died"
        )
    if os.path.exists(server.django_log_path):
        records = _records(server.django_log_path)
        logged_503s = [record for record in records if DJANGO_503.search(record)]
        if len(logged_503s) != permitted_503s:
            problems += [f"django.log: {record}" for record in logged_503s]
        problems += [f"django.log: {r}" for r in records if not DJANGO_503.search(r)]
    with open(os.path.join(server.run_dir, "stderr.log"), errors="replace") as f:
        problems += [f"stderr: {line.rstrip()}" for line in f if line.strip()]
    return problems


_RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def _records(path: str) -> list[str]:
    """The records of a log, each its first line and, for a traceback, its last one."""
    records: list[list[str]] = []
    with open(path, errors="replace") as f:
        for line in f:
            if _RECORD_START.match(line) or not records:
                records.append([])
            records[-1].append(line.rstrip())
    return [r[0] if len(r) == 1 else f"{r[0]} ... {r[-1]}" for r in records]


@dataclass
class Logged:
    """One line of the access log."""

    request: str  # the X-Fuzz-Request header, "-" when gunicorn could not read it
    status: int
    retry_after: str
    worker: str
    line: str


def access_log(server: FuzzServer) -> list[Logged]:
    entries = []
    with open(server.access_path, errors="replace") as f:
        for line in f:
            request, status, retry_after, worker, rest = line.rstrip("\n").split(" ", 4)
            entries.append(Logged(request, int(status), retry_after, worker, rest.strip('"')))
    return entries


def is_permitted_503(entry: Logged) -> bool:
    """A 503 that says when to try again (busy, checks running, storage unavailable)."""
    return entry.status == 503 and entry.retry_after != "-"


def server_errors(entries: Iterable[Logged]) -> list[Logged]:
    """Answers of 500 and above, but a 503 that says when to try again."""
    return [entry for entry in entries if entry.status >= 500 and not is_permitted_503(entry)]


# --- After the run: files ----------------------------------------------------------------------


Snapshot = dict[str, tuple[int, int]]
#: What a snapshot of the checkout leaves out: version control, the environment, caches that
#: the test process itself writes.
_SKIPPED = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache"}


def snapshot(roots: Iterable[str]) -> Snapshot:
    """Size and modification time of every file under ``roots``."""
    found: Snapshot = {}
    for root in roots:
        for directory, subdirectories, files in os.walk(root):
            subdirectories[:] = [name for name in subdirectories if name not in _SKIPPED]
            for name in files:
                path = os.path.join(directory, name)
                with contextlib.suppress(FileNotFoundError):
                    stat = os.lstat(path)
                    found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
