"""``latest.png`` of ``compare.py``: the ratios as bars, and each target's memory per phase."""

from __future__ import annotations

from typing import Any

from compare_report import PHASES, Metric, machine_line, ratio, size_label

Result = dict[str, Any]
COLOURS = {"incumbent": "#d9822b", "limit": "#5b8def", "ours": "#3a9d5d"}


def write_chart(report: Result, metric_list: list[Metric], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    medians, labels = report["medians"], report["targets"]
    others = [key for key in ("incumbent", "limit") if key in labels and "ours" in labels]
    figure, (speed, memory) = plt.subplots(
        1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [3, 2]}
    )

    shown = metric_list
    width = 0.8 / max(1, len(others))
    for index, key in enumerate(others):
        values = [
            ratio(medians["ours"][m.key], medians[key][m.key], m.higher_is_better) for m in shown
        ]
        positions = [i + (index - (len(others) - 1) / 2) * width for i in range(len(shown))]
        bars = speed.bar(
            positions,
            [value or 0 for value in values],
            width,
            label=f"ours vs {labels[key]}",
            color=COLOURS[key],
        )
        for bar, value in zip(bars, values, strict=True):
            if value:
                speed.annotate(
                    f"{value:.2g}×" if value < 10 else f"{value:.0f}×",
                    (bar.get_x() + bar.get_width() / 2, value),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
    speed.axhline(1, color="black", linewidth=0.8)
    speed.set_yscale("log")
    speed.set_xticks(range(len(shown)))
    speed.set_xticklabels([f"{m.short}\n({m.unit})" for m in shown], fontsize=9)
    speed.set_ylabel("times better than the other (log scale; above 1: ours better)")
    speed.set_title("ours ÷ the others: speed over speed, the other's time over ours")
    speed.legend(fontsize=8)

    keys = list(labels)
    width = 0.8 / len(keys)
    for index, key in enumerate(keys):
        values = [medians[key][f"growth_mib.{phase}"] for phase in PHASES]
        positions = [i + (index - (len(keys) - 1) / 2) * width for i in range(len(PHASES))]
        bars = memory.bar(
            positions,
            [max(v or 0, 0) for v in values],
            width,
            label=labels[key],
            color=COLOURS[key],
        )
        for bar, value in zip(bars, values, strict=True):
            if value is not None:
                memory.annotate(
                    f"{value:.0f}" if value >= 0.5 else "0",
                    (bar.get_x() + bar.get_width() / 2, value),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    memory.set_yscale("symlog", linthresh=10)
    memory.set_xticks(range(len(PHASES)))
    memory.set_xticklabels(PHASES, fontsize=8)
    memory.set_ylabel("MiB (symmetric log scale)")
    memory.set_title("peak RSS of a worker above its idle RSS")
    memory.legend(fontsize=8)

    config = report["config"]
    figure.suptitle(
        f"FilePond servers, {size_label(config['size_bytes'] // 2**20)} file: "
        f"{'medians of ' if config['rounds'] > 1 else ''}{config['rounds']} round"
        f"{'s' if config['rounds'] > 1 else ''}, gunicorn {config['gunicorn']}, same client"
    )
    figure.text(0.5, 0.01, machine_line(report["machine"]), ha="center", fontsize=7)
    figure.tight_layout(rect=(0, 0.03, 1, 0.96))
    figure.savefig(path, dpi=110)
    plt.close(figure)
