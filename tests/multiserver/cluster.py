"""Several app servers for real: gunicorn processes behind nginx, a TCP relay that can cut them
off from S3, and a gate that holds a chunk inside a server until the test lets it go.

Each :class:`AppServer` is a gunicorn master with sync workers, in a process group of its own
(so SIGKILL takes the whole server, as a lost machine would), with its own empty directory for
its temporary area and its logs, and its own access log, in which every line names the request
(method, path, query, status, ``Upload-Offset``). :class:`LoadBalancer` is Debian's nginx in the
foreground, round-robin over the servers; a request with ``X-Route-To: <name>`` goes to that
server only, so a test can say which server takes, say, a revert.

``benchmarks/bench.py scaleout`` starts its servers with these classes too.
"""

from __future__ import annotations

import contextlib
import getpass
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
NGINX = os.environ.get("FILEPOND_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"

#: One access log line per request: method, path, query, status, the request's and the
#: answer's Upload-Offset, the answer's Retry-After and the request's X-Route-To.
ACCESS_FORMAT = (
    "%(m)s %(U)s ?%(q)s %(s)s %({upload-offset}i)s %({upload-offset}o)s %({retry-after}o)s "
    "%({x-route-to}i)s"
)


def unavailable() -> str | None:
    """Why several servers cannot run here, or ``None``."""
    if not os.access(NGINX, os.X_OK):
        return f"no nginx at {NGINX} (Debian: apt-get install nginx)"
    if importlib.util.find_spec("gunicorn") is None:
        return "gunicorn is not installed (pip install -e '.[test]')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers_http(port: int) -> bool:
    """Whether something on ``port`` answers an HTTP request (any status)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /fp/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/")
    except OSError:
        return False


@dataclass(frozen=True)
class Request:
    """One line of a server's access log."""

    method: str
    path: str
    query: str
    status: int
    #: ``Upload-Offset`` of the request (a PATCH) and of the answer (PATCH and HEAD).
    offset: int | None
    answered: int | None
    retry_after: str | None
    route: str | None

    def upload_id(self) -> str | None:
        """The upload a PATCH or HEAD names in ``?patch=``."""
        for pair in self.query.split("&"):
            key, _, value = pair.partition("=")
            if key == "patch":
                return value
        return None


class AppServer:
    """One app server: a gunicorn master with ``workers`` sync workers on 127.0.0.1."""

    def __init__(
        self, name: str, directory: Path, config: Mapping[str, Any], *, workers: int = 2
    ) -> None:
        self.name = name
        self.directory = directory
        self.port = free_port()
        self.workers = workers
        self.config = {
            **config,
            "name": name,
            "temp_dir": str(directory / "tmp"),
            "media_root": str(directory / "media"),
        }
        self.access_log = directory / "access.log"
        self.output = directory / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """The environment of the server's processes: its settings and configuration."""
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="tests.multiserver.server_settings",
            FILEPOND_MULTISERVER=json.dumps(self.config),
            PYTHONPATH=os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]),
            # gunicorn >= 25.1 puts its control socket there rather than under $HOME.
            XDG_RUNTIME_DIR=str(self.directory),
        )
        return env

    def manage(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """Run a management command as this server would (``manage.py <arguments>``)."""
        return subprocess.run(
            [sys.executable, "-m", "django", *arguments],
            cwd=REPO_ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self, timeout: float = 60) -> None:
        start_all([self], timeout)

    def launch(self) -> None:
        """Start gunicorn; :meth:`wait_ready` waits until it answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
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
            "--timeout",
            "300",
            "--graceful-timeout",
            "5",
            "--access-logfile",
            str(self.access_log),
            "--access-logformat",
            ACCESS_FORMAT,
            "tests.multiserver.wsgi:application",
        ]
        with open(self.output, "ab") as out:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own: kill() takes it all
            )

    def wait_ready(self, deadline: float) -> None:
        """Wait until the server answers HTTP, until ``deadline`` (``time.monotonic()``)."""
        assert self.process is not None
        while not answers_http(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"app server {self.name} did not start:\n{self.log_tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the master and its workers at once, as when a machine is lost."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        stop_all([self])

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                pids.append(int(entry))
        return sorted(pids)

    def requests(self) -> list[Request]:
        """What the access log shows so far."""
        if not self.access_log.exists():
            return []
        found = []
        for line in self.access_log.read_text().splitlines():
            method, path, query, status, offset, answered, retry_after, route = [
                None if field == "-" else field for field in line.split(" ")
            ]
            assert method and path and query and status
            found.append(
                Request(
                    method,
                    path,
                    query[1:],
                    int(status),
                    None if offset is None else int(offset),
                    None if answered is None else int(answered),
                    retry_after,
                    route,
                )
            )
        return found

    def log_tail(self, lines: int = 40) -> str:
        if not self.output.exists():
            return ""
        return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])


def start_all(servers: Iterable[AppServer], timeout: float = 60) -> None:
    """Start the servers side by side, and wait until every one answers."""
    servers = list(servers)
    for server in servers:
        server.launch()
    deadline = time.monotonic() + timeout
    for server in servers:
        server.wait_ready(deadline)


def stop_all(servers: Iterable[AppServer]) -> None:
    """Stop the servers at once (gunicorn's quick shutdown takes a second or so each)."""
    running = [s for s in servers if s.alive]
    for server in running:
        assert server.process is not None
        server.process.send_signal(signal.SIGINT)
    for server in running:
        assert server.process is not None
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


class LoadBalancer:
    """nginx in the foreground on a free loopback port, round-robin over ``servers``."""

    def __init__(
        self,
        directory: Path,
        servers: Iterable[AppServer],
        *,
        max_body: str = "20m",
        locations: str = "",
    ) -> None:
        self.directory = directory
        self.servers = list(servers)
        #: More ``location`` blocks of the server, such as internal ones for X-Accel-Redirect.
        self.locations = locations
        self.port = free_port()
        self.max_body = max_body
        self.access_log = directory / "access.log"
        self.error_log = directory / "error.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        d = self.directory
        each = "\n".join(
            f"    upstream app_{s.name} {{ server 127.0.0.1:{s.port}; }}" for s in self.servers
        )
        pool = "\n".join(
            f"        server 127.0.0.1:{s.port} max_fails=1 fail_timeout=2s;" for s in self.servers
        )
        routes = "\n".join(f"        {s.name} app_{s.name};" for s in self.servers)
        # As root, nginx's workers would switch to "nobody", who cannot write this directory.
        user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
        return f"""{user}daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    log_format served '$request_method $request_uri $status $upstream_addr $upstream_status';
    access_log {self.access_log} served;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    # Above the largest chunk (and whole-file POST) the tests send.
    client_max_body_size {self.max_body};
    upstream app_all {{
{pool}
    }}
{each}
    map $http_x_route_to $app {{
        default app_all;
{routes}
    }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://$app;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 300s;
        }}
{self.locations}
    }}
}}
"""

    def start(self, timeout: float = 20) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "nginx.conf"
        conf.write_text(self.config())
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.directory), "-c", str(conf), "-e", str(self.error_log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not answers_http(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                errors = self.error_log.read_text() if self.error_log.exists() else ""
                raise RuntimeError(f"nginx did not start:\n{errors}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # nginx's fast shutdown
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []


class FaultProxy:
    """A TCP relay from a loopback port to S3 that the test can cut and restore.

    :meth:`stop` closes the listening socket and resets every connection in flight, so the app
    servers see S3 become unreachable; :meth:`start` listens on the same port again. With
    ``tunnel``, the relay is an HTTP ``CONNECT`` proxy instead (for an ``https`` endpoint,
    whose TLS must reach the real host untouched).
    """

    def __init__(self, target: tuple[str, int] | None = None, *, tunnel: bool = False) -> None:
        self.target = target
        self.tunnel = tunnel
        self.port = free_port()
        #: Bytes relayed towards S3 and back since the relay was made.
        self.sent = self.received = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not, and
            # the port would go on accepting.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                # A reset, not a polite close: the peer's next read or write fails.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
                sock.close()

    @property
    def running(self) -> bool:
        return self._listener is not None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return  # stopped
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, *sockets: socket.socket) -> bool:
        with self._lock:
            if self._listener is None:
                return False
            self._sockets.update(sockets)
            return True

    def _serve(self, client: socket.socket) -> None:
        try:
            if self.tunnel:
                head = b""
                while b"\r\n\r\n" not in head:
                    piece = client.recv(4096)
                    if not piece:
                        raise OSError("client went away")
                    head += piece
                host, _, port = head.split(b" ", 2)[1].decode().rpartition(":")
                upstream = socket.create_connection((host, int(port)), timeout=10)
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                assert self.target is not None
                upstream = socket.create_connection(self.target, timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        if not self._track(client, upstream):
            client.close()
            upstream.close()
            return
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        self._pump(client, upstream, True)

    def _pump(self, source: socket.socket, sink: socket.socket, towards_s3: bool) -> None:
        try:
            while data := source.recv(256 * 1024):
                sink.sendall(data)
                with self._lock:
                    if towards_s3:
                        self.sent += len(data)
                    else:
                        self.received += len(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()


class Gate:
    """Holds one PATCH inside an app server, half way through reading its body, until the
    test releases it (or kills the server). See ``tests/multiserver/wsgi.py`` for the server
    side: a server claims an armed gate by renaming its file, so exactly one request is held
    per :meth:`arm`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._count = 0

    def arm(self, server: str = "any", min_offset: int = 0) -> None:
        """Hold the next PATCH at ``min_offset`` or later that ``server`` (or any) takes."""
        self._count += 1
        path = self.directory / f"arm-{self._count}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"server": server, "min_offset": min_offset}))
        temporary.rename(path)

    def held(self) -> list[str]:
        """The servers holding a request now, one entry per request."""
        return sorted(p.read_text() for p in self.directory.glob("held-*"))

    def wait_held(self, count: int = 1, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(held := self.held()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(held)} of {count} requests held after {timeout} s")
            time.sleep(0.02)
        return held

    def release(self, timeout: float = 30) -> None:
        """Let the held requests go on, and wait until every one has."""
        (self.directory / "release").touch()
        deadline = time.monotonic() + timeout
        while self.held():
            if time.monotonic() > deadline:
                raise AssertionError(f"requests still held after {timeout} s: {self.held()}")
            time.sleep(0.02)
        (self.directory / "release").unlink()

    def reset(self) -> None:
        for path in self.directory.iterdir():
            path.unlink()
