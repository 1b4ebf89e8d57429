"""Server memory while ``store_upload`` streams a large upload into a remote permanent store.

Run from the repository root::

    python benchmarks/remote_store.py [--size-mb 512] [--backends s3,sftp] [--port 8123]

For each backend a real storage server runs on 127.0.0.1 in (or under) this process, never in
the gunicorn worker: S3 is moto's server over HTTP, reached through django-storages'
``S3Storage`` with an ``endpoint_url``; SFTP is an OpenSSH ``sshd`` reached through
``SFTPStorage``. gunicorn (one sync worker) serves the app with that store as
``FILEPOND_SERVER_STORAGE``. A random file is uploaded with FilePond's chunked protocol, then
two phases are measured on the worker: ``store`` (``POST /store/``, ``store_upload`` into the
remote store) and ``load`` (``GET /fp/?load=<id>``, hashed as it streams in). Each prints its
speed, the worker's resident memory before it and its peak (``VmHWM``) during it. The stored
bytes are also read back from the storage server directly. The exit status is non-zero only
when a check fails (status, offset, checksum, stored object); the figures are for people to
read, never pass/fail.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core import (
    MB,
    READ_BLOCK,
    REPO_ROOT,
    UPLOAD_NAME,
    BrowserConnection,
    CheckFailed,
    MiB,
    Server,
    Worker,
    download_sha256,
    exit_on_sigterm,
    log_tail,
    running_server,
    store,
    upload,
    warm_up,
    work_directory,
    write_random_file,
)

# The storage servers of the test suite; the repository root is not on sys.path when this runs
# as ``python benchmarks/remote_store.py``.
if REPO_ROOT not in sys.path:
    sys.path.insert(1, REPO_ROOT)
from tests.remote_storage import S3Server, SFTPServer  # noqa: E402

ServerT = TypeVar("ServerT", S3Server, SFTPServer)

#: FilePond's default chunkSize, as in core.py.
CHUNK_SIZE = 5 * MB
#: Sent through the whole round trip before anything is measured, so that imports, the storage
#: client and its connection, and (for S3) the multipart upload machinery are in place: it is
#: above the 8 MiB multipart threshold.
WARM_UP_SIZE = 10 * MiB
#: ``store_upload(id, STORE_DIR)`` keeps the upload's name: the object is STORE_DIR + UPLOAD_NAME.
STORE_DIR = "bench/"
#: The S3 key prefix (django-storages' ``location``).
S3_LOCATION = "filepond-bench"
#: The bounded TransferConfig given to S3Storage for the ``s3`` backend: parts of 8 MiB, at
#: most two in memory waiting and one being read, two uploading at a time. s3transfer's own
#: estimate of its part buffers is (max_in_memory_upload_chunks + max_submission_concurrency)
#: * multipart_chunksize = 24 MiB here, against (10 + 5) * 8 = 120 MiB with the defaults.
S3_TRANSFER = {
    "multipart_threshold": 8 * MiB,
    "multipart_chunksize": 8 * MiB,
    "max_concurrency": 2,
    "max_submission_concurrency": 1,
    "max_in_memory_upload_chunks": 2,
}


# --- The remote stores -------------------------------------------------------------------------


class Target:
    """A storage server, the STORAGES entry that reaches it and a direct look at what it holds."""

    key: str
    label: str

    def settings_env(self) -> dict[str, str]:
        """Variables ``bench_settings.py`` turns into STORAGES["remote"] and the store alias."""
        return {
            "FILEPOND_BENCH_STORAGES_JSON": json.dumps({"remote": self.storage_config()}),
            "FILEPOND_BENCH_STORAGE_ALIAS": "remote",
        }

    def storage_config(self) -> dict[str, Any]:
        raise NotImplementedError

    def stored_digest(self, name: str) -> tuple[int, str]:
        """``(size, sha256)`` of the one stored file, ``name``, read from the server directly."""
        raise NotImplementedError

    def remove(self, name: str) -> None:
        """Delete ``name``, so the next run stores under the same name and disk or memory is
        given back."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


def start(cls: type[ServerT], clean_up: Callable[[ServerT], None]) -> ServerT:
    """``cls()``, and if that fails half way (Ctrl-C included), ``clean_up`` what it started."""
    server = cls.__new__(cls)
    try:
        server.__init__()  # type: ignore[misc]
    except BaseException:
        with contextlib.suppress(Exception):
            clean_up(server)
        raise
    return server


def clean_up_s3(server: S3Server) -> None:
    if getattr(server, "server", None) is not None:
        server.server.stop()


def clean_up_sftp(server: SFTPServer) -> None:
    process = getattr(server, "process", None)
    if process is not None:
        process.terminate()
        process.wait(10)
    if getattr(server, "dir", None):
        shutil.rmtree(server.dir, ignore_errors=True)


