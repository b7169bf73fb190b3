"""Pure metric functions over gold labels and parsed verdicts.

A verdict of None (unparseable completion) is never dropped: it counts as wrong. For macro-F1 it
is its own "invalid" prediction, which is a false negative for the gold class and a false
positive for no class; this matches sklearn's f1_score(average="macro", labels=choices) on the
predictions with None mapped to any value outside `choices`.

Macro-F1 stays hand-written (it needs the confusion matrix above anyway, and training's validation
calls it every few steps); the rank correlations and ROC-AUC come from scipy and scikit-learn; ECE,
which neither library has, is the short count-weighted sum below.
"""

from __future__ import annotations

from collections.abc import Sequence


def confusion(gold: Sequence[str], pred: Sequence[str | None], choices: Sequence[str]) -> dict[str, dict[str, int]]:
    """counts[gold][pred] with an extra "invalid" column for unparseable verdicts."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} labels but pred has {len(pred)}")
    columns = [*choices, "invalid"]
    counts = {g: {p: 0 for p in columns} for g in choices}
    for g, p in zip(gold, pred, strict=True):
        if g not in counts:
            raise ValueError(f"gold label {g!r} is not one of {list(choices)}")
        counts[g][p if p in choices else "invalid"] += 1
    return counts


def f1_per_class(gold: Sequence[str], pred: Sequence[str | None], choices: Sequence[str]) -> dict[str, float]:
    """F1 of each class, 0.0 where a class has neither gold nor predicted examples (sklearn's zero_division=0)."""
    counts = confusion(gold, pred, choices)
    scores = {}
    for c in choices:
        tp = counts[c][c]
        fn = sum(counts[c].values()) - tp
        fp = sum(counts[g][c] for g in choices if g != c)
        scores[c] = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0
    return scores


def macro_f1(gold: Sequence[str], pred: Sequence[str | None], choices: Sequence[str]) -> float:
    """Unweighted mean of per-class F1 over `choices` (the paper's primary metric)."""
    scores = f1_per_class(gold, pred, choices)
    return sum(scores.values()) / len(scores)


def accuracy(gold: Sequence[str], pred: Sequence[str | None]) -> float:
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} labels but pred has {len(pred)}")
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold) if gold else 0.0


def accuracy_by_group(gold: Sequence[str], pred: Sequence[str | None], groups: Sequence[str | None],
                      scores: Sequence[float | None] | None = None, positive: str | None = None) -> dict[str, dict]:
    """{group: {"n": rows, "accuracy": share right}} over the rows whose group is not None, largest group first (ties
    by name): which kind of row a judge gets wrong (JudgeWorld's causes, data/world/causes.py).

    Given the judge's scores (P(`positive`)), a group whose rows all carry one label also gets "roc_auc": how well the
    scores tell its rows from every scored row of the other label, whatever the threshold. 0.5 says the judge does not
    see the cause at all; high with a low accuracy says it sees it and draws the line in the wrong place."""
    counts: dict[str, list[int]] = {}
    for g, p, group in zip(gold, pred, groups, strict=True):
        if group is not None:
            right_n = counts.setdefault(group, [0, 0])
            right_n[0] += g == p
            right_n[1] += 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1][1], item[0]))
    out = {group: {"n": n, "accuracy": right / n} for group, (right, n) in ordered}
    if scores is None or positive is None:
        return out
    scored: dict[str, list[tuple[str, float]]] = {}  # group -> its scored rows (label, score)
    by_label: dict[str, list[float]] = {}  # label -> every scored row's score
    for g, score, group in zip(gold, scores, groups, strict=True):
        if score is not None:
            by_label.setdefault(g, []).append(score)
            if group is not None:
                scored.setdefault(group, []).append((g, score))
    for group, cell in out.items():
        labels = {g for g, _ in scored.get(group, [])}
        if len(labels) != 1:  # both labels in the group (or none scored): its own ROC-AUC is not a separation from others
            continue
        label = labels.pop()
        inside = [score for _, score in scored[group]]
        others = [score for other, scores_of in by_label.items() if other != label for score in scores_of]
        if others:
            is_positive = [label == positive] * len(inside) + [label != positive] * len(others)
            cell["roc_auc"] = roc_auc(is_positive, inside + others)
    return out


