"""``latest.md`` of ``compare.py``: the medians, the ratios, the goals and every round."""

from __future__ import annotations

from typing import Any

from compare_report import PHASES, Metric, machine_line, ratio

Result = dict[str, Any]


def number(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 1 else f"{value:.2f}"


def signed(value: float | None) -> str:
    return "—" if value is None else ("+" if value >= 0 else "−") + number(abs(value))


def measured(goal: Result) -> str:
    if goal["measured"] is None:
        return "—"
    return number(goal["measured"]) + ("×" if goal["unit"] == "×" else f" {goal['unit']}")


def rounds(count: int) -> str:
    return f"the median of {count} rounds" if count > 1 else "1 round"


def times(value: float | None) -> str:
    return "—" if value is None else f"{number(value)}×"


def table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> list[str]:
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def markdown(report: Result, metric_list: list[Metric]) -> str:
    config, medians, labels = report["config"], report["medians"], report["targets"]
    keys = list(labels)
    others = [key for key in ("incumbent", "limit") if key in keys and "ours" in keys]
    header = [""] + [labels[key] for key in keys] + [f"ours vs {key}" for key in others]
    rows = []
    for metric in metric_list:
        row = [f"{metric.label}, {metric.unit}"]
        row += [number(medians[key][metric.key]) for key in keys]
        row += [
            times(
                ratio(
                    medians["ours"][metric.key], medians[key][metric.key], metric.higher_is_better
                )
            )
            for key in others
        ]
        rows.append(row)
    rows.append(
        ["idle RSS (largest worker), MiB"]
        + [number(medians[key]["idle_rss_mib"]) for key in keys]
        + [""] * len(others)
    )
    for phase in PHASES:
        cells = [
            f"{number(medians[key][f'peak_rss_mib.{phase}'])} "
            f"({signed(medians[key][f'growth_mib.{phase}'])})"
            if medians[key][f"peak_rss_mib.{phase}"] is not None
            else "—"
            for key in keys
        ]
        rows.append([f"peak RSS in {phase} (above idle), MiB"] + cells + [""] * len(others))

    lines = [
        "# FilePond servers side by side",
        "",
        f"Machine: {machine_line(report['machine'])}.",
        "",
        f"Every target under gunicorn `{config['gunicorn']}` on loopback, one at a time, the "
        f"same client; {rounds(config['rounds'])}, the targets interleaved "
        f"({', '.join(keys)}, {keys[0]}, ...). Ratios say how many times better ours is "
        "(above 1×: ours is better): speed over speed, the other's time over ours. Peak RSS is "
        "the highest `VmHWM` of any worker in the phase; in brackets, its rise over that "
        "worker's RSS after the warm-up.",
        "",
        *table(header, rows),
        "",
        "## Goals",
        "",
        *table(
            ["goal", "measured", "met"],
            [
                [
                    goal["goal"],
                    measured(goal),
                    {True: "yes", False: "**no**", None: "—"}[goal["met"]],
                ]
                for goal in report["goals"]
            ],
        ),
        "",
        "## Rounds",
        "",
    ]
    round_header = [
        "round",
        "target",
        "process uploads/s",
        "upload MB/s",
        "restore MB/s",
        "store ms",
        "load MB/s",
        "largest rise over idle, MiB",
    ]
    round_rows = []
    for run in report["runs"]:
        if run["failure"]:
            round_rows.append(
                [str(run["round"]), run["target"], f"failed: {run['failure']}"] + [""] * 5
            )
            continue
        phases = run["phases"]
        round_rows.append(
            [
                str(run["round"]),
                run["target"],
                number(phases["process"]["uploads_per_s"]),
                number(phases["upload"]["mb_per_s"]),
                number(phases["restore"]["mb_per_s"]),
                number(phases["store"]["seconds"] * 1000),
                number(phases["load"]["mb_per_s"]),
                number(max(phase["growth"] for phase in phases.values()) / 2**20),
            ]
        )
    lines += table(round_header, round_rows, numeric_from=2)
    return "\n".join(lines) + "\n"
