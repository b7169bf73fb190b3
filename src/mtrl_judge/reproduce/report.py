"""The reproduction report: report.md with the paper's Tables 2 and 3 laid out as in the paper
(rows = methods, columns = tasks), the paper's numbers beside ours, correlations of the judges'
scores with graded human (or exact synthetic) scores, and PNG charts."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..io import atomic_file
from ..tasks import HELDOUT_TASKS, PAPER_TASKS
from .paper import METHOD_NAMES, METHODS, TABLE2, TABLE3, TABLE3_METHODS, TASK_NAMES

logger = logging.getLogger(__name__)


def _num(value) -> float | None:
    """A metric as a number, or None where it is missing or undefined (a dict with a reason)."""
    return value if isinstance(value, (int, float)) else None


def _cell(ours: float | None, paper: float | None = None) -> str:
    text = "n/a" if ours is None else f"{100 * ours:.2f}"
    return text if paper is None else f"{text} ({paper:.2f})"


def _table(results: dict, methods, tasks, paper: dict, metric: str = "macro_f1") -> list[str]:
    head = "| Method | " + " | ".join(TASK_NAMES.get(t, t) for t in tasks) + " | Mean |"
    lines = [head, "|" + "---|" * (len(tasks) + 2)]
    for method in methods:
        row = results.get(method, {})
        values = [_num(row.get(t, {}).get(metric)) for t in tasks]
        known = [v for v in values if v is not None]
        mean = sum(known) / len(known) if len(known) == len(tasks) else None
        cells = [_cell(v, paper.get(method, {}).get(t)) for v, t in zip(values, tasks)]
        lines.append(f"| {METHOD_NAMES.get(method, method)} | " + " | ".join(cells) + f" | {_cell(mean)} |")
    return lines


def _correlation_table(results: dict, methods, tasks) -> list[str]:
    lines = ["| Method | " + " | ".join(TASK_NAMES.get(t, t) for t in tasks) + " |", "|" + "---|" * (len(tasks) + 1)]
    for method in methods:
        cells = []
        for t in tasks:
            m = results.get(method, {}).get(t, {})
            rho, auc = m.get("scores/spearman"), m.get("scores/roc_auc")
            if not m:
                cells.append("n/a")
                continue
            rho_text = f"{rho:+.3f}" if _num(rho) is not None else "undef."
            auc_text = f"{auc:.3f}" if _num(auc) is not None else "undef."
            cells.append(f"{rho_text} / {auc_text}")
        lines.append(f"| {METHOD_NAMES.get(method, method)} | " + " | ".join(cells) + " |")
    return lines


def bar_chart(results: dict, tasks, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m in METHODS if m in results]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        values = [100 * (_num(results[method].get(t, {}).get("macro_f1")) or 0.0) for t in tasks]
        ax.bar([x + i * width for x in range(len(tasks))], values, width, label=METHOD_NAMES[method])
    ax.set_xticks([x + width * (len(methods) - 1) / 2 for x in range(len(tasks))])
    ax.set_xticklabels([TASK_NAMES.get(t, t) for t in tasks], fontsize=8)
    ax.set_ylabel("macro-F1 (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncol=len(methods))
    ax.set_title("Test macro-F1 per task (JudgeWorld)")
    fig.tight_layout()
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rolling_mean(points: list[tuple[int, float]], window: int) -> list[tuple[int, float]]:
    """(step, mean of the last `window` values) per point: per-step GRPO logs are too noisy to read raw."""
    out, values = [], []
    for step, value in points:
        values.append(value)
        tail = values[-window:]
        out.append((step, sum(tail) / len(tail)))
    return out


def curves_chart(runs: dict[str, Path], path: Path) -> None:
    """Training reward (GRPO) and validation mean macro-F1 per step, one line per run.

    Beside the reward, the share of groups whose completions all got the same reward
    (TRL's `frac_reward_zero_std`): such a group has zero advantages and teaches nothing, so this
    line rising toward 1 shows a policy that settled on one answer. With dynamic sampling, the share
    of sampled groups kept for training is drawn too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, metrics_file in runs.items():
        rows = read_metrics(metrics_file)
        reward = [(r["step"], r["reward"]) for r in rows if _num(r.get("reward")) is not None]
        flat = [(r["step"], r["frac_reward_zero_std"]) for r in rows if _num(r.get("frac_reward_zero_std")) is not None]
        val = [(r["step"], r["val/mean_macro_f1"]) for r in rows if _num(r.get("val/mean_macro_f1")) is not None]
        window = max(1, len(reward) // 30)
        if reward:
            left.plot(*zip(*rolling_mean(reward, window)), label=f"{name}: reward", linewidth=1)
        if flat:
            left.plot(*zip(*rolling_mean(flat, window)), label=f"{name}: groups with equal rewards", linewidth=1, linestyle="--")
        kept = [(r["step"], r["dynamic_sampling/kept_frac"]) for r in rows if _num(r.get("dynamic_sampling/kept_frac")) is not None]
        if kept:  # with dynamic sampling: the share of sampled groups that were mixed and trained on
            left.plot(*zip(*rolling_mean(kept, window)), label=f"{name}: groups kept (dynamic sampling)", linewidth=1, linestyle=":")
        if val:
            right.plot(*zip(*val), marker="o", label=name, linewidth=1)
    left.set_ylim(-0.02, 1.02)
    left.set_title("GRPO reward (lambda*format + (1-lambda)*accuracy), rolling mean")
    left.set_xlabel("step")
    right.set_title("validation mean macro-F1")
    right.set_xlabel("step")
    for ax in (left, right):
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def reliability_chart(results: dict, method: str, tasks, path: Path) -> None:
    """Reliability diagram of one judge's P(positive) per task: observed rate per confidence bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for t in tasks:
        bins = results.get(method, {}).get(t, {}).get("scores/calibration_bins") or []
        points = [(b["mean_prob"], b["rate"]) for b in bins if b["count"]]
        if points:
            ax.plot(*zip(*points), marker="o", linewidth=1, label=TASK_NAMES.get(t, t))
    ax.set_xlabel("predicted P(positive)")
    ax.set_ylabel("observed positive rate")
    ax.set_title(f"Calibration: {METHOD_NAMES.get(method, method)}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def write_report(out: Path, results: dict, runs: dict[str, Path], *, header: str, notes: list[str]) -> Path:
    """report.md plus bars.png, curves.png and calibration.png in `out`.

    results: method -> task -> the metrics evaluate() reports for that task.
    runs: run name -> its metrics.jsonl, for the training curves.
    """
    pointwise = [t for t in PAPER_TASKS if any(t in r for r in results.values())]
    pairwise = [t for t in HELDOUT_TASKS if any(t in r for r in results.values())]
    bar_chart(results, pointwise + pairwise, out / "bars.png")
    curves_chart(runs, out / "curves.png")
    reliability_chart(results, "mt-rl-judge", pointwise, out / "calibration.png")
    lines = [header, ""]
    lines += ["## Table 2: in-domain, pointwise (test macro-F1 %, the paper's number in brackets)", ""]
    lines += _table(results, METHODS, pointwise, TABLE2)
    lines += ["", "## Table 3: held-out pairwise format (macro-F1 % over both image orders, the paper's in brackets)", ""]
    lines += _table(results, TABLE3_METHODS, pairwise, TABLE3)
    lines += ["", "Pairwise accuracy % under MJ-Bench's protocols (a verdict that changes when the two images are swapped",
              "is a tie): with ties counted wrong / over the pairs that are not ties / position consistency; and the mean",
              "accuracy of the two orders:", ""]
    lines += ["| Method | " + " | ".join(TASK_NAMES.get(t, t) for t in pairwise) + " |", "|" + "---|" * (len(pairwise) + 1)]

    def pct(value) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}"

    for method in TABLE3_METHODS:
        cells = []
        for t in pairwise:
            m = results.get(method, {}).get(t)
            cells.append("n/a" if not m else f"{pct(m.get('accuracy/ties_wrong'))} / {pct(m.get('accuracy/no_ties'))} / "
                         f"{pct(m['position_consistency'])}; {pct(m['accuracy'])}")
        lines.append(f"| {METHOD_NAMES[method]} | " + " | ".join(cells) + " |")
    lines += ["", "## Scores against graded severity: Spearman rho / ROC-AUC per task", "",
              "The judge's score is P(positive choice) at the answer position; the graded score is the world's exact",
              "severity (how strong the blur, how many caption attributes are wrong, ...). 'undef.' says the metric has",
              "no value (e.g. constant scores); see results.json for the reason.", ""]
    lines += _correlation_table(results, METHODS, pointwise + pairwise)
    lines += ["", "## Charts", "", "![macro-F1 per task](bars.png)", "", "![training curves](curves.png)", "",
              "![calibration of MT-RL-Judge](calibration.png)", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    path = out / "report.md"
    with atomic_file(path) as f:
        f.write("\n".join(lines))
    logger.info("report: %s", path)
    return path
