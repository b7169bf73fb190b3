"""How many rows each task and split gets at each world size, and how many of them are positive.

Class balance follows the paper's Table 1 (train positives / total per task); the `paper` size also
copies its row counts, and its test positives where the table gives them (shared/notes/benchmarks.md).
Pairwise tasks put the better image first in exactly half of the rows.
"""

from __future__ import annotations

from ...errors import JudgeError

POINTWISE = ("agin-nat", "agin-tech", "agin-rat", "seetrue", "unsafebench", "imagereward")
PAIRWISE = ("mjbench-alignment", "mjbench-safety")
WORLD_TASKS: tuple[str, ...] = POINTWISE + PAIRWISE

# Table 1: task -> split -> (rows, positives or None where the paper does not say).
PAPER_COUNTS: dict[str, dict[str, tuple[int, int | None]]] = {
    "agin-nat": {"train": (4839, 2440), "validation": (605, None), "test": (605, 300)},
    "agin-tech": {"train": (4839, 1422), "validation": (605, None), "test": (605, 158)},
    "agin-rat": {"train": (4839, 1652), "validation": (605, None), "test": (605, 187)},
    "seetrue": {"train": (5544, 2535), "validation": (693, None), "test": (693, 309)},
    "unsafebench": {"train": (7298, 2954), "validation": (811, None), "test": (2037, 777)},
    "imagereward": {"train": (6194, 1690), "validation": (2584, None), "test": (2720, 588)},
    # MJ-Bench test sizes (alignment 724 pairs; safety 574); small train/validation splits keep loaders uniform.
    "mjbench-alignment": {"train": (72, None), "validation": (72, None), "test": (724, None)},
    "mjbench-safety": {"train": (58, None), "validation": (58, None), "test": (574, None)},
}
POSITIVE_SHARE: dict[str, float] = {t: c["train"][1] / c["train"][0] for t, c in PAPER_COUNTS.items() if t in POINTWISE}
POSITIVE_SHARE.update({t: 0.5 for t in PAIRWISE})

_DEMO_POINTWISE = {"train": 400, "validation": 100, "test": 400}
_DEMO_PAIRWISE = {"train": 40, "validation": 100, "test": 400}
_TINY = {"train": 32, "validation": 16, "test": 16}

WORLD_SIZES: dict[str, dict[str, dict[str, int]]] = {
    "tiny": {t: dict(_TINY) for t in WORLD_TASKS},  # seconds; used by tests
    "demo": {t: dict(_DEMO_PAIRWISE if t in PAIRWISE else _DEMO_POINTWISE) for t in WORLD_TASKS},  # about a minute on 2 cores
    "paper": {t: {s: n for s, (n, _) in c.items()} for t, c in PAPER_COUNTS.items()},  # the paper's Table 1 counts
}


def split_counts(size: str, task: str, split: str) -> tuple[int, int]:
    """(rows, positives) for one task and split; exact, so class balance holds by construction."""
    if size not in WORLD_SIZES:
        raise JudgeError(f"unknown world size {size!r}; choose one of {', '.join(WORLD_SIZES)}")
    n = WORLD_SIZES[size][task][split]
    if size == "paper" and PAPER_COUNTS[task][split][1] is not None:
        return n, PAPER_COUNTS[task][split][1]
    return n, int(round(n * POSITIVE_SHARE[task]))
