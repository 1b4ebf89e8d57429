"""The temporary area on S3 against the local one, through one app server and through three
behind nginx.

Run from the repository root (PostgreSQL at 127.0.0.1:5432 and Debian's nginx needed)::

    python benchmarks/scaleout.py [--size-mb 1024] [--rounds 3] [--database filepond_bench]
                                  [--profile]

Four set-ups serve the same app (``tests/multiserver``: gunicorn with one sync worker per
server, PostgreSQL, moto's S3 server in a process of its own): ``local`` (one server, the
temporary area in its directory), ``s3`` (one server, ``FILEPOND_SERVER_TEMP_STORAGE`` on S3),
``s3 lb`` (that server behind nginx, to show nginx's own cost) and ``s3 x3`` (three servers
behind nginx, round-robin). Every worker first takes a few small
uploads down every path, so that its idle RSS includes the storage clients. In each round,
interleaved, every set-up sends a random file with FilePond's chunked protocol (8 MiB chunks,
which let S3 copy the parts itself, and FilePond's default 5,000,000 bytes, which do not),
restores it, and stores it with ``store_upload`` into the same bucket, or with ``save_upload``
to the server's local disk.

Printed per phase: speed, the highest peak RSS above idle of the workers (``VmHWM``), the CPU
seconds of the workers and of moto, and for stores the bytes the app logs as passed through
it; then medians and ranges. Then one more server, whose S3 traffic goes through a counting
relay, measures the bytes on the wire during a same-bucket store. ``--profile`` samples moto
with py-spy during an upload and a store. The exit status is non-zero only when an answer or a
checksum is wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import (
    MB,
    REPO_ROOT,
    BrowserConnection,
    CheckFailed,
    MiB,
    Worker,
    download_sha256,
    exit_on_sigterm,
    expect_status,
    send,
    upload,
    work_directory,
    write_random_file,
)

if REPO_ROOT not in sys.path:
    sys.path.insert(1, REPO_ROOT)
from tests.multiserver.cluster import (  # noqa: E402
    AppServer,
    FaultProxy,
    LoadBalancer,
    answers_http,
    free_port,
    start_all,
    stop_all,
)

BUCKET = "bench"
CHUNKS = {"8 MiB": 8 * MiB, "5 MB": 5 * MB}
#: Sent through every path before anything is measured: above two chunks of either size.
WARM_UP_SIZE = 17 * MiB
THROUGH_APP = re.compile(rb"; (\d+) bytes passed through the app")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Moto:
    """moto's S3 server in a process of its own, so that it can be measured and profiled."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        with open(directory / "moto.log", "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TMPDIR": str(directory)},  # large objects spill there
            )
        deadline = time.monotonic() + 30
        while not answers_http(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("moto did not start")
            time.sleep(0.1)
        self.client().create_bucket(Bucket=BUCKET)

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )

    def storage(self, location: str, endpoint: str | None = None) -> dict[str, Any]:
        options = {
            "bucket_name": BUCKET,
            "endpoint_url": endpoint or self.endpoint,
            "access_key": "bench",
            "secret_key": "bench",
            "region_name": "us-east-1",
            "location": location,
            "addressing_style": "path",
        }
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class SetUp:
    """One or three app servers (behind nginx), with their workers."""

    def __init__(
        self,
        name: str,
        directory: Path,
        config: dict[str, Any],
        count: int,
        size: int,
        balanced: bool,
    ) -> None:
        self.name = name
        slug = name.replace(" ", "")
        config = {**config, "log_level": "DEBUG", "max_upload_size": size + MiB}
        self.servers = [
            AppServer(f"{slug}{n}", directory / f"{slug}-{n}", config, workers=1)
            for n in range(count)
        ]
        self.balancer = (
            LoadBalancer(directory / f"{slug}-nginx", self.servers, max_body="16m")
            if balanced
            else None
        )

    def start(self) -> None:
        start_all(self.servers)
        if self.balancer is not None:
            self.balancer.start()
        self.workers = {s.name: Worker(s.worker_pids()[0]) for s in self.servers}

    def warm_up(self, moto: Moto, path: str, size: int, digest: str) -> None:
        """Every path once on every worker, so that imports, the storage clients and their
        connections are in place before the idle figure."""
        for server in self.servers:
            for chunk, to in ((8 * MiB, None), (5 * MB, None), (8 * MiB, "default")):
                conn = BrowserConnection(server.port)
                upload_id = upload(conn, path, size, chunk)
                if download_sha256(conn, f"/fp/?restore={upload_id}", "restore") != digest:
                    raise CheckFailed("warm-up restore")
                remove_stored(self, moto, store(conn, upload_id, to), to)
                conn.close()
        self.idle = {name: worker.rss() for name, worker in self.workers.items()}

    @property
    def port(self) -> int:
        return self.balancer.port if self.balancer is not None else self.servers[0].port

    def stop(self) -> None:
        if self.balancer is not None:
            self.balancer.stop()
        stop_all(self.servers)

    def log_size(self) -> dict[str, int]:
        return {s.name: s.output.stat().st_size for s in self.servers}

    def through_app(self, since: dict[str, int]) -> int | None:
        """The bytes the app logged as passed through it since ``since`` (log sizes)."""
        found = []
        for server in self.servers:
            with open(server.output, "rb") as f:
                f.seek(since[server.name])
                found += [int(n) for n in THROUGH_APP.findall(f.read())]
        return sum(found) if found else None


