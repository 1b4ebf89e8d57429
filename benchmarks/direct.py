"""Direct uploads against uploads through the app: time, and the app worker's CPU per GiB.

Run from the repository root::

    python benchmarks/direct.py [--size-mib 1024] [--parallel 4] [--part-mib 8] [--chunk-mb 5]

moto's S3 server runs in a process of its own on 127.0.0.1 and holds the temporary area
(``FILEPOND_SERVER_TEMP_STORAGE``); gunicorn (one sync worker, as in ``core.py``) serves the
app. One random file is uploaded three ways, each timed from the first request to the
answer that makes it a complete temporary upload, and read back through ``restore`` to
check its sha256 (not timed):

- ``direct``: begin, the parts PUT straight to S3 by ``--parallel`` connections at once,
  part URLs asked for in batches, complete (the app lists and joins the parts in S3, sniffs
  the first bytes and records the upload);
- ``app, S3 area``: FilePond's chunked protocol through the app (``core.py``'s client:
  sequential PATCHes of ``--chunk-mb``), each chunk saved by the app as an object in S3;
- ``app, local area``: the same into the app's local directory (the default setup).

For each it prints the seconds, MB/s, and the CPU seconds (user + system, from
``/proc/<pid>/stat``) of the gunicorn worker and of moto during the upload, per GiB. The
machine's load average is printed before and after: the figures are for people to read,
never pass/fail.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from core import (
    MB,
    REPO_ROOT,
    BrowserConnection,
    CheckFailed,
    MiB,
    Server,
    child_pids,
    download_sha256,
    exit_on_sigterm,
    expect_status,
    file_pieces,
    free_port,
    log_tail,
    running_server,
    send,
    upload,
    warm_up,
    work_directory,
    write_random_file,
)

GiB = 1024 * MiB
TICKS = os.sysconf("SC_CLK_TCK")
LOCATION = "filepond-bench-tmp"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Moto:
    """moto's S3 server in a process of its own, with one bucket."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", self.port, timeout=1).connect()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port)
        conn.request("PUT", "/bench")
        expect_status(conn.getresponse(), "create the bucket", 200)
        conn.close()

    def storages(self) -> dict[str, Any]:
        options = {
            "bucket_name": "bench",
            "endpoint_url": self.endpoint,
            "access_key": "bench",
            "secret_key": "bench",
            "region_name": "us-east-1",
            "location": LOCATION,
            "addressing_style": "path",
        }
        return {"bench-tmp": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def call(conn: BrowserConnection, path: str, body: Any, what: str) -> bytes:
    response = send(
        conn, "POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    return expect_status(response, what, 200, 204)


def put_part(url: str, path: str, offset: int, length: int) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=900)
    try:
        with open(path, "rb") as f:
            conn.request(
                "PUT",
                f"{parts.path}?{parts.query}",
                body=file_pieces(f, offset, length),
                headers={"Content-Length": str(length)},
            )
            expect_status(conn.getresponse(), f"PUT of the part at {offset}", 200)
    finally:
        conn.close()


def direct_upload(
    conn: BrowserConnection, path: str, size: int, parallel: int, report: bool = False
) -> str:
    """What direct.js does: begin, parts at once, complete; returns the upload id."""
    started = time.perf_counter()
    begun = json.loads(
        call(conn, "/fp/direct/", {"name": "bench.bin", "size": size, "type": ""}, "begin")
    )
    if "post" in begun:
        raise CheckFailed("the file is small enough for one POST; use a larger --size-mib")
    urls = dict(begun["urls"])
    wanted = [n for n in range(1, begun["parts"] + 1) if str(n) not in urls]
    for start in range(0, len(wanted), 16):
        body = {"key": begun["key"], "parts": wanted[start : start + 16]}
        urls.update(json.loads(call(conn, "/fp/direct/parts/", body, "parts"))["urls"])
    part_size = begun["partSize"]
    with ThreadPoolExecutor(parallel) as pool:
        jobs = [
            pool.submit(
                put_part,
                urls[str(n)],
                path,
                (n - 1) * part_size,
                min(part_size, size - (n - 1) * part_size),
            )
            for n in range(1, begun["parts"] + 1)
        ]
        for job in jobs:
            job.result()
    sent = time.perf_counter()
    upload_id = call(conn, "/fp/direct/complete/", {"key": begun["key"]}, "complete").decode()
    if report:
        print(
            f"    direct: begin and {begun['parts']} parts {sent - started:.1f} s, "
            f"complete {time.perf_counter() - sent:.1f} s",
            flush=True,
        )
    return upload_id


def measure(
    name: str, server: Server, moto: Moto, size: int, expected: str, send_file: Any
) -> dict[str, Any]:
    conn = BrowserConnection(server.port)
    # A first, small upload the same way: imports, the S3 client and its connections are in
    # place before anything is measured.
    warm = send_file(conn, small=True)
    send(conn, "DELETE", "/fp/", warm.encode(), {"Content-Type": "text/plain"}).read()
    workers = child_pids(server.process.pid)  # type: ignore[union-attr]
    before = sum(cpu_seconds(pid) for pid in workers), cpu_seconds(moto.process.pid)
    started = time.perf_counter()
    upload_id = send_file(conn)
    seconds = time.perf_counter() - started
    after = sum(cpu_seconds(pid) for pid in workers), cpu_seconds(moto.process.pid)
    restored = download_sha256(conn, f"/fp/?restore={upload_id}", "restore")
    if restored != expected:
        raise CheckFailed(f"{name}: restored sha256 {restored} is not the file's {expected}")
    send(conn, "DELETE", "/fp/", upload_id.encode(), {"Content-Type": "text/plain"}).read()
    conn.close()
    gib = size / GiB
    result = {
        "mode": name,
        "seconds": seconds,
        "mb_per_s": size / MB / seconds,
        "app_cpu_per_gib": (after[0] - before[0]) / gib,
        "s3_cpu_per_gib": (after[1] - before[1]) / gib,
    }
    print(
        f"  {name:<16} {seconds:8.1f} s {result['mb_per_s']:8.1f} MB/s   app worker "
        f"{result['app_cpu_per_gib']:6.2f} CPU s/GiB   moto {result['s3_cpu_per_gib']:6.2f} "
        "CPU s/GiB",
        flush=True,
    )
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (default 1024)")
    parser.add_argument("--parallel", type=int, default=4, help="parts at once (default 4)")
    parser.add_argument("--part-mib", type=int, default=8, help="part size (default 8)")
    parser.add_argument(
        "--chunk-mb", type=float, default=5, help="PATCH chunk size, MB (default 5)"
    )
    args = parser.parse_args(argv)
    if args.part_mib < 5 or args.size_mib <= args.part_mib:
        parser.error("--part-mib must be at least 5 and --size-mib larger than it")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    size, chunk = args.size_mib * MiB, int(args.chunk_mb * MB)
    print(f"load average before: {load_average()}", flush=True)
    moto = Moto()
    results = []
    try:
        with work_directory() as work_dir:
            path = os.path.join(work_dir, "source.bin")
            expected = write_random_file(path, size)
            print(f"{args.size_mib} MiB file, sha256 {expected[:16]}...", flush=True)
            for name, area in (("direct", "s3"), ("app, S3 area", "s3"), ("app, local area", "")):
                env = {
                    "FILEPOND_BENCH_STORAGES_JSON": json.dumps(moto.storages()),
                    "FILEPOND_BENCH_MAX_UPLOAD_SIZE": str(4 * size),
                    "FILEPOND_BENCH_DIRECT_PART_SIZE": str(args.part_mib * MiB),
                }
                if area:
                    env["FILEPOND_BENCH_TEMP_STORAGE"] = "bench-tmp"
                server_dir = os.path.join(work_dir, name.replace(", ", "-").replace(" ", "-"))
                os.mkdir(server_dir)
                with running_server(server_dir, 0, env) as server:
                    warm_up(server)

                    def sender(
                        conn: BrowserConnection, small: bool = False, mode: str = name
                    ) -> str:
                        length = args.part_mib * MiB + MiB if small else size
                        if mode == "direct":
                            return direct_upload(
                                conn, path, length, args.parallel, report=not small
                            )
                        return upload(conn, path, length, chunk)

                    try:
                        results.append(measure(name, server, moto, size, expected, sender))
                    except (CheckFailed, OSError, http.client.HTTPException) as exc:
                        print(f"  {name} FAILED: {exc}\n{log_tail(server.log_path)}")
                        return 1
    finally:
        moto.stop()
    print(f"load average after: {load_average()}")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    if REPO_ROOT not in sys.path:
        sys.path.insert(1, REPO_ROOT)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