class S3Target(Target):
    """moto's S3 server (or the real S3 of ``FILEPOND_TEST_S3_ENDPOINT``, see tests)."""

    def __init__(self, key: str, transfer: dict[str, Any] | None) -> None:
        self.key = key
        self.transfer = transfer
        self.label = "S3" if transfer is not None else "S3 (default TransferConfig)"
        # moto's server is werkzeug's, which logs every request to stderr at INFO.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.server = start(S3Server, clean_up_s3)

    def storage_config(self) -> dict[str, Any]:
        return self.server.storage_options(location=S3_LOCATION)

    def settings_env(self) -> dict[str, str]:
        env = super().settings_env()
        if self.transfer is not None:
            env["FILEPOND_BENCH_S3_TRANSFER_JSON"] = json.dumps(self.transfer)
        return env

    def describe(self) -> str:
        where = "external" if self.server.external else "moto, in this process"
        transfer = (
            "django-storages' default TransferConfig"
            if self.transfer is None
            else "TransferConfig " + ", ".join(f"{k}={v}" for k, v in self.transfer.items())
        )
        return f"S3 at {self.server.endpoint} ({where}), bucket {self.server.bucket}; {transfer}"

    def stored_digest(self, name: str) -> tuple[int, str]:
        client = self.server.client()
        prefix = f"{S3_LOCATION}/"
        listing = client.list_objects_v2(Bucket=self.server.bucket, Prefix=prefix)
        keys = [obj["Key"] for obj in listing.get("Contents", [])]
        if keys != [prefix + name]:
            raise CheckFailed(f"S3 holds {keys} under {prefix}, expected [{prefix + name!r}]")
        body = client.get_object(Bucket=self.server.bucket, Key=prefix + name)["Body"]
        digest = hashlib.sha256()
        size = 0
        with contextlib.closing(body):
            for piece in body.iter_chunks(READ_BLOCK):
                digest.update(piece)
                size += len(piece)
        return size, digest.hexdigest()

    def remove(self, name: str) -> None:
        self.server.client().delete_object(Bucket=self.server.bucket, Key=f"{S3_LOCATION}/{name}")

    def stop(self) -> None:
        self.server.stop()


class SFTPTarget(Target):
    """An OpenSSH sshd on loopback whose files live under a temporary directory."""

    key = "sftp"
    label = "SFTP"

    def __init__(self) -> None:
        self.server = start(SFTPServer, clean_up_sftp)

    def storage_config(self) -> dict[str, Any]:
        return self.server.storage_options()

    def describe(self) -> str:
        return f"SFTP: OpenSSH sshd on 127.0.0.1:{self.server.port}, root {self.server.root}"

    def stored_digest(self, name: str) -> tuple[int, str]:
        found = sorted(
            os.path.relpath(os.path.join(directory, file), self.server.root)
            for directory, _, files in os.walk(self.server.root)
            for file in files
        )
        if found != [name]:
            raise CheckFailed(f"the sshd root holds {found}, expected [{name!r}]")
        digest = hashlib.sha256()
        size = 0
        with open(os.path.join(self.server.root, name), "rb") as f:
            while piece := f.read(READ_BLOCK):
                digest.update(piece)
                size += len(piece)
        return size, digest.hexdigest()

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(self.server.root, name))

    def stop(self) -> None:
        self.server.stop()


BACKENDS = {
    "s3": lambda: S3Target("s3", S3_TRANSFER),
    "s3-default": lambda: S3Target("s3-default", None),
    "sftp": SFTPTarget,
}


@contextlib.contextmanager
def running_target(key: str) -> Iterator[Target]:
    target = BACKENDS[key]()
    try:
        yield target
    finally:
        target.stop()


# --- Measuring ---------------------------------------------------------------------------------


@dataclass
class Source:
    """A random file on disk, written in 1 MiB blocks, with its sha256."""

    path: str
    size: int
    sha256: str

    @property
    def label(self) -> str:
        return f"{self.size // MiB} MiB" if self.size % MiB == 0 else f"{self.size:,} B"


@dataclass
class Phase:
    name: str
    source: Source
    idle_rss: int
    peak_rss: int
    seconds: float

    @property
    def added(self) -> int:
        return self.peak_rss - self.idle_rss

    def mb_per_second(self) -> float:
        return self.source.size / MB / self.seconds


@dataclass
class BackendRun:
    target_label: str
    phases: list[Phase] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@contextlib.contextmanager
def measured(
    run: BackendRun, worker: Worker, name: str, source: Source, quiet: bool
) -> Iterator[None]:
    """Time the body; record the worker's RSS before it and its peak during it."""
    idle = worker.rss()
    worker.reset_peak()
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    result = Phase(name, source, idle, worker.peak_rss(), seconds)
    if quiet:
        return
    run.phases.append(result)
    print(
        f"  {name:<6} {source.label:>9} {seconds:8.3f} s {result.mb_per_second():8.1f} MB/s   "
        f"idle RSS {idle / MiB:6.1f} MiB, peak {result.peak_rss / MiB:6.1f} MiB "
        f"(+{result.added / MiB:.1f})",
        flush=True,
    )


