"""How many rows each task and split gets at each world size, and how many of them are positive.

Class balance follows the paper's Table 1 (train positives / total per task); the `paper` size also
copies its row counts, and its test positives where the table gives them (docs/world.md lists them).
Pairwise tasks put the better image first in exactly half of the rows. World version 2 gives the
demo size's pointwise tasks 2,000 training rows (version 1: 400), and the training split can be drawn
label-balanced (`balance="even"`); validation and test always keep the paper's shares.
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
_DEMO_POINTWISE_V2 = {"train": 2000, "validation": 100, "test": 400}
_DEMO_PAIRWISE = {"train": 40, "validation": 100, "test": 400}
_TINY = {"train": 32, "validation": 16, "test": 16}

WORLD_SIZES: dict[str, dict[str, dict[str, int]]] = {
    "tiny": {t: dict(_TINY) for t in WORLD_TASKS},  # seconds; used by tests
    "demo": {t: dict(_DEMO_PAIRWISE if t in PAIRWISE else _DEMO_POINTWISE) for t in WORLD_TASKS},  # about a minute on 2 cores
    "paper": {t: {s: n for s, (n, _) in c.items()} for t, c in PAPER_COUNTS.items()},  # the paper's Table 1 counts
}


# version -> the sizes it draws differently from WORLD_SIZES (version 1: none, the original table).
SIZE_OVERRIDES: dict[int, dict[str, dict[str, dict[str, int]]]] = {
    1: {},
    2: {"demo": {t: dict(_DEMO_PAIRWISE if t in PAIRWISE else _DEMO_POINTWISE_V2) for t in WORLD_TASKS}},
}
BALANCES = ("paper", "even")


def sizes_for(version: int) -> dict[str, dict[str, dict[str, int]]]:
    """size -> task -> split -> rows, for one world version."""
    if version not in SIZE_OVERRIDES:
        raise JudgeError(f"unknown world version {version!r}; choose one of {', '.join(map(str, SIZE_OVERRIDES))}")
    return {**WORLD_SIZES, **SIZE_OVERRIDES[version]}


def split_counts(size: str, task: str, split: str, *, version: int = 2, balance: str = "paper") -> tuple[int, int]:
    """(rows, positives) for one task and split; exact, so class balance holds by construction.

    balance="even" makes the training split half positive (pointwise tasks); other splits keep the paper's shares.
    """
    sizes = sizes_for(version)
    if size not in sizes:
        raise JudgeError(f"unknown world size {size!r}; choose one of {', '.join(sizes)}")
    if balance not in BALANCES:
        raise JudgeError(f"unknown label balance {balance!r}; choose one of {', '.join(BALANCES)}")
    n = sizes[size][task][split]
    if balance == "even" and split == "train":
        return n, n // 2
    if size == "paper" and PAPER_COUNTS[task][split][1] is not None:
        return n, PAPER_COUNTS[task][split][1]
    return n, int(round(n * POSITIVE_SHARE[task]))
