"""Multi-task training data: one shuffled dataset over several tasks, with a `task` column.

Every row keeps its `task` and `label` columns, which TRL hands to the reward functions, so the
accuracy reward routes by task. Rows are interleaved by a seeded shuffle, so every batch sees the
mixture rather than one task after another.
"""

from __future__ import annotations

import logging

import datasets
import numpy as np

from ..data.dataset import load_task_split
from ..prompts import answer_text, render
from .config import JudgeArguments

logger = logging.getLogger(__name__)


def mixture_counts(sizes: dict[str, int], mixture: str, weights: list[float] | None = None) -> dict[str, int]:
    """Rows drawn per task. balanced: each task as many as the largest; proportional: its own
    size; weighted: the total of all sizes split by `weights` (same order as `sizes`)."""
    if mixture == "proportional":
        return dict(sizes)
    if mixture == "balanced":
        largest = max(sizes.values())
        return {task: largest for task in sizes}
    total = sum(sizes.values())
    norm = sum(weights)
    return {task: int(round(total * w / norm)) for task, w in zip(sizes, weights)}


def _draw(n_rows: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n indices into n_rows: whole passes without replacement, then a random remainder."""
    if n_rows == 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    passes = [rng.permutation(n_rows) for _ in range(n // n_rows)]
    passes.append(rng.permutation(n_rows)[: n % n_rows])
    return np.concatenate(passes)


def _draw_label_balanced(labels: list, n: int, rng: np.random.Generator) -> np.ndarray:
    """n indices into `labels`, split as evenly as possible across the distinct labels (the remainder to
    labels picked at random), each label's rows drawn as in `_draw`. Drawing labels evenly is what
    inverse-frequency weights do in expectation, without their variance."""
    by_label: dict = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    groups = [np.asarray(rows) for _, rows in sorted(by_label.items(), key=lambda kv: str(kv[0]))]
    per_label = np.full(len(groups), n // len(groups))
    per_label[rng.permutation(len(groups))[: n % len(groups)]] += 1
    drawn = np.concatenate([rows[_draw(len(rows), int(k), rng)] for rows, k in zip(groups, per_label)])
    return drawn[rng.permutation(len(drawn))]


def build_mixture(args: JudgeArguments, split: str = "train", seed: int = 0) -> datasets.Dataset:
    """The training rows of `args.tasks` mixed per `args.mixture`, shuffled, in the unified schema.

    With `args.balance_labels`, each task's rows are drawn evenly across its labels; the number of rows
    per task is still the one `args.mixture` gives."""
    rng = np.random.default_rng(seed)
    parts = {}
    for task in args.tasks:
        ds = load_task_split(args.data, task, split)
        if args.max_examples_per_task is not None and len(ds) > args.max_examples_per_task:
            ds = ds.select(rng.permutation(len(ds))[: args.max_examples_per_task])
        parts[task] = ds
    counts = mixture_counts({t: len(ds) for t, ds in parts.items()}, args.mixture, args.task_weights)
    drawn = []
    for t in args.tasks:
        if not counts[t]:
            continue
        if args.balance_labels:
            labels = list(parts[t]["label"])
            if len(set(labels)) < 2:
                logger.warning("balance_labels: task %s has one label only (%s) in its %s split", t, labels[0], split)
            drawn.append(parts[t].select(_draw_label_balanced(labels, counts[t], rng)))
        else:
            drawn.append(parts[t].select(_draw(len(parts[t]), counts[t], rng)))
    mixed = datasets.concatenate_datasets(drawn)
    mixed = mixed.select(rng.permutation(len(mixed)))
    logger.info("training mixture (%s%s): %s = %d rows", args.mixture, ", labels balanced" if args.balance_labels else "",
                ", ".join(f"{t} {counts[t]}" for t in args.tasks), len(mixed))
    return mixed


def to_grpo(ds: datasets.Dataset, style: str) -> datasets.Dataset:
    """Add a conversational `prompt`; images stay in `images`; task/label reach the rewards."""

    def prompt(task, text):
        return {"prompt": render({"task": task, "text": text}, style)}

    return ds.map(prompt, input_columns=["task", "text"], desc="rendering prompts")


def to_sft(ds: datasets.Dataset, style: str) -> datasets.Dataset:
    """Prompt-completion rows: the rendered prompt, and the gold answer as the assistant turn."""

    def pair(task, text, label):
        return {
            "prompt": render({"task": task, "text": text}, style),
            "completion": [{"role": "assistant", "content": answer_text(label, style)}],
        }

    return ds.map(pair, input_columns=["task", "text", "label"], desc="rendering prompts")
