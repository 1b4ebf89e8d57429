"""One round of one target in ``compare.py``: a fresh server, a warm-up, then the phases, each
timed and with the peak RSS of every gunicorn worker."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from compare_client import (
    download_equals,
    process,
    small_uploads,
    store,
    upload_chunked,
)
from compare_targets import Gunicorn, Target, py_spy, serving
from core import MB, BrowserConnection, CheckFailed, MiB, log_tail

#: The size of the file every client uploads, restores and loads during the warm-up.
WARM_UP_SIZE = MiB

Result = dict[str, Any]


@contextlib.contextmanager
def measured(
    result: Result,
    name: str,
    server: Gunicorn,
    transferred: int | None,
    profile_dir: str | None,
) -> Iterator[Result]:
    """Time the body and record every worker's peak RSS (``VmHWM``, reset first) during it.

    The body may add figures to the dict it is given. ``growth`` is the largest rise of one
    worker's peak over its RSS after the warm-up. Dirty pages are written out first (untimed),
    so that no phase pays for the writeback of what an earlier one wrote.
    """
    os.sync()
    workers = server.worker_processes()
    for worker in workers:
        worker.reset_peak()
    figures: Result = {}
    profiling: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if profile_dir:
        prefix = os.path.join(profile_dir, f"{server.target.key}-r{result['round']}-{name}")
        profiling = py_spy([worker.pid for worker in workers], prefix)
    with profiling:
        began = time.perf_counter()
        yield figures
        seconds = time.perf_counter() - began
    peaks = {worker.pid: worker.peak_rss() for worker in workers}
    idle = result["idle_rss_by_pid"]
    figures["seconds"] = seconds
    figures["peak_rss"] = max(peaks.values())
    figures["peak_rss_by_worker"] = [peaks[pid] for pid in sorted(peaks)]
    figures["growth"] = max(peak - idle.get(pid, peak) for pid, peak in peaks.items())
    if transferred is not None:
        figures["mb_per_s"] = transferred / MB / seconds
    result["phases"][name] = figures
    print(
        f"  {server.target.key:<9} {name:<8} {describe(figures):<52} "
        f"peak RSS {figures['peak_rss'] / MiB:7.1f} MiB ({figures['growth'] / MiB:+.1f})",
        flush=True,
    )


def describe(figures: Result) -> str:
    if "uploads_per_s" in figures:
        return (
            f"{figures['uploads_per_s']:8.1f} uploads/s, p50 {figures['p50_ms']:.1f} ms, "
            f"p95 {figures['p95_ms']:.1f} ms"
        )
    if "mb_per_s" in figures:
        return f"{figures['mb_per_s']:8.1f} MB/s ({figures['seconds']:.2f} s)"
    return f"{figures['seconds'] * 1000:8.1f} ms"


def in_threads(count: int, work: Callable[[], None]) -> None:
    """Run ``work`` in ``count`` threads at once; raise the first failure."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def warm_up(server: Gunicorn, path: str, chunk_size: int, small_body: bytes) -> None:
    """Every request of the benchmark, from twice as many clients as workers at once, so that
    each worker has imported and run every path before its idle RSS is read."""

    def one_client() -> None:
        conn = BrowserConnection(server.port)
        try:
            process(conn, small_body)
            upload_id = upload_chunked(conn, path, WARM_UP_SIZE, chunk_size)
            download_equals(conn, f"/fp/restore/?id={upload_id}", path, WARM_UP_SIZE, "restore")
            stored_id = store(conn, upload_id)
            download_equals(conn, f"/fp/load/?id={stored_id}", path, WARM_UP_SIZE, "load")
        finally:
            conn.close()

    in_threads(2 * server.workers, one_client)


def run_round(
    target: Target, round_number: int, args: argparse.Namespace, work_dir: str, files: Result
) -> Result:
    """One round of one target on a fresh server and directory."""
    result: Result = {"target": target.key, "round": round_number, "phases": {}, "failure": None}
    round_dir = tempfile.mkdtemp(prefix=f"{target.key}-r{round_number}-", dir=work_dir)
    server: Gunicorn | None = None
    size = args.size
    try:
        with serving(target, round_dir, args.workers) as server:
            warm_up(server, files["warm"], args.chunk_size, files["small_body"])
            workers = server.worker_processes()
            result["idle_rss_by_pid"] = {worker.pid: worker.rss() for worker in workers}
            result["idle_rss"] = max(result["idle_rss_by_pid"].values())
            with measured(result, "process", server, None, args.profile) as figures:
                run = small_uploads(server.port, args.small, args.clients, files["small_body"])
                figures["uploads_per_s"] = run.uploads_per_second()
                figures["p50_ms"] = run.percentile(0.50) * 1000
                figures["p95_ms"] = run.percentile(0.95) * 1000
            conn = BrowserConnection(server.port)
            try:
                with measured(result, "upload", server, size, args.profile):
                    upload_id = upload_chunked(conn, files["source"], size, args.chunk_size)
                with measured(result, "restore", server, size, args.profile):
                    url = f"/fp/restore/?id={upload_id}"
                    download_equals(conn, url, files["source"], size, "restore")
                with measured(result, "store", server, None, args.profile):
                    stored_id = store(conn, upload_id)
                with measured(result, "load", server, size, args.profile):
                    url = f"/fp/load/?id={stored_id}"
                    download_equals(conn, url, files["source"], size, "load")
            finally:
                conn.close()
    except (CheckFailed, http.client.HTTPException, OSError, RuntimeError) as exc:
        result["failure"] = f"{type(exc).__name__}: {exc}"
        print(f"  {target.key:<9} FAILED {result['failure']}", flush=True)
        if server is not None and os.path.exists(server.log_path):
            print(f"  server log (last lines):\n{log_tail(server.log_path)}", flush=True)
    except subprocess.CalledProcessError as exc:
        result["failure"] = f"{exc.cmd[:4]} exited with {exc.returncode}"
        print(f"  {target.key:<9} FAILED {result['failure']}", flush=True)
    finally:
        shutil.rmtree(round_dir, ignore_errors=True)
    result.pop("idle_rss_by_pid", None)
    return result