@dataclass
class Figure:
    seconds: float
    rate: float | None  # MB/s
    rss_above_idle: float  # MiB, the highest of the workers
    worker_cpu: float  # seconds, all workers
    moto_cpu: float  # seconds
    through_app: int | None = None  # bytes, from the app's log

    def __str__(self) -> str:
        speed = f"{self.rate:.0f} MB/s" if self.rate else f"{self.seconds:.2f} s"
        through = "" if self.through_app is None else f", {self.through_app:,} B through app"
        return f"{speed} ({self.rss_above_idle:+.1f} MiB{through})"


@contextlib.contextmanager
def measured(
    setup: SetUp, moto: Moto, size: int | None, phases: dict[str, Figure], phase: str
) -> Iterator[None]:
    """Time the block; record its figures as ``phases[phase]``."""
    for worker in setup.workers.values():
        worker.reset_peak()
    cpu = sum(cpu_seconds(w.pid) for w in setup.workers.values())
    moto_cpu = cpu_seconds(moto.process.pid)
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    phases[phase] = Figure(
        seconds,
        size / MB / seconds if size else None,
        max((w.peak_rss() - setup.idle[n]) / MiB for n, w in setup.workers.items()),
        sum(cpu_seconds(w.pid) for w in setup.workers.values()) - cpu,
        cpu_seconds(moto.process.pid) - moto_cpu,
    )


def store(conn: BrowserConnection, upload_id: str, to: str | None) -> str:
    url = "/store/" + (f"?to={to}" if to else "")
    response = send(
        conn, "POST", url, body=upload_id.encode(), headers={"Content-Type": "text/plain"}
    )
    return expect_status(response, "store", 200).decode()


def run(
    setup: SetUp, moto: Moto, path: str, size: int, digest: str, chunk: int, to: str | None
) -> dict[str, Figure]:
    """Upload, restore and store once; the figures of each phase."""
    phases: dict[str, Figure] = {}
    conn = BrowserConnection(setup.port)
    try:
        with measured(setup, moto, size, phases, "upload"):
            upload_id = upload(conn, path, size, chunk)
        with measured(setup, moto, size, phases, "restore"):
            restored = download_sha256(conn, f"/fp/?restore={upload_id}", "restore")
        if restored != digest:
            raise CheckFailed(f"restore: sha256 {restored}, expected {digest}")
        logs = setup.log_size()
        with measured(setup, moto, None, phases, "store"):
            saved = store(conn, upload_id, to)
        phases["store"].through_app = setup.through_app(logs)
    finally:
        conn.close()
    remove_stored(setup, moto, saved, to)
    return phases


def remove_stored(setup: SetUp, moto: Moto, saved: str, to: str | None) -> None:
    """Give the disk or memory back, after checking the stored copy's size."""
    if to:  # save_upload answered the name in the worker's media directory
        for server in setup.servers:
            stored = Path(server.config["media_root"]) / saved
            if stored.exists():
                stored.unlink()
                return
        raise CheckFailed(f"no server holds {saved!r}")
    client = moto.client()
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix="store/")
    for entry in listing.get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=entry["Key"])


