"""The reproduction report: report.md with the paper's Tables 2 and 3 laid out as in the paper
(rows = methods, columns = tasks), each cell with its 95% bootstrap interval and the paper's number,
the majority-answer baseline, the evaluated checkpoints, correlations of the judges' scores with graded
human (or exact synthetic) scores, notes that claim only what the intervals support, and PNG charts."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from ..io import atomic_file
from ..tasks import HELDOUT_TASKS, PAPER_TASKS
from .paper import METHOD_NAMES, METHODS, TABLE2, TABLE3, TABLE3_METHODS, TASK_NAMES

logger = logging.getLogger(__name__)

CONSTANT_SHARE = 0.95  # one answer for this share of the test verdicts: a constant classifier, not judgment
UNPARSEABLE_SHARE = 0.5  # unparseable verdicts for this share: the cell measures the format, not judgment
MARKS = {"constant": "†", "unparseable": "‡"}


def _num(value) -> float | None:
    """A metric as a number, or None where it is missing or undefined (a dict with a reason)."""
    return value if isinstance(value, (int, float)) else None


# --- estimates with intervals, and the only orderings the report may claim ------------------------


@dataclass(frozen=True)
class Estimate:
    """A macro-F1 with its 95% interval (low == high == value where no interval is known)."""

    value: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def cell_estimate(metrics: dict | None) -> Estimate | None:
    """The macro-F1 of one method x task cell with its bootstrap interval; None when the cell is missing.
    A cell evaluated before intervals were recorded gets a zero-width one: no claim then rests on width."""
    value = _num((metrics or {}).get("macro_f1"))
    if value is None:
        return None
    low, high = _num(metrics.get("macro_f1/ci95_low")), _num(metrics.get("macro_f1/ci95_high"))
    return Estimate(value, low, high) if low is not None and high is not None else Estimate(value, value, value)


def mean_estimate(cells: list[Estimate | None]) -> Estimate | None:
    """Mean over tasks; the tasks' test rows are independent, so the half-width of the mean is the root of
    the sum of the tasks' squared half-widths over the number of tasks. None when a cell is missing."""
    if not cells or any(c is None for c in cells):
        return None
    mean = sum(c.value for c in cells) / len(cells)
    half = math.sqrt(sum(c.half_width**2 for c in cells)) / len(cells)
    return Estimate(mean, mean - half, mean + half)


def ordering(a: Estimate, b: Estimate) -> str:
    """'above' or 'below' when a's and b's 95% intervals do not overlap; 'within' otherwise: no
    ordering is claimed for a difference the test rows could produce by chance."""
    if a.low > b.high:
        return "above"
    if a.high < b.low:
        return "below"
    return "within"


# The paper reports no intervals; on its test sets (hundreds to thousands of rows) a gap under one
# macro-F1 point is within sampling noise, so such a gap is no ordering to agree or disagree with.
PAPER_LEVEL = 1.0


def paper_claim(ours_a: Estimate, ours_b: Estimate, paper_a: float, paper_b: float, baseline: float | None) -> tuple[str, str]:
    """(our ordering of a vs b, what it says about the paper's): ordering() of the two estimates, and
    'agrees' or 'disagrees' with the paper's ordering, or why no claim is made: 'within' (the difference is
    within our intervals), 'baseline' (the higher of the two is not above the majority-answer `baseline`
    beyond its interval: two constant answers can differ, that is no evidence about judgment), 'paper level'
    (the paper's two numbers, in %, are within PAPER_LEVEL points)."""
    relation = ordering(ours_a, ours_b)
    higher = ours_a if ours_a.value >= ours_b.value else ours_b
    if relation == "within":
        return relation, "within"
    if baseline is not None and higher.low <= baseline:
        return relation, "baseline"
    if abs(paper_a - paper_b) < PAPER_LEVEL:
        return relation, "paper level"
    return relation, "agrees" if relation == ("above" if paper_a > paper_b else "below") else "disagrees"


def has_intervals(metrics: dict | None) -> bool:
    return _num((metrics or {}).get("macro_f1/ci95_low")) is not None


def majority_baseline(results: dict, task: str) -> float | None:
    """Macro-F1 of always answering the test split's majority label, as the evaluations recorded it."""
    for method in results.values():
        value = _num(method.get(task, {}).get("baseline/majority_macro_f1"))
        if value is not None:
            return value
    return None