def round_trip(
    server: Server, worker: Worker, target: Target, run: BackendRun, source: Source, quiet: bool
) -> None:
    """Upload ``source``, store it into the remote store, load it back, check it there."""
    name = STORE_DIR + UPLOAD_NAME
    conn = BrowserConnection(server.port)
    try:
        started = time.perf_counter()
        upload_id = upload(conn, source.path, source.size, CHUNK_SIZE)
        seconds = time.perf_counter() - started
        if not quiet:
            print(
                f"  upload {source.label:>9} {seconds:8.3f} s "
                f"{source.size / MB / seconds:8.1f} MB/s   (into the local temporary area)",
                flush=True,
            )
        with measured(run, worker, "store", source, quiet):
            stored_id = store(conn, upload_id)
        with measured(run, worker, "load", source, quiet):
            loaded = download_sha256(conn, f"/fp/?load={stored_id}", "load")
        if loaded != source.sha256:
            raise CheckFailed(f"load: sha256 {loaded} differs from the file's {source.sha256}")
        size, stored = target.stored_digest(name)
        if size != source.size or stored != source.sha256:
            raise CheckFailed(
                f"{target.label} holds {size:,} bytes with sha256 {stored}, expected "
                f"{source.size:,} with {source.sha256}"
            )
    finally:
        conn.close()
        target.remove(name)


def run_backend(key: str, work_dir: str, sources: list[Source], port: int) -> BackendRun:
    with running_target(key) as target:
        run = BackendRun(target.label)
        print(target.describe(), flush=True)
        server_dir = os.path.join(work_dir, key)
        os.mkdir(server_dir)
        with running_server(server_dir, port, target.settings_env()) as server:
            worker = server.worker()
            what = "warm-up"
            try:
                warm_up(server)
                warm = sources[0]
                round_trip(server, worker, target, run, warm, quiet=True)
                print(
                    f"gunicorn worker pid {worker.pid} on 127.0.0.1:{server.port}, warmed up "
                    f"with a {warm.label} round trip, idle RSS {worker.rss() / MiB:.1f} MiB",
                    flush=True,
                )
                for source in sources[1:]:
                    what = source.label
                    round_trip(server, worker, target, run, source, quiet=False)
            except (CheckFailed, http.client.HTTPException, OSError) as exc:
                run.failures.append(f"{what}: {type(exc).__name__}: {exc}")
                print(f"  FAILED {run.failures[-1]}", flush=True)
                print(f"server log (last lines):\n{log_tail(server.log_path)}", flush=True)
        return run


def print_summary(runs: list[BackendRun], large: Source) -> None:
    print()
    print(
        f"{'backend':<28} {'phase':<6} {'size':>9} {'seconds':>8} {'MB/s':>8} "
        f"{'idle MiB':>9} {'peak MiB':>9} {'+MiB':>6}"
    )
    for run in runs:
        for result in run.phases:
            print(
                f"{run.target_label:<28} {result.name:<6} {result.source.label:>9} "
                f"{result.seconds:8.3f} {result.mb_per_second():8.1f} "
                f"{result.idle_rss / MiB:9.1f} {result.peak_rss / MiB:9.1f} "
                f"{result.added / MiB:6.1f}"
            )
        for failure in run.failures:
            print(f"{run.target_label:<28} FAILED: {failure}")
    for run in runs:
        stores = [p for p in run.phases if p.name == "store" and p.source is large]
        if stores:
            top = stores[0]
            print(
                f"peak RSS while storing {large.label} to {run.target_label}: "
                f"{top.peak_rss / MiB:.1f} MiB (idle {top.idle_rss / MiB:.1f}, "
                f"+{top.added / MiB:.1f})"
            )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=512, help="file size in MiB (default: 512)")
    parser.add_argument(
        "--compare-mb",
        type=int,
        default=16,
        help="a smaller file measured first, for comparison; 0 for none (default: 16)",
    )
    parser.add_argument(
        "--backends",
        default="s3,sftp",
        help=f"comma-separated, of {', '.join(BACKENDS)} (default: s3,sftp); s3-default is S3 "
        "with django-storages' default boto3 TransferConfig",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port for gunicorn (default: a free one)"
    )
    args = parser.parse_args(argv)
    if args.size_mb <= 0 or args.compare_mb < 0:
        parser.error("--size-mb must be positive and --compare-mb not negative")
    args.backends = [key for key in args.backends.split(",") if key]
    unknown = [key for key in args.backends if key not in BACKENDS]
    if unknown or not args.backends:
        parser.error(f"--backends takes {', '.join(BACKENDS)}, not {unknown or 'nothing'}")
    return args


def make_source(work_dir: str, size: int) -> Source:
    path = os.path.join(work_dir, f"source-{size}.bin")
    return Source(path, size, write_random_file(path, size))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with work_directory() as work_dir:
        sizes = [WARM_UP_SIZE] + ([args.compare_mb * MiB] if args.compare_mb else [])
        sources = [make_source(work_dir, size) for size in sizes]
        large = make_source(work_dir, args.size_mb * MiB)
        sources.append(large)
        print(f"file: {large.label} ({large.size:,} bytes, sha256 {large.sha256[:16]}...)")
        runs = []
        for key in args.backends:
            print()
            runs.append(run_backend(key, work_dir, sources, args.port))
        print_summary(runs, large)
        return 1 if any(run.failures for run in runs) else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
