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