def answer_shares(metrics: dict) -> dict[str, float]:
    """Share of each predicted answer ('invalid' included) over all test verdicts, from the confusion matrix."""
    totals: dict[str, int] = {}
    for row in (metrics.get("confusion") or {}).values():
        for answer, count in row.items():
            totals[answer] = totals.get(answer, 0) + count
    n = sum(totals.values())
    return {answer: count / n for answer, count in totals.items()} if n else {}


def degenerate_kind(metrics: dict | None) -> tuple[str, str, float] | None:
    """('constant', answer, share) when one answer covers at least CONSTANT_SHARE of the verdicts,
    ('unparseable', 'invalid', share) when unparseable ones are the most common and at least UNPARSEABLE_SHARE;
    None for a cell that judges."""
    shares = answer_shares(metrics or {})
    if not shares:
        return None
    top, share = max(shares.items(), key=lambda kv: kv[1])
    if top == "invalid":
        return ("unparseable", top, share) if share >= UNPARSEABLE_SHARE else None
    return ("constant", top, share) if share >= CONSTANT_SHARE else None


# --- tables ---------------------------------------------------------------------------------------


def _pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}"


def _cell(estimate: Estimate | None, paper: float | None = None, mark: str = "") -> str:
    """'86.25 ± 5.6 (78.64)': ours, half the width of the 95% interval, the paper's number in brackets."""
    text = "n/a" if estimate is None else _pct(estimate.value)
    if estimate is not None and estimate.half_width > 0:
        text += f" ± {100 * estimate.half_width:.1f}"
    text += mark
    return text if paper is None else f"{text} ({paper:.2f})"


def _table(results: dict, methods, tasks, paper: dict) -> list[str]:
    head = "| Method | " + " | ".join(TASK_NAMES.get(t, t) for t in tasks) + " | Mean |"
    lines = [head, "|" + "---|" * (len(tasks) + 2)]
    for method in methods:
        row = results.get(method, {})
        cells = [cell_estimate(row.get(t)) for t in tasks]
        marks = [MARKS[kind[0]] if (kind := degenerate_kind(row.get(t))) else "" for t in tasks]
        texts = [_cell(c, paper.get(method, {}).get(t), m) for c, t, m in zip(cells, tasks, marks, strict=True)]
        lines.append(f"| {METHOD_NAMES.get(method, method)} | " + " | ".join(texts) + f" | {_cell(mean_estimate(cells))} |")
    baselines = [majority_baseline(results, t) for t in tasks]
    if any(b is not None for b in baselines):
        mean = sum(baselines) / len(baselines) if all(b is not None for b in baselines) else None
        lines.append("| *Majority answer* | " + " | ".join(_pct(b) for b in baselines) + f" | {_pct(mean)} |")
    return lines


TABLE_LEGEND = [
    "Each cell: our test macro-F1 ± half the width of its 95% bootstrap interval (1,000 resamples of the test rows,",
    "seed 0; the bounds are in results.json), then the paper's number in brackets. The Mean column's interval",
    "combines the tasks' intervals as independent. *Majority answer* is the macro-F1 of always answering the test",
    f"split's most common label: a judge below it has learned nothing usable. {MARKS['constant']}: one answer for at least "
    f"{100 * CONSTANT_SHARE:.0f}% of the verdicts (a constant classifier); {MARKS['unparseable']}: mostly unparseable answers.",
]


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


CAUSE_COLUMNS = 6  # the most common causes of a task get a column each; results.json has them all


def cause_tables(results: dict, methods, tasks) -> list[str]:
    """Per task whose rows say what made them (JudgeWorld's `by_cause`): one table, rows = methods, columns = the
    task's most common causes, cells = the share of those rows the judge got right and, in brackets, how well its scores
    tell them from the rows of the other label (ROC-AUC); nothing for other tasks."""
    lines: list[str] = []
    for t in tasks:
        sizes: dict[str, int] = {}
        for method in methods:
            for cause, cell in (results.get(method, {}).get(t, {}).get("by_cause") or {}).items():
                sizes[cause] = max(sizes.get(cause, 0), cell["n"])
        if not sizes:
            continue
        causes = sorted(sizes, key=lambda c: (-sizes[c], c))[:CAUSE_COLUMNS]
        lines += ["", f"**{TASK_NAMES.get(t, t)}**", "",
                  "| Method | " + " | ".join(f"{c} ({sizes[c]})" for c in causes) + " |", "|" + "---|" * (len(causes) + 1)]
        for method in methods:
            by_cause = results.get(method, {}).get(t, {}).get("by_cause") or {}
            cells = ["n/a" if c not in by_cause else f"{100 * by_cause[c]['accuracy']:.0f}"
                     + (f" ({by_cause[c]['roc_auc']:.2f})" if by_cause[c].get("roc_auc") is not None else "") for c in causes]
            lines.append(f"| {METHOD_NAMES.get(method, method)} | " + " | ".join(cells) + " |")
    return lines


