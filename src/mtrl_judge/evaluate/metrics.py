"""Pure metric functions over gold labels and parsed verdicts.

A verdict of None (unparseable completion) is never dropped: it counts as wrong. For macro-F1 it
is its own "invalid" prediction, which is a false negative for the gold class and a false
positive for no class; this matches sklearn's f1_score(average="macro", labels=choices) on the
predictions with None mapped to any value outside `choices`.
"""

from __future__ import annotations

from collections.abc import Sequence


def confusion(gold: Sequence[str], pred: Sequence[str | None], choices: Sequence[str]) -> dict[str, dict[str, int]]:
    """counts[gold][pred] with an extra "invalid" column for unparseable verdicts."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} labels but pred has {len(pred)}")
    columns = [*choices, "invalid"]
    counts = {g: {p: 0 for p in columns} for g in choices}
    for g, p in zip(gold, pred):
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
    return sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else 0.0


def parse_failure_rate(pred: Sequence[str | None], choices: Sequence[str]) -> float:
    return sum(p not in choices for p in pred) / len(pred) if pred else 0.0


def classification_metrics(gold: Sequence[str], pred: Sequence[str | None], choices: Sequence[str], prefix: str = "") -> dict[str, float]:
    """macro_f1, accuracy and parse_failure_rate under slash-named keys (e.g. "seetrue/macro_f1")."""
    p = f"{prefix}/" if prefix else ""
    return {
        f"{p}macro_f1": macro_f1(gold, pred, choices),
        f"{p}accuracy": accuracy(gold, pred),
        f"{p}parse_failure_rate": parse_failure_rate(pred, choices),
        f"{p}n": float(len(gold)),
    }


# --- graded scores: correlation with human ratings, ranking, calibration -----------------------


def _ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (1-based), ties sharing the mean of their positions (scipy's 'average')."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / (sxx * syy) ** 0.5


def undefined(reason: str) -> dict:
    """How an undefined metric appears in results: never NaN, always the reason."""
    return {"value": None, "undefined": reason}


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho (Pearson on average ranks); None when either side is constant."""
    if len(x) != len(y):
        raise ValueError("x and y differ in length")
    if len(x) < 2:
        return None
    return _pearson(_ranks(x), _ranks(y))


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b (tie-corrected, scipy's default); None when either side is constant.
    O(n^2) pair signs, in row blocks so that memory stays small."""
    import numpy as np

    if len(x) != len(y):
        raise ValueError("x and y differ in length")
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    s = tx = ty = 0
    block = 1024
    for start in range(0, len(a), block):
        da = np.sign(a[start : start + block, None] - a[None, :])
        db = np.sign(b[start : start + block, None] - b[None, :])
        s += int((da * db).sum())
        tx += int(np.count_nonzero(da))
        ty += int(np.count_nonzero(db))
    # every unordered pair was counted twice (i, j) and (j, i)
    denom = (tx / 2 * ty / 2) ** 0.5
    return (s / 2) / denom if denom else None


def roc_auc(positive: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve: P(score of a random positive > a random negative), ties half.
    None when only one class is present."""
    pos = [s for p, s in zip(positive, scores) if p]
    neg = [s for p, s in zip(positive, scores) if not p]
    if not pos or not neg:
        return None
    ranks = _ranks(list(scores))
    rank_sum = sum(r for p, r in zip(positive, ranks) if p)
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def calibration_bins(positive: Sequence[bool], probs: Sequence[float], n_bins: int = 10) -> list[dict]:
    """Equal-width confidence bins of P(positive): count, mean predicted probability, observed rate."""
    bins = [{"lo": i / n_bins, "hi": (i + 1) / n_bins, "count": 0, "mean_prob": 0.0, "rate": 0.0} for i in range(n_bins)]
    for p, q in zip(positive, probs):
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
    scored = [(lab, s, h) for lab, s, h in zip(labels, scores, human) if s is not None]
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