def parse_failure_rate(pred: Sequence[str | None], choices: Sequence[str]) -> float:
    return sum(p not in choices for p in pred) / len(pred) if pred else 0.0


def classification_metrics(
    gold: Sequence[str], pred: Sequence[str | None], choices: Sequence[str], prefix: str = ""
) -> dict[str, float]:
    """macro_f1, accuracy and parse_failure_rate under slash-named keys (e.g. "seetrue/macro_f1")."""
    p = f"{prefix}/" if prefix else ""
    return {
        f"{p}macro_f1": macro_f1(gold, pred, choices),
        f"{p}accuracy": accuracy(gold, pred),
        f"{p}parse_failure_rate": parse_failure_rate(pred, choices),
        f"{p}n": float(len(gold)),
    }


# --- graded scores: correlation with human ratings, ranking, calibration -----------------------


def undefined(reason: str) -> dict:
    """How an undefined metric appears in results: never NaN, always the reason."""
    return {"value": None, "undefined": reason}


# scipy and scikit-learn are imported where they are used: training imports this module for its
# validation metrics and should not pay for them.


def _constant(x: Sequence[float], y: Sequence[float]) -> bool:
    """Whether a correlation is undefined: scipy would warn and answer NaN, callers say why instead."""
    if len(x) != len(y):
        raise ValueError("x and y differ in length")
    return len(set(x)) < 2 or len(set(y)) < 2


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho (scipy.stats.spearmanr, ties at average ranks); None when either side is constant."""
    from scipy.stats import spearmanr

    return None if _constant(x, y) else float(spearmanr(x, y).statistic)


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b (scipy.stats.kendalltau, tie-corrected); None when either side is constant."""
    from scipy.stats import kendalltau

    return None if _constant(x, y) else float(kendalltau(x, y).statistic)