def checkpoint_table(checkpoints: dict[str, dict]) -> list[str]:
    """One row per trained run: which checkpoint was evaluated, at which step, picked on how much validation."""
    lines = ["| Run | Evaluated checkpoint | Picked on |", "|---|---|---|"]
    for run, info in checkpoints.items():
        step = f"step {info['step']}" if info.get("step") is not None else "step unknown"
        of = f" of {info['last_step']}" if info.get("last_step") is not None else ""
        rows = info.get("val_rows") or {}
        if info["checkpoint"] == "best":
            sizes = sorted(set(rows.values()))
            size = (f"{len(rows)} task(s) x {int(sizes[0])} validation rows" if len(sizes) == 1
                    else ", ".join(f"{t} {int(n)}" for t, n in rows.items()) + " validation rows")
            picked = f"best validation mean macro-F1 ({_pct(info.get('val_mean_macro_f1'), 1)}) on {size}"
        else:
            picked = "no validation checkpoint: the final weights"
        lines.append(f"| {run} | {info['checkpoint']}, {step}{of} | {picked} |")
    return lines


# --- charts ---------------------------------------------------------------------------------------


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_chart(results: dict, tasks, path: Path) -> None:
    """Macro-F1 per method and task with 95% intervals, and the majority-answer baseline per task.
    A zero is drawn as a marker on the axis (a bar of height 0 would vanish); a missing cell has no bar."""
    plt = _pyplot()
    methods = [m for m in METHODS if m in results]
    fig, ax = plt.subplots(figsize=(11, 4.2))
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        xs, values, errors, zeros = [], [], [[], []], []
        for x, t in enumerate(tasks):
            e = cell_estimate(results[method].get(t))
            if e is None:
                continue
            xs.append(x + i * width)
            values.append(100 * e.value)
            errors[0].append(100 * max(e.value - e.low, 0.0))
            errors[1].append(100 * max(e.high - e.value, 0.0))
            if e.value == 0:
                zeros.append(x + i * width)
        bars = ax.bar(xs, values, width, yerr=errors, capsize=2, error_kw={"linewidth": 0.8}, label=METHOD_NAMES[method])
        if zeros:
            ax.plot(zeros, [0.8] * len(zeros), marker="v", linestyle="", color=bars.patches[0].get_facecolor(), markersize=6)
    labelled = False
    for x, t in enumerate(tasks):
        baseline = majority_baseline(results, t)
        if baseline is not None:
            ax.hlines(100 * baseline, x - width / 2, x + width * (len(methods) - 0.5), colors="black", linestyles="--",
                      linewidth=1.2, label=None if labelled else "majority answer")
            labelled = True
    ax.set_xticks([x + width * (len(methods) - 1) / 2 for x in range(len(tasks))])
    ax.set_xticklabels([TASK_NAMES.get(t, t) for t in tasks], fontsize=8)
    ax.set_ylabel("macro-F1 (%)")
    ax.set_ylim(0, 100)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, fontsize=7, ncol=len(labels))
    ax.set_title("Test macro-F1 per task with 95% bootstrap intervals (JudgeWorld); ▼ marks a zero")
    _save(fig, path)


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


# GRPO's learning signal, read from a run's per-step log: a group whose completions all get one reward has zero
# advantages and teaches nothing, so the share of mixed groups is the share of the batch that can move the policy.
GROUP_COLUMNS = (
    ("dynamic_sampling/kept_frac", "mixed groups (of those sampled)"),
    ("frac_reward_zero_std", "equal-reward groups (of those trained)"),
    ("rewards/accuracy/mean", "sampled accuracy"),
)


def _window_mean(rows: list[dict], key: str) -> float | None:
    values = [v for v in (_num(r.get(key)) for r in rows) if v is not None]
    return sum(values) / len(values) if values else None


