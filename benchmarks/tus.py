"""A 1 GiB upload through tus (tus-js-client in Node) against the same file through FilePond's
chunked PATCH protocol, against a real gunicorn with one sync worker.

Run from the repository root, after ``npm ci`` in ``demo/``::

    python benchmarks/tus.py [--size-mb 1024] [--chunk-mb 5] [--rounds 3] [--port 8123]

Each round uploads the same random file once per protocol, in alternating order (rounds are
interleaved, so a change of machine load falls on both), checks the server's copy by its
sha256 through ``restore``, and removes it with a revert. For each protocol it prints the
median and range of the throughput (MB/s, the upload alone) and of the gunicorn worker's peak
RSS (``VmHWM``, reset before each upload; see ``core.py``). The FilePond client is ``core.py``'s
(Python, ``http.client``); both send chunks of the same size. The exit status is non-zero only
when a protocol or checksum check fails.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from core import (
    MB,
    REPO_ROOT,
    BrowserConnection,
    CheckFailed,
    MiB,
    Worker,
    download_sha256,
    expect_status,
    running_server,
    send,
    upload,
    work_directory,
    write_random_file,
)

NODE_MODULES = os.path.join(REPO_ROOT, "demo", "node_modules")
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tus_upload.cjs")
TUS = {"Tus-Resumable": "1.0.0"}


def session_cookie(conn: BrowserConnection) -> str:
    """A session of the visitor: tus-js-client in Node keeps no cookies, so it is handed the
    one this connection got, as a browser would send it."""
    response = send(conn, "POST", "/fp/tus/", headers={**TUS, "Upload-Length": "1"})
    location = response.getheader("Location")
    expect_status(response, "session POST", 201)
    expect_status(send(conn, "DELETE", location, headers=TUS), "session DELETE", 204)
    return "; ".join(f"{name}={morsel.coded_value}" for name, morsel in conn.cookies.items())


def tus_upload(port: int, path: str, chunk_size: int, cookie: str) -> tuple[str, float]:
    result = subprocess.run(
        [
            shutil.which("node") or "node",
            SCRIPT,
            f"http://127.0.0.1:{port}/fp/tus/",
            path,
            str(chunk_size),
            cookie,
        ],
        env={**os.environ, "NODE_PATH": NODE_MODULES},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise CheckFailed(result.stderr.strip())
    outcome = json.loads(result.stdout)
    return str(outcome["url"]).rsplit("/", 1)[1], float(outcome["seconds"])


def filepond_upload(
    conn: BrowserConnection, path: str, size: int, chunk_size: int
) -> tuple[str, float]:
    started = time.perf_counter()
    upload_id = upload(conn, path, size, chunk_size)
    return upload_id, time.perf_counter() - started


def check_and_revert(conn: BrowserConnection, upload_id: str, expected: str) -> None:
    restored = download_sha256(conn, f"/fp/?restore={upload_id}", "restore")
    if restored != expected:
        raise CheckFailed(f"restore: sha256 {restored} differs from the file's {expected}")
    response = send(conn, "DELETE", "/fp/", body=upload_id.encode())
    expect_status(response, "revert", 204)


def describe(values: list[float], unit: str, digits: int = 1) -> str:
    return (
        f"median {statistics.median(values):.{digits}f} {unit} "
        f"(range {min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB")
    parser.add_argument("--chunk-mb", type=float, default=5, help="chunk size in MB (10^6)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(NODE_MODULES, "tus-js-client")):
        print("tus-js-client is missing: run 'npm ci' in demo/ first", file=sys.stderr)
        return 2
    size = args.size_mb * MiB
    chunk_size = int(args.chunk_mb * MB)
    with open("/proc/loadavg") as f:
        print(f"load average before: {' '.join(f.read().split()[:3])}")
    results: dict[str, list[tuple[float, int]]] = {"tus": [], "filepond": []}
    with work_directory() as work_dir, running_server(work_dir, args.port) as server:
        path = os.path.join(work_dir, "source.bin")
        expected = write_random_file(path, size)
        print(f"{args.size_mb} MiB file, {chunk_size:,}-byte chunks, {args.rounds} rounds")
        conn = BrowserConnection(server.port)
        cookie = session_cookie(conn)
        worker: Worker = server.worker()
        try:
            for number in range(args.rounds):
                order = ["tus", "filepond"] if number % 2 == 0 else ["filepond", "tus"]
                for protocol in order:
                    worker.reset_peak()
                    if protocol == "tus":
                        upload_id, seconds = tus_upload(server.port, path, chunk_size, cookie)
                    else:
                        upload_id, seconds = filepond_upload(conn, path, size, chunk_size)
                    peak = worker.peak_rss()
                    check_and_revert(conn, upload_id, expected)
                    results[protocol].append((size / MB / seconds, peak))
                    print(
                        f"  round {number + 1} {protocol:<8} {size / MB / seconds:7.1f} MB/s   "
                        f"peak RSS {peak / MiB:6.1f} MiB",
                        flush=True,
                    )
        except (CheckFailed, http.client.HTTPException, OSError) as exc:
            print(f"FAILED {type(exc).__name__}: {exc}")
            return 1
        finally:
            conn.close()
        idle = worker.rss()
    with open("/proc/loadavg") as f:
        print(f"load average after: {' '.join(f.read().split()[:3])}")
    print(f"worker RSS after the runs {idle / MiB:.1f} MiB")
    for protocol, runs in results.items():
        rates = [rate for rate, _peak in runs]
        peaks = [peak / MiB for _rate, peak in runs]
        print(f"{protocol:<8} {describe(rates, 'MB/s')}; peak RSS {describe(peaks, 'MiB')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