@contextlib.contextmanager
def profiled(moto: Moto, out: Path, into: list[tuple[str, float]]) -> Iterator[None]:
    """Sample moto with py-spy while the block runs; ``into`` gets the share of samples per
    function at the top of the stack (where moto's time goes)."""
    spy = subprocess.Popen(
        [
            shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy"),
            "record",
            "--pid",
            str(moto.process.pid),
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its samples and exits
        spy.wait(60)
    counts: Counter[str] = Counter()
    for line in out.read_text().splitlines() if out.exists() else []:
        stack, _, count = line.rpartition(" ")
        counts[stack.split(";")[-1]] += int(count)
    total = sum(counts.values()) or 1
    into += [(frame, count / total) for frame, count in counts.most_common(8)]


# --- The runs and the summary -------------------------------------------------------------------

#: (set-up, chunk, where store puts the file): every run of a round, in this order.
MATRIX = [
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
Phases = dict[str, Figure]
Results = dict[tuple[str, str, str], list[Phases]]


def create_database(name: str) -> dict[str, Any]:
    import psycopg

    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": os.environ.get("PGUSER", "postgres"),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
    }
    with psycopg.connect(
        dbname="postgres",
        user=database["USER"],
        host=database["HOST"],
        port=database["PORT"],
        autocommit=True,
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return database


def median_range(values: list[float], fmt: str) -> str:
    text = format(statistics.median(values), fmt)
    if len(values) == 1:
        return text
    return f"{text} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def column(runs: list[Phases], phase: str, of: Callable[[Figure], float], fmt: str) -> str:
    return median_range([of(run[phase]) for run in runs], fmt)


def median(runs: list[Phases], phase: str, of: Callable[[Figure], float]) -> str:
    return f"{statistics.median(of(run[phase]) for run in runs):.0f}"


def summary(results: Results) -> None:
    rounds = len(next(iter(results.values())))
    print(f"\nmedian (range) of {rounds} rounds; CPU % is CPU seconds per second of the phase")
    print(
        f"{'set-up':<7}{'chunks':<7}{'store to':<9}{'upload MB/s':>16}{'restore MB/s':>18}"
        f"{'store s':>20}{'RSS +MiB':>10}{'CPU % upload':>14}{'moto % store':>14}"
        f"{'through app, B':>16}"
    )
    print(f"{'':<87}{'app/moto':>14}")
    for (name, chunk, to), runs in results.items():
        rss = max(figure.rss_above_idle for run in runs for figure in run.values())
        through = {run["store"].through_app for run in runs}
        cpu = (
            f"{median(runs, 'upload', lambda f: 100 * f.worker_cpu / f.seconds)}/"
            f"{median(runs, 'upload', lambda f: 100 * f.moto_cpu / f.seconds)}"
        )
        print(
            f"{name:<7}{chunk:<7}{to:<9}"
            f"{column(runs, 'upload', lambda f: f.rate or 0, '.0f'):>16}"
            f"{column(runs, 'restore', lambda f: f.rate or 0, '.0f'):>18}"
            f"{column(runs, 'store', lambda f: f.seconds, '.2f'):>20}{rss:>+10.1f}{cpu:>14}"
            f"{median(runs, 'store', lambda f: 100 * f.moto_cpu / f.seconds):>14}"
            f"{', '.join('-' if t is None else f'{t:,}' for t in through):>16}"
        )


def bytes_on_the_wire(root: Path, moto: Moto, base: dict[str, Any], size: int, path: str) -> None:
    """One more server whose S3 traffic goes through a counting relay: the bytes between the
    app and S3 during a same-bucket store, measured on the wire rather than taken from the
    app's own log."""
    relay = FaultProxy(("127.0.0.1", moto.port))
    relay.start()
    endpoint = f"http://127.0.0.1:{relay.port}"
    storages = {
        alias: moto.storage(place, endpoint) for alias, place in (("tmp", "tmp"), ("st", "store"))
    }
    config = {**base, "storages": storages, "temp_storage": "tmp", "store": "st"}
    setup = SetUp("relay", root, config, 1, size, balanced=False)
    setup.start()
    try:
        print()
        for chunk in CHUNKS.values():
            conn = BrowserConnection(setup.port)
            upload_id = upload(conn, path, size, chunk)
            sent, received = relay.sent, relay.received
            saved = store(conn, upload_id, None)
            conn.close()
            print(
                f"same-bucket store_upload after {chunk:,}-byte chunks: {relay.sent - sent:,} "
                f"bytes from the app to S3, {relay.received - received:,} back"
            )
            remove_stored(setup, moto, saved, None)
    finally:
        setup.stop()
        relay.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB (1024)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument(
        "--database",
        default=os.environ.get("PGDATABASE", "filepond_bench"),
        help="PostgreSQL database, created if missing (PGDATABASE, else filepond_bench)",
    )
    parser.add_argument("--profile", action="store_true", help="sample moto with py-spy")
    args = parser.parse_args(argv)
    size = args.size_mb * MiB
    with work_directory() as work:
        root = Path(work)
        moto = Moto(root)
        setups: dict[str, SetUp] = {}
        try:
            base = {"database": create_database(args.database)}
            stores = {"shared-store": moto.storage("store")}
            shared = {**stores, "shared-tmp": moto.storage("tmp")}
            local = {**base, "storages": stores, "temp_storage": None, "store": "shared-store"}
            on_s3 = {**local, "storages": shared, "temp_storage": "shared-tmp"}
            setups = {
                "local": SetUp("local", root, local, 1, size, balanced=False),
                "s3": SetUp("s3", root, on_s3, 1, size, balanced=False),
                "s3 lb": SetUp("s3 lb", root, on_s3, 1, size, balanced=True),
                "s3 x3": SetUp("s3 x3", root, on_s3, 3, size, balanced=True),
            }
            migrate = setups["local"].servers[0].manage("migrate", "--verbosity", "0")
            if migrate.returncode:
                raise RuntimeError(migrate.stderr)
            small = str(root / "small.bin")
            small_digest = write_random_file(small, WARM_UP_SIZE)
            for setup in setups.values():
                setup.start()
                setup.warm_up(moto, small, WARM_UP_SIZE, small_digest)
            path = str(root / "source.bin")
            digest = write_random_file(path, size)
            idle = ", ".join(
                f"{name} {rss / MiB:.0f}" for s in setups.values() for name, rss in s.idle.items()
            )
            print(f"{size:,} bytes; idle RSS of the workers, MiB: {idle}")
            print(f"load average at the start: {os.getloadavg()}", flush=True)
            results: Results = defaultdict(list)
            for number in range(1, args.rounds + 1):
                for name, chunk, to in MATRIX:
                    destination = "default" if to == "disk" else None
                    figures = run(
                        setups[name], moto, path, size, digest, CHUNKS[chunk], destination
                    )
                    results[(name, chunk, to)].append(figures)
                    print(
                        f"round {number} {name:<6} {chunk:<6} {to:<7}"
                        + "".join(f"  {phase} {f}" for phase, f in figures.items())
                        + f"  load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
            print(f"load average at the end: {os.getloadavg()}")
            summary(results)
            bytes_on_the_wire(root, moto, base, size, path)
            if args.profile:
                profile(setups["s3"], moto, root, size, path)
        finally:
            for setup in setups.values():
                setup.stop()
            moto.stop()
    return 0


def profile(setup: SetUp, moto: Moto, root: Path, size: int, path: str) -> None:
    """Where moto's time goes during an upload and a same-bucket store (8 MiB chunks)."""
    conn = BrowserConnection(setup.port)
    for phase in ("upload", "store"):
        top: list[tuple[str, float]] = []
        with profiled(moto, root / f"{phase}.txt", top):
            if phase == "upload":
                upload_id = upload(conn, path, size, 8 * MiB)
            else:
                remove_stored(setup, moto, store(conn, upload_id, None), None)
        print(f"\nmoto during the {phase}, share of py-spy's samples per innermost function:")
        for frame, share in top:
            print(f"  {share:6.1%}  {frame}")
    conn.close()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