def grpo_groups_table(runs: dict[str, Path], window: float = 0.1) -> list[str]:
    """One row per GRPO run: each signal of GROUP_COLUMNS averaged over the first and the last `window` of its
    logged steps ('first -> last'), so that a run whose groups went flat, and so stopped learning, shows even
    where the curves chart does not draw it (the single-task runs). Runs without a log are left out."""
    lines = []
    for name, metrics_file in runs.items():
        rows = [r for r in read_metrics(metrics_file) if _num(r.get("frac_reward_zero_std")) is not None]
        if not rows:
            continue
        n = max(1, round(len(rows) * window))
        cells = []
        for key, _ in GROUP_COLUMNS:
            first, last = _window_mean(rows[:n], key), _window_mean(rows[-n:], key)
            cells.append("n/a" if first is None and last is None else " -> ".join(
                "n/a" if v is None else f"{v:.2f}" for v in (first, last)))
        lines.append(f"| {name} | {rows[-1]['step']} | " + " | ".join(cells) + " |")
    if not lines:
        return []
    return ["| Run | Steps | " + " | ".join(title for _, title in GROUP_COLUMNS) + " |",
            "|" + "---|" * (len(GROUP_COLUMNS) + 2), *lines]


def curves_chart(runs: dict[str, Path], path: Path) -> None:
    """Three panels, each on its own 0..1 axis: the GRPO reward; the share of groups whose completions all got
    the same reward (TRL's `frac_reward_zero_std`: zero advantages, nothing learned; rising toward 1 shows a
    policy that settled on one answer) and, with dynamic sampling, the share of groups kept; and validation
    mean macro-F1 per step, on the whole 0..1 range so that a small wiggle does not read as learning."""
    plt = _pyplot()
    fig, (reward_ax, groups_ax, val_ax) = plt.subplots(1, 3, figsize=(14, 3.8))
    for name, metrics_file in runs.items():
        rows = read_metrics(metrics_file)

        def series(key, rows=rows):
            return [(r["step"], r[key]) for r in rows if _num(r.get(key)) is not None]

        reward, flat, kept, val = series("reward"), series("frac_reward_zero_std"), series("dynamic_sampling/kept_frac"), \
            series("val/mean_macro_f1")
        window = max(1, len(reward) // 30)
        if reward:
            reward_ax.plot(*zip(*rolling_mean(reward, window), strict=True), label=name, linewidth=1)
        if flat:
            groups_ax.plot(*zip(*rolling_mean(flat, window), strict=True), label=f"{name}: equal rewards", linewidth=1)
        if kept:
            groups_ax.plot(*zip(*rolling_mean(kept, window), strict=True), label=f"{name}: kept (dynamic sampling)", linewidth=1,
                           linestyle=":")
        if val:
            val_ax.plot(*zip(*val, strict=True), marker="o", label=name, linewidth=1)
    reward_ax.set_title("GRPO reward (lambda*format + (1-lambda)*accuracy)\nrolling mean", fontsize=9)
    groups_ax.set_title("share of GRPO groups\nrolling mean", fontsize=9)
    val_ax.set_title("validation mean macro-F1", fontsize=9)
    for ax in (reward_ax, groups_ax, val_ax):
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    _save(fig, path)


def reliability_chart(results: dict, method: str, tasks, path: Path) -> None:
    """Reliability diagram of one judge's P(positive) per task (observed rate per confidence bin), and below it
    the number of verdicts in each bin: a point made of three verdicts says little."""
    plt = _pyplot()
    fig, (ax, counts_ax) = plt.subplots(2, 1, figsize=(5.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for t in tasks:
        bins = results.get(method, {}).get(t, {}).get("scores/calibration_bins") or []
        points = [(b["mean_prob"], b["rate"], b["count"]) for b in bins if b["count"]]
        if points:
            line, = ax.plot([p[0] for p in points], [p[1] for p in points], linewidth=0.8, label=TASK_NAMES.get(t, t))
            # marker area grows with the bin's count: a bin of one verdict shows as a dot
            ax.scatter([p[0] for p in points], [p[1] for p in points], s=[4 + 2 * p[2] ** 0.5 * 4 for p in points],
                       color=line.get_color(), alpha=0.8)
            counts_ax.plot([(b["lo"] + b["hi"]) / 2 for b in bins], [b["count"] for b in bins], marker=".", linewidth=1,
                           color=line.get_color())
    ax.set_ylabel("observed positive rate")
    ax.set_title(f"Calibration: {METHOD_NAMES.get(method, method)} (marker area ~ verdicts in the bin)", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    counts_ax.set_xlabel("predicted P(positive) (bins of 0.1)")
    counts_ax.set_ylabel("verdicts per bin")
    counts_ax.set_xlim(0, 1)
    _save(fig, path)


# --- the report -----------------------------------------------------------------------------------


def write_report(out: Path, results: dict, runs: dict[str, Path], *, header: str, notes: list[str],
                 checkpoints: dict[str, dict] | None = None, grpo_runs: dict[str, Path] | None = None) -> Path:
    """report.md plus bars.png, curves.png and calibration.png in `out`.

    results: method -> task -> the metrics evaluate() reports for that task.
    runs: run name -> its metrics.jsonl, for the training curves.
    checkpoints: run name -> the evaluated checkpoint (pipeline.checkpoint_info).
    grpo_runs: every GRPO run (the single-task ones too) -> its metrics.jsonl, for the table of GRPO groups.
    """
    pointwise = [t for t in PAPER_TASKS if any(t in r for r in results.values())]
    pairwise = [t for t in HELDOUT_TASKS if any(t in r for r in results.values())]
    bar_chart(results, pointwise + pairwise, out / "bars.png")
    curves_chart(runs, out / "curves.png")
    reliability_chart(results, "mt-rl-judge", pointwise, out / "calibration.png")
    # a budget that trains only some of the judges leaves the others' rows out (its header says which)
    methods = [m for m in METHODS if m in results]
    table3_methods = [m for m in TABLE3_METHODS if m in results]
    lines = [header, ""]
    lines += ["## Table 2: in-domain, pointwise (test macro-F1 %, the paper's number in brackets)", ""]
    lines += _table(results, methods, pointwise, TABLE2)
    lines += ["", "## Table 3: held-out pairwise format (macro-F1 % over both image orders, the paper's in brackets)", ""]
    lines += _table(results, table3_methods, pairwise, TABLE3)
    lines += [""] + TABLE_LEGEND
    lines += ["", "Pairwise accuracy % under MJ-Bench's protocols (a verdict that changes when the two images are swapped",
              "is a tie): with ties counted wrong / over the pairs that are not ties / position consistency; and the mean",
              "accuracy of the two orders:", ""]
    lines += ["| Method | " + " | ".join(TASK_NAMES.get(t, t) for t in pairwise) + " |", "|" + "---|" * (len(pairwise) + 1)]
    for method in table3_methods:
        cells = []
        for t in pairwise:
            m = results.get(method, {}).get(t)
            cells.append("n/a" if not m else f"{_pct(m.get('accuracy/ties_wrong'), 1)} / {_pct(m.get('accuracy/no_ties'), 1)} / "
                         f"{_pct(m['position_consistency'], 1)}; {_pct(m['accuracy'], 1)}")
        lines.append(f"| {METHOD_NAMES[method]} | " + " | ".join(cells) + " |")
    if checkpoints:
        lines += ["", "## Evaluated checkpoints", "",
                  "Each trained judge is evaluated at its best validation checkpoint (the paper's selection) when it has",
                  "one:", ""]
        lines += checkpoint_table(checkpoints)
    groups = grpo_groups_table(grpo_runs or {})
    if groups:
        lines += ["", "## GRPO groups: what each run could learn from, first -> last tenth of its steps", "",
                  "A group of completions of one prompt that all get the same reward has zero advantages: it teaches",
                  "nothing. Dynamic sampling draws fresh prompts in place of such groups (mixed groups: the share of",
                  "those it sampled that were not flat) and, when its tries run out, fills the batch with flat ones",
                  "(equal-reward groups: their share of the batch trained on). Sampled accuracy: of the rollouts.", ""]
        lines += groups
    lines += ["", "## Scores against graded severity: Spearman rho / ROC-AUC per task", "",
              "The judge's score is P(positive choice) at the answer position; the graded score is the world's exact",
              "severity (how strong the blur, how many caption attributes are wrong, ...). 'undef.' says the metric has",
              "no value (e.g. constant scores); see results.json for the reason.", ""]
    lines += _correlation_table(results, methods, pointwise + pairwise)
    causes = cause_tables(results, methods, pointwise)
    if causes:
        lines += ["", "## What each judge misses: test accuracy % by cause", "",
                  "A JudgeWorld row is what it is because of its edits and defects (a shape or a count changed in the text,",
                  "a blur, a float) or, for UnsafeBench, the symbols on its signs; 'none' is a row with neither (a positive).",
                  f"Columns: each task's {CAUSE_COLUMNS} most common causes (rows in brackets); results.json has every cause.",
                  "Cells: accuracy % and, in brackets, the ROC-AUC of the judge's scores between those rows and the rows of the",
                  "other label: 0.50 says it does not see the cause at all, a high one with a low accuracy that it draws the",
                  "line in the wrong place."]
        lines += causes
    lines += ["", "## Charts", "", "![macro-F1 per task](bars.png)", "", "![training curves](curves.png)", "",
              "![calibration of MT-RL-Judge](calibration.png)", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    path = out / "report.md"
    with atomic_file(path) as f:
        f.write("\n".join(lines))
    logger.info("report: %s", path)
    return path
