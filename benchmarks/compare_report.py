"""The figures of ``compare.py``: what is measured, medians over the rounds, ratios, the goals
and the machine they were measured on."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from typing import Any

from compare_targets import INCUMBENT, Target, package_versions
from core import REPO_ROOT, MiB

Result = dict[str, Any]
PHASES = ("process", "upload", "restore", "store", "load")
LARGE_PHASES = ("upload", "restore", "store", "load")


@dataclass(frozen=True)
class Metric:
    key: str
    #: For the table, and (``short``) for the chart.
    label: str
    short: str
    unit: str
    higher_is_better: bool
    phase: str
    figure: str
    scale: float = 1.0


def size_label(size_mb: int) -> str:
    return f"{size_mb} MiB" if size_mb % 1024 else f"{size_mb // 1024} GiB"


def metrics(args: argparse.Namespace) -> list[Metric]:
    size = size_label(args.size_mb)
    small = f"{args.small} × {args.small_kb} kB, {args.clients} clients"
    chunks = f"{args.chunk_mb:g} MB chunks"
    return [
        Metric(
            "process_rate",
            f"process ({small})",
            "process",
            "uploads/s",
            True,
            "process",
            "uploads_per_s",
        ),
        Metric(
            "process_p50", "process latency p50", "latency p50", "ms", False, "process", "p50_ms"
        ),
        Metric(
            "process_p95", "process latency p95", "latency p95", "ms", False, "process", "p95_ms"
        ),
        Metric(
            "upload",
            f"chunked upload of {size} ({chunks})",
            f"upload {size}",
            "MB/s",
            True,
            "upload",
            "mb_per_s",
        ),
        Metric("restore", f"restore of {size}", "restore", "MB/s", True, "restore", "mb_per_s"),
        Metric("store", f"store_upload of {size}", "store", "ms", False, "store", "seconds", 1000),
        Metric("load", f"load of {size}", "load", "MB/s", True, "load", "mb_per_s"),
    ]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def medians(runs: list[Result], target: str, args: argparse.Namespace) -> Result:
    """Median of every figure of ``target`` over its rounds that did not fail."""
    good = [run for run in runs if run["target"] == target and not run["failure"]]
    result: Result = {"rounds": len(good)}
    for metric in metrics(args):
        values = [run["phases"][metric.phase][metric.figure] * metric.scale for run in good]
        result[metric.key] = median(values)
    result["idle_rss_mib"] = median([run["idle_rss"] / MiB for run in good])
    for phase in PHASES:
        result[f"peak_rss_mib.{phase}"] = median(
            [run["phases"][phase]["peak_rss"] / MiB for run in good]
        )
        result[f"growth_mib.{phase}"] = median(
            [run["phases"][phase]["growth"] / MiB for run in good]
        )
    # The worst of the large-file phases in each round, then the median of those.
    result["growth_mib.large"] = median(
        [max(run["phases"][p]["growth"] for p in LARGE_PHASES) / MiB for run in good]
    )
    return result


def ratio(ours: float | None, other: float | None, higher_is_better: bool) -> float | None:
    """How many times better ours is than ``other`` (above 1: ours is better)."""
    if not ours or not other:
        return None
    return ours / other if higher_is_better else other / ours


def goals(summary: Result, args: argparse.Namespace) -> list[Result]:
    """The issue's goals, from the medians: what was asked, what was measured, met or not."""
    ours, incumbent, limit = (summary.get(key, {}) for key in ("ours", "incumbent", "limit"))
    size = size_label(args.size_mb)

    def goal(text: str, value: float | None, target: float, unit: str, below: bool) -> Result:
        met = None if value is None else (value <= target if below else value >= target)
        return {"goal": text, "measured": value, "target": target, "unit": unit, "met": met}

    def times(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    return [
        goal(
            "chunked upload ≥ 0.8 × the limit",
            times(ours.get("upload"), limit.get("upload")),
            0.8,
            "×",
            False,
        ),
        goal(
            "chunked upload ≥ 3 × the incumbent",
            times(ours.get("upload"), incumbent.get("upload")),
            3,
            "×",
            False,
        ),
        goal(
            f"peak RSS in the {size} phases within 32 MiB of idle (ours)",
            ours.get("growth_mib.large"),
            32,
            "MiB",
            True,
        ),
        goal(
            "process ≥ 1.5 × the incumbent's uploads/s",
            times(ours.get("process_rate"), incumbent.get("process_rate")),
            1.5,
            "×",
            False,
        ),
        goal(f"store_upload of {size} under 50 ms", ours.get("store"), 50, "ms", True),
    ]


def machine(targets: list[Target], work_dir: str) -> Result:
    """What the figures were measured on."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        ram = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    filesystem = "unknown"
    with open("/proc/mounts") as f:
        mounts = [line.split() for line in f]
    best = ""
    for _, mount_point, fs_type, *_ in mounts:
        if work_dir.startswith(mount_point.rstrip("/") + "/") and len(mount_point) >= len(best):
            best, filesystem = mount_point, fs_type
    commit = subprocess.run(
        ["git", "-C", REPO_ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    versions: Result = {}
    for target in targets:
        names = ("Django", "djangorestframework", "gunicorn")
        if target.key == "incumbent":
            names += (INCUMBENT,)
        versions[target.key] = package_versions(target.python, names)
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "ram_gib": round(ram / 1024**3, 1),
        "kernel": platform.release(),
        "filesystem": filesystem,
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def machine_line(description: Result) -> str:
    ours = description["versions"].get("ours") or next(iter(description["versions"].values()))
    return (
        f"{description['cpu']}, {description['logical_cpus']} logical CPUs, "
        f"{description['ram_gib']:g} GiB RAM, Linux {description['kernel']}, "
        f"{description['filesystem']}; Python {description['python']}, "
        f"Django {ours.get('Django', '?')}, DRF {ours.get('djangorestframework', '?')}, "
        f"gunicorn {ours.get('gunicorn', '?')}; {description['date']}, "
        f"commit {description['commit']}"
    )


def build_report(
    args: argparse.Namespace, targets: list[Target], runs: list[Result], work_dir: str
) -> Result:
    """Everything ``latest.json`` holds: machine, configuration, medians, goals, every round."""
    summary = {target.key: medians(runs, target.key, args) for target in targets}
    return {
        "machine": machine(targets, work_dir),
        "config": {
            "size_bytes": args.size,
            "chunk_bytes": args.chunk_size,
            "rounds": args.rounds,
            "small_uploads": args.small,
            "small_bytes": args.small_kb * 1000,
            "clients": args.clients,
            "gunicorn": f"--workers {args.workers} --worker-class sync",
            "order": [target.key for target in targets],
        },
        "targets": {target.key: target.label for target in targets},
        "metrics": [metric.__dict__ for metric in metrics(args)],
        "medians": summary,
        "goals": goals(summary, args),
        "runs": runs,
    }