def roc_auc(positive: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (sklearn.metrics.roc_auc_score): P(score of a random positive > a random
    negative), ties half. None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    if len(set(positive)) < 2:
        return None
    return float(roc_auc_score(list(positive), list(scores)))


def calibration_bins(positive: Sequence[bool], probs: Sequence[float], n_bins: int = 10) -> list[dict]:
    """Equal-width confidence bins of P(positive): count, mean predicted probability, observed rate."""
    bins = [{"lo": i / n_bins, "hi": (i + 1) / n_bins, "count": 0, "mean_prob": 0.0, "rate": 0.0} for i in range(n_bins)]
    for p, q in zip(positive, probs, strict=True):
        b = bins[min(int(q * n_bins), n_bins - 1)]
        b["count"] += 1
        b["mean_prob"] += q
        b["rate"] += float(p)
    for b in bins:
        if b["count"]:
            b["mean_prob"] /= b["count"]
            b["rate"] /= b["count"]
    return bins


def expected_calibration_error(positive: Sequence[bool], probs: Sequence[float], n_bins: int = 10) -> float:
    """ECE: the count-weighted mean gap between predicted P(positive) and the observed rate per bin."""
    n = len(probs)
    return sum(b["count"] / n * abs(b["mean_prob"] - b["rate"]) for b in calibration_bins(positive, probs, n_bins) if b["count"])


def score_metrics(labels: Sequence[str], scores: Sequence[float | None], human: Sequence[float | None], positive: str) -> dict:
    """Correlation of judge scores with human scores, ROC-AUC against the labels, and calibration.

    Rows with no judge score or no human score are left out of the metrics that need them and
    counted; a metric that cannot be computed is reported with the reason, never as NaN.
    """
    out: dict = {}
    scored = [(lab, s, h) for lab, s, h in zip(labels, scores, human, strict=True) if s is not None]
    out["scores/missing_judge_score"] = len(labels) - len(scored)
    if not scored:
        for key in ("spearman", "kendall", "roc_auc", "ece"):
            out[f"scores/{key}"] = undefined("no judge scores")
        return out
    y = [lab == positive for lab, _, _ in scored]
    s = [x for _, x, _ in scored]
    auc = roc_auc(y, s)
    out["scores/roc_auc"] = auc if auc is not None else undefined("only one class among the labels")
    out["scores/ece"] = expected_calibration_error(y, s)
    out["scores/calibration_bins"] = calibration_bins(y, s)
    pairs = [(x, h) for _, x, h in scored if h is not None]
    out["scores/missing_human_score"] = len(scored) - len(pairs)
    out["scores/n_correlated"] = len(pairs)
    if len(pairs) < 3:
        reason = "fewer than 3 examples carry a human score"
        out["scores/spearman"] = out["scores/kendall"] = undefined(reason)
    elif len({x for x, _ in pairs}) == 1 or len({h for _, h in pairs}) == 1:
        which = "judge" if len({x for x, _ in pairs}) == 1 else "human"
        out["scores/spearman"] = out["scores/kendall"] = undefined(f"the {which} scores are constant")
    else:
        xs, hs = [x for x, _ in pairs], [h for _, h in pairs]
        out["scores/spearman"] = spearman(xs, hs)
        out["scores/kendall"] = kendall_tau_b(xs, hs)
    return out


# --- uncertainty and baselines: what a reader needs to tell a difference from noise ---------------


def majority_macro_f1(gold: Sequence[str], choices: Sequence[str]) -> float:
    """Macro-F1 of always answering the most frequent gold label (ties: the first in `choices`): what a
    judge scores without judging anything, so the floor a table's numbers should be read against."""
    counts = [sum(g == c for g in gold) for c in choices]
    top = choices[counts.index(max(counts))]
    return macro_f1(gold, [top] * len(gold), choices)


def bootstrap_macro_f1(
    gold: Sequence[str],
    pred: Sequence[str | None],
    choices: Sequence[str],
    *,
    rows: Sequence | None = None,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of macro_f1: `resamples` draws of the test rows with replacement.

    rows: the test row of each verdict (default: every verdict its own row). A pairwise task judged in
    both orders has two verdicts per row, and a draw takes both, because they are not independent.
    Deterministic for a given `seed`."""
    import numpy as np

    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} labels but pred has {len(pred)}")
    if not gold:
        raise ValueError("no verdicts to resample")
    _, row_of = np.unique(np.asarray(list(range(len(gold)) if rows is None else rows)), return_inverse=True)
    n_rows = int(row_of.max()) + 1
    draws = np.random.default_rng(seed).integers(0, n_rows, size=(resamples, n_rows))
    times_drawn = np.zeros((resamples, n_rows))
    np.add.at(times_drawn, (np.arange(resamples)[:, None], draws), 1)
    weight = times_drawn[:, row_of]  # per resample, how often each verdict counts
    g = np.array([choices.index(x) for x in gold])
    p = np.array([choices.index(x) if x in choices else -1 for x in pred])  # -1: unparseable, wrong for every class
    per_class = []
    for c in range(len(choices)):
        tp = weight @ ((g == c) & (p == c))
        denominator = weight @ (g == c) + weight @ (p == c)  # 2tp + fp + fn
        per_class.append(np.divide(2 * tp, denominator, out=np.zeros(resamples), where=denominator > 0))
    stats = np.mean(per_class, axis=0)
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def interval_metrics(gold: Sequence[str], pred: Sequence[str | None], choices: Sequence[str], rows: Sequence | None = None,
                     *, resamples: int = 1000, seed: int = 0) -> dict[str, float]:
    """The 95% bootstrap interval of macro-F1 and the majority-answer baseline, under slash-named keys."""
    low, high = bootstrap_macro_f1(gold, pred, choices, rows=rows, resamples=resamples, seed=seed)
    return {"macro_f1/ci95_low": low, "macro_f1/ci95_high": high, "macro_f1/bootstrap_resamples": float(resamples),
            "baseline/majority_macro_f1": majority_macro_f1(gold, choices)}
