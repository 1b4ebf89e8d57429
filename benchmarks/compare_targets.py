"""The three servers of ``compare.py`` (our app, the incumbent, the limit) under one gunicorn.

Each target is gunicorn with the same options (``--workers N --worker-class sync``, a long
timeout) on its own loopback port; only the interpreter, the WSGI application and its
environment differ. The incumbent, django-drf-filepond, runs from a virtual environment that
:func:`incumbent_python` creates with pip, pinned to this interpreter's Django, Django REST
framework and gunicorn, so that only the app differs.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from core import (
    BENCH_DIR,
    SERVER_TIMEOUT,
    Worker,
    child_pids,
    free_port,
    server_env,
    stop_gunicorn,
    wait_for_gunicorn,
)

INCUMBENT = "django-drf-filepond"
INCUMBENT_VERSION = "0.5.2"
INCUMBENT_DIR = os.path.join(BENCH_DIR, "incumbent")
#: Packages the incumbent's environment shares with ours, pinned to the versions installed here.
SHARED_PACKAGES = ("Django", "djangorestframework", "gunicorn")


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    python: str
    #: gunicorn's APP_MODULE.
    app: str
    #: The environment variable that names the round's directory to the application.
    dir_variable: str
    migrates: bool
    #: Directories the application expects to exist in its round directory.
    subdirs: tuple[str, ...] = ()
    #: The server's whole PYTHONPATH (unused for ours, which takes core.py's environment).
    python_path: tuple[str, ...] = ()

    def environment(self, round_dir: str) -> dict[str, str]:
        if self.key == "ours":
            # core.py's own environment: bench_settings, the repository importable.
            return server_env(round_dir)
        env = dict(os.environ)
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env["PYTHONPATH"] = os.pathsep.join(self.python_path)
        env[self.dir_variable] = round_dir
        env["XDG_RUNTIME_DIR"] = round_dir  # gunicorn's control socket
        if self.key == "incumbent":
            env["DJANGO_SETTINGS_MODULE"] = "incumbent_settings"
        return env


def make_targets(incumbent_python: str) -> list[Target]:
    """Our app, the incumbent and the limit, in the order each round runs them."""
    django_app = "django.core.wsgi:get_wsgi_application()"
    return [
        Target("ours", "ours", sys.executable, django_app, "FILEPOND_BENCH_DIR", True),
        Target(
            "incumbent",
            f"{INCUMBENT} {INCUMBENT_VERSION}",
            incumbent_python,
            django_app,
            "INCUMBENT_BENCH_DIR",
            True,
            subdirs=("filepond_uploads", "stored"),
            python_path=(INCUMBENT_DIR,),
        ),
        Target(
            "limit",
            "limit (bare WSGI)",
            sys.executable,
            "limit_app:application",
            "LIMIT_BENCH_DIR",
            False,
            python_path=(BENCH_DIR,),
        ),
    ]


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def incumbent_python(venv_dir: str) -> str:
    """The interpreter of a virtual environment holding the incumbent, created if missing."""
    python = os.path.join(venv_dir, "bin", "python")
    if os.path.exists(python):
        probe = [python, "-c", f"import importlib.metadata as m; print(m.version({INCUMBENT!r}))"]
        found = subprocess.run(probe, capture_output=True, text=True).stdout.strip()
        if found == INCUMBENT_VERSION:
            return python
        raise RuntimeError(f"{venv_dir} holds {INCUMBENT} {found or 'nothing'}, not the pinned one")
    print(f"creating the incumbent's virtual environment in {venv_dir}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", venv_dir], check=True)
    requirements = [f"{INCUMBENT}=={INCUMBENT_VERSION}"]
    for name in SHARED_PACKAGES:
        version = installed_version(name)
        requirements.append(f"{name}=={version}" if version else name)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
        check=True,
    )
    return python


def package_versions(python: str, names: tuple[str, ...]) -> dict[str, str]:
    """Versions of ``names`` as installed for ``python`` (another environment's included)."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "def version(name):\n"
        "    try:\n"
        "        return m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        return None\n"
        "print(json.dumps({name: version(name) for name in sys.argv[1:]}))"
    )
    output = subprocess.run([python, "-c", code, *names], capture_output=True, text=True)
    return dict(json.loads(output.stdout)) if output.returncode == 0 else {}


@dataclass
class Gunicorn:
    """A gunicorn master serving one target from ``round_dir`` with ``workers`` sync workers."""

    target: Target
    round_dir: str
    workers: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> str:
        return os.path.join(self.round_dir, "gunicorn.log")

    def start(self) -> None:
        env = self.target.environment(self.round_dir)
        for name in self.target.subdirs:
            os.makedirs(os.path.join(self.round_dir, name), exist_ok=True)
        if self.target.migrates:
            subprocess.run(
                [self.target.python, "-m", "django", "migrate", "--verbosity", "0"],
                env=env,
                check=True,
            )
        command = [
            self.target.python,
            "-m",
            "gunicorn",
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--timeout",
            str(SERVER_TIMEOUT),
            "--log-level",
            "warning",
            self.target.app,
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until the port accepts connections and every worker process exists."""
        assert self.process is not None
        wait_for_gunicorn(self.process, self.port, self.log_path, self.workers, timeout)

    def worker_processes(self) -> list[Worker]:
        assert self.process is not None
        return [Worker(pid) for pid in sorted(child_pids(self.process.pid))]

    def stop(self) -> None:
        stop_gunicorn(self.process)


@contextlib.contextmanager
def serving(target: Target, round_dir: str, workers: int) -> Iterator[Gunicorn]:
    """A started :class:`Gunicorn` for one round of ``target``, stopped on the way out."""
    server = Gunicorn(target, round_dir, workers)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def py_spy_executable() -> str | None:
    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return shutil.which("py-spy") or (beside if os.path.exists(beside) else None)


@contextlib.contextmanager
def py_spy(pids: list[int], output_prefix: str) -> Iterator[None]:
    """Sample the stacks of ``pids`` with py-spy while the body runs, one collapsed-stack file
    (``<output_prefix>-<pid>.txt``, flamegraph.pl's input format) per process."""
    executable = py_spy_executable()
    assert executable is not None
    recorders = [
        subprocess.Popen(
            [
                executable,
                "record",
                "--pid",
                str(pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--nonblocking",
                "--idle",
                "--output",
                f"{output_prefix}-{pid}.txt",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]
    time.sleep(0.5)  # py-spy attaches before the phase starts
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for recorder in recorders:
            try:
                recorder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                recorder.kill()
                recorder.wait()
