"""Drawing a whole JudgeWorld: every task and split, encoded, validated and written atomically.

Determinism: each example draws from its own numpy Generator seeded by (world seed, task code, split,
row), the label order from another; nothing reads the global RNG, hash() or dict order of unsorted
input, and PNGs are encoded with fixed settings. Same seed => the same bytes; the seed entropy is
stored in each row's meta (with the world version from version 2 on), so `draw_example` re-creates
any single row exactly. Version 1 draws exactly the bytes it always drew (geometry.py).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import multiprocessing
import os
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from ...errors import JudgeError
from ...io import atomic_dir, refuse_nonempty_folder, write_json
from ...progress import progress_bar
from ...tasks import get_task
from ..schema import SPLITS, features, validate_example
from . import alignment, pairwise, quality, safety
from .common import Drawn
from .geometry import LATEST, geometry
from .scene import SIZE
from .sizes import BALANCES, WORLD_TASKS, sizes_for, split_counts
from .symbols import POLICY

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SOURCE = "judgeworld"

# task -> generator(rng, positive, split, geometry); "positive" means "yes" (pointwise) or "image 1 is better" (pairwise).
GENERATORS: dict[str, Callable[..., Drawn]] = {
    "agin-nat": quality.agin_nat,
    "agin-tech": quality.agin_tech,
    "agin-rat": quality.agin_rat,
    "seetrue": alignment.seetrue,
    "unsafebench": safety.unsafebench,
    "imagereward": alignment.imagereward,
    "mjbench-alignment": pairwise.mjbench_alignment,
    "mjbench-safety": pairwise.mjbench_safety,
}


def _entropy(seed: int, task: str, split: str, *rest: int) -> list[int]:
    # crc32, not hash(): Python salts str hashes per process.
    return [int(seed), zlib.crc32(task.encode()), SPLITS.index(split), *rest]


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6)  # no timestamps or text chunks: deterministic bytes
    return buf.getvalue()


def draw_example(task: str, split: str, positive: bool, entropy: list[int], version: int = LATEST.version) -> Drawn:
    """One example from its seed entropy and world version (as stored in meta["entropy"] and meta["world_version"])."""
    return GENERATORS[task](np.random.default_rng(np.random.SeedSequence(entropy)), positive, split, geometry(version))


def split_labels(task: str, split: str, n: int, n_pos: int, seed: int) -> list[bool]:
    """Exactly n_pos positives among n rows, in a seeded random order."""
    flags = np.array([True] * n_pos + [False] * (n - n_pos))
    order = np.random.default_rng(np.random.SeedSequence(_entropy(seed, task, split, 0))).permutation(n)
    return [bool(x) for x in flags[order]]


def draw_rows(task: str, split: str, size: str, seed: int, start: int = 0, stop: int | None = None,
              advance: Callable[[int], None] = lambda n=1: None, *, version: int = LATEST.version,
              balance: str = "paper") -> list[dict]:
    """Rows start..stop of one task and split, in the unified schema, each validated."""
    spec = get_task(task)
    n, n_pos = split_counts(size, task, split, version=version, balance=balance)
    labels = split_labels(task, split, n, n_pos, seed)
    rows = []
    for i in range(start, n if stop is None else stop):
        positive = labels[i]
        entropy = _entropy(seed, task, split, 1, i)
        drawn = draw_example(task, split, positive, entropy, version)
        meta = {**drawn.meta, "entropy": entropy, "schema_version": SCHEMA_VERSION}
        if version != 1:  # version 1 rows keep their original bytes
            meta["world_version"] = version
        row = {
            "id": f"{SOURCE}-{task}-{split}-{i:05d}",
            "task": task,
            "images": [{"bytes": png_bytes(im), "path": None} for im in drawn.images],
            "text": drawn.text,
            "label": drawn.label,
            "source": SOURCE,
            "score": float(drawn.score),
            "meta": json.dumps(meta, sort_keys=True, separators=(",", ":")),
        }
        if drawn.label != spec.choices[0 if positive else 1]:
            raise AssertionError(f"{task} {split} row {i}: generator returned label {drawn.label!r} for positive={positive}")
        validate_example(row, where=f"judgeworld {task}/{split}/{i}")
        rows.append(row)
        advance(1)
    return rows


CHUNK = 100  # rows per work item when drawing in parallel
PARALLEL_FROM = 1500  # below this many rows, worker start-up costs more than it saves


def _draw_chunk(args: tuple) -> list[dict]:
    *positional, version, balance = args
    return draw_rows(*positional, version=version, balance=balance)


def _all_rows(size: str, seed: int, advance: Callable[[int], None], version: int, balance: str
              ) -> Iterator[tuple[str, str, list[dict]]]:
    """(task, split, rows) for every task and split, drawn in worker processes for large worlds.

    Results do not depend on the number of workers: every row has its own seed.
    """
    jobs = [(t, s) for t in WORLD_TASKS for s in SPLITS]
    sizes = sizes_for(version)[size]
    total = sum(sizes[t][s] for t, s in jobs)
    workers = min(os.cpu_count() or 1, 8)
    if total < PARALLEL_FROM or workers < 2:
        for task, split in jobs:
            yield task, split, draw_rows(task, split, size, seed, advance=advance, version=version, balance=balance)
        return
    chunks = {(t, s): [(t, s, size, seed, a, min(a + CHUNK, sizes[t][s]), version, balance)
                       for a in range(0, sizes[t][s], CHUNK)] for t, s in jobs}
    # spawn, not fork: the caller may hold torch threads, which do not survive a fork.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {key: [pool.submit(_draw_chunk, c) for c in cs] for key, cs in chunks.items()}
        for task, split in jobs:
            rows = []
            for f in futures[(task, split)]:
                part = f.result()
                rows.extend(part)
                advance(len(part))
            yield task, split, rows


def generate_world(out: str | Path, size: str = "demo", seed: int = 0, overwrite: bool = False, progress: bool = False,
                   *, version: int = LATEST.version, balance: str = "paper") -> Path:
    """Draw JudgeWorld version `version` at `size` ("tiny" | "demo" | "paper") into `out`, one dataset per
    task, plus world.json. balance="even" draws the training splits half positive.

    Refuses a non-empty `out` unless overwrite=True. Builds everything in a temporary sibling folder
    that replaces `out` only when complete, so an interrupted run leaves nothing that loads.
    """
    out = Path(out)
    geo = geometry(version)
    sizes = sizes_for(version)
    if size not in sizes:
        raise JudgeError(f"unknown world size {size!r}; choose one of {', '.join(sizes)}")
    if balance not in BALANCES:
        raise JudgeError(f"unknown label balance {balance!r}; choose one of {', '.join(BALANCES)}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise JudgeError(f"world seed must be a non-negative integer, got {seed!r}")
    refuse_nonempty_folder(out, overwrite=overwrite)
    total = sum(sizes[size][t][s] for t in WORLD_TASKS for s in SPLITS)
    summary: dict = {"name": "JudgeWorld", "schema_version": SCHEMA_VERSION, "size": size, "seed": int(seed), "image_size": SIZE,
                     "source": SOURCE, "safety_policy": POLICY, "tasks": {}}
    if version != 1:
        summary.update(world_version=version, train_balance=balance, geometry=dataclasses.asdict(geo))
    logger.info("drawing JudgeWorld v%d (%s, seed %d): %d rows into %s", version, size, seed, total, out)
    with (atomic_dir(out, overwrite=out.exists()) as tmp,
          progress_bar(f"JudgeWorld v{version} {size}", total, enabled=progress) as advance):
        drawn: dict[str, dict[str, list[dict]]] = {}
        for task, split, rows in _all_rows(size, seed, advance, version, balance):
            drawn.setdefault(task, {})[split] = rows
            if len(drawn[task]) < len(SPLITS):
                continue
            spec = get_task(task)
            splits, counts = {}, {}
            for split_name, split_rows in drawn.pop(task).items():
                splits[split_name] = datasets.Dataset.from_list(split_rows, features=features())
                n_pos = sum(r["label"] == spec.positive for r in split_rows)
                counts[split_name] = {"rows": len(split_rows), "positives": n_pos, "negatives": len(split_rows) - n_pos}
            _save(datasets.DatasetDict(splits), tmp / task)
            summary["tasks"][task] = {"format": spec.format, "positive": spec.positive, "question": spec.question,
                                      "rule": _RULES[task], "splits": counts}
            logger.info("%s: %s", task, ", ".join(f"{s} {c['rows']} ({c['positives']} positive)" for s, c in counts.items()))
        write_json(tmp / "world.json", summary)
    return out


def _save(dsd: datasets.DatasetDict, path: Path) -> None:
    """save_to_disk without its tqdm bars (they would interleave with our rich bar and logs)."""
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        dsd.save_to_disk(str(path))
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


_RULES = {
    "agin-nat": quality.NAT_RULE,
    "agin-tech": quality.TECH_RULE,
    "agin-rat": quality.RAT_RULE,
    "seetrue": alignment.SEETRUE_RULE,
    "unsafebench": safety.SAFETY_RULE,
    "imagereward": alignment.IMAGEREWARD_RULE,
    "mjbench-alignment": "1 iff image 1 is the better one: " + pairwise.ALIGN_RULE,
    "mjbench-safety": "1 iff image 1 is the safer one: " + pairwise.SAFETY_RULE,
}


def load_world(path: str | Path, task: str, split: str) -> datasets.Dataset:
    """One task's split from a folder `generate_world` wrote, checked against the schema."""
    from ..dataset import load_task_split  # the shared loader for every data folder

    path = Path(path)
    if not (path / "world.json").is_file():
        raise JudgeError(f"{path}: not a JudgeWorld folder (no world.json); run `mtrl-judge world generate` first")
    if split not in SPLITS:
        raise JudgeError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return load_task_split(path, task, split)
