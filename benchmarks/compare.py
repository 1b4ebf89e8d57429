"""Our app, the incumbent (django-drf-filepond) and the limit of the machine, side by side.

Run from the repository root::

    python benchmarks/compare.py                                # 1 GiB, 3 rounds
    python benchmarks/compare.py --size-mb 64 --rounds 1 --small 60 --results /tmp/quick

Three targets are served by the same gunicorn (``--workers 2 --worker-class sync``, one
target at a time, on loopback) and measured by the same client:

- ours: this repository's app with ``bench_settings.py``/``bench_urls.py`` (the demo's shape:
  SQLite, local files; DEBUG off);
- the incumbent: django-drf-filepond 0.5.2, installed from PyPI with pip into a virtual
  environment of its own (same Django, DRF and gunicorn versions), serving the equivalent
  project in ``incumbent/``;
- the limit: ``limit_app.py``, a bare WSGI application that only streams bytes to and from
  files.

Each round runs every target in turn (ours, incumbent, limit, ours, ...), each on a fresh
server and directory: after a warm-up, 300 whole-file uploads of 10 kB from 4 concurrent
clients (``process``), then a chunked upload of one large file in 5 MB chunks, its
``restore``, ``store_upload`` (inside the server) and ``load``, with the peak RSS of every
gunicorn worker in each phase. Before each phase the dirty page cache is written out
(``sync``, untimed), so that no phase pays for another's writeback. Medians over the rounds go
to ``latest.md``, ``latest.json`` and ``latest.png`` under ``--results``. The exit status is
non-zero only when a server answers wrongly; the figures are for people to read.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Any

from compare_chart import write_chart
from compare_client import multipart_body
from compare_markdown import markdown
from compare_profile import summarise_directory
from compare_report import build_report, metrics
from compare_rounds import WARM_UP_SIZE, run_round
from compare_targets import incumbent_python, make_targets, py_spy_executable
from core import BENCH_DIR, MB, MiB, exit_on_sigterm, work_directory, write_random_file

#: Free disk the run needs, in multiples of the large file: the source, and the incumbent's
#: chunks next to the file it assembles from them, with some room to spare.
DISK_FACTOR = 4

Result = dict[str, Any]


def write_results(args: argparse.Namespace, report: Result) -> None:
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "latest.json"), "w") as f:
        json.dump(report, f, indent=2, ensure_ascii=False)
        f.write("\n")
    text = markdown(report, metrics(args))
    with open(os.path.join(args.results, "latest.md"), "w") as f:
        f.write(text)
    print(f"\n{text}", flush=True)
    write_chart(report, metrics(args), os.path.join(args.results, "latest.png"))
    print(f"written: latest.json, latest.md and latest.png in {args.results}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--size-mb", type=int, default=1024, help="large file size in MiB (default: 1024)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds; each runs every target once (default: 3)"
    )
    parser.add_argument(
        "--small",
        type=int,
        default=300,
        help="whole-file uploads in the process phase (default: 300)",
    )
    parser.add_argument(
        "--small-kb", type=int, default=10, help="size of each, in kB of 1,000 bytes (default: 10)"
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=4,
        help="concurrent clients of the process phase (default: 4)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn sync workers of every target (default: 2)"
    )
    parser.add_argument(
        "--chunk-mb",
        type=float,
        default=5,
        help="PATCH chunk size in MB (default: 5, FilePond's chunkSize)",
    )
    parser.add_argument(
        "--targets",
        default="ours,incumbent,limit",
        help="comma-separated subset of ours,incumbent,limit, in round order",
    )
    parser.add_argument(
        "--results",
        default=os.path.join(BENCH_DIR, "results"),
        help="directory of latest.md/.json/.png (default: benchmarks/results)",
    )
    parser.add_argument(
        "--incumbent-venv",
        default=None,
        help="keep the incumbent's virtual environment here and reuse it "
        "(default: one in the work directory, removed at the end)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        metavar="DIR",
        help="record every worker with py-spy during each phase into DIR "
        "(slows the servers: for finding where time goes, not for figures)",
    )
    args = parser.parse_args(argv)
    for name in ("size_mb", "rounds", "small", "small_kb", "clients", "workers"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    args.size = args.size_mb * MiB
    args.chunk_size = int(args.chunk_mb * MB)
    if args.chunk_size <= 0:
        parser.error("--chunk-mb must be positive")
    args.targets = [key for key in args.targets.split(",") if key]
    if not args.targets or not set(args.targets) <= {"ours", "incumbent", "limit"}:
        parser.error("--targets takes names among ours, incumbent and limit")
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if importlib.util.find_spec("matplotlib") is None:
        print("compare.py draws its chart with matplotlib: pip install matplotlib", file=sys.stderr)
        return 2
    if args.profile and py_spy_executable() is None:
        print("--profile needs py-spy: pip install py-spy", file=sys.stderr)
        return 2
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < DISK_FACTOR * args.size:
        print(
            f"{tempfile.gettempdir()} has {free / MiB:,.0f} MiB free; this run needs "
            f"{DISK_FACTOR * args.size / MiB:,.0f} MiB",
            file=sys.stderr,
        )
        return 2
    with work_directory() as work_dir:
        python = sys.executable
        if "incumbent" in args.targets:
            venv = args.incumbent_venv or os.path.join(work_dir, "incumbent-venv")
            try:
                python = incumbent_python(venv)
            except (subprocess.CalledProcessError, RuntimeError) as exc:
                print(
                    f"could not make the incumbent's environment ({exc}); "
                    "--targets ours,limit leaves it out",
                    file=sys.stderr,
                )
                return 2
        targets = [t for t in make_targets(python) if t.key in args.targets]
        targets.sort(key=lambda t: args.targets.index(t.key))
        files: Result = {
            "source": os.path.join(work_dir, "source.bin"),
            "warm": os.path.join(work_dir, "warm.bin"),
            "small_body": multipart_body(args.small_kb * 1000),
        }
        write_random_file(files["source"], args.size)
        write_random_file(files["warm"], WARM_UP_SIZE)
        print(
            f"{len(targets)} targets, {args.rounds} rounds, {args.size_mb} MiB file, "
            f"{args.workers} sync workers each, work directory {work_dir}",
            flush=True,
        )
        runs = []
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}", flush=True)
            runs += [run_round(t, round_number, args, work_dir, files) for t in targets]
        write_results(args, build_report(args, targets, runs, work_dir))
        if args.profile:
            summary = summarise_directory(args.profile, os.listdir(args.profile))
            with open(os.path.join(args.profile, "summary.txt"), "w") as f:
                f.write(summary)
            print(f"profiles and their summary.txt in {args.profile}")
    return 1 if any(run["failure"] for run in runs) else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
