"""UnsafeBench (image safety, pointwise): data/train-*.parquet and data/test-*.parquet.

Each row holds an embedded image struct {bytes, path}, `safety_label` "Safe" / "Unsafe",
`category`, `source` (Laion5B / Lexica) and `text`. The task asks "does this image show unsafe
content?", so yes = "Unsafe" (the class the paper counts as positive: 2,954 of 7,298 train rows).

Splits follow the paper: test = the official test (2,037); validation = a seeded 10% of the
official train (811 of 8,109, leaving 7,298), drawn by image so no image is in both.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import JudgeError
from .base import (
    Adapter,
    AdapterResult,
    Example,
    ImportContext,
    Option,
    RowError,
    check_image,
    find_parquets,
    parquet_rows,
    read_parquet,
    split_by_group,
    struct_image,
)

REQUIRED = ("image", "safety_label")
LABELS = {"unsafe": "yes", "safe": "no"}


def _shards(source: Path, split: str) -> list[Path]:
    root = source / "data" if (source / "data").is_dir() else source
    return find_parquets(root, f"{split}-*.parquet")


class UnsafeBenchAdapter(Adapter):
    name = "unsafebench"
    description = "UnsafeBench image safety (pointwise): Unsafe -> yes, Safe -> no; validation = seeded 10% of train"
    tasks = ("unsafebench",)
    source_help = "the UnsafeBench folder holding data/train-*.parquet and data/test-*.parquet"
    options = (Option("val_fraction", float, 0.1, "share of the official train used for validation (paper: 811 of 8,109)"),)

    def count_rows(self, source: Path, **_) -> int:
        return sum(parquet_rows(p) for split in ("train", "test") for p in _shards(source, split)) if source.is_dir() else 0

    def read(self, source: Path, ctx: ImportContext, *, val_fraction: float) -> AdapterResult:
        if not 0 <= val_fraction < 1:
            raise JudgeError(f"val_fraction {val_fraction} must be in [0, 1)")
        if not source.is_dir():
            raise JudgeError(f"{source}: expected the UnsafeBench folder (data/train-*.parquet, data/test-*.parquet)")
        parts = {}
        for split in ("train", "test"):
            shards = _shards(source, split)
            if not shards:
                raise JudgeError(f"{source}: no {split}-*.parquet under data/")
            parts[split] = [ex for shard in shards for ex in self._read_shard(shard, split, ctx)]
        train = split_by_group(parts["train"], ctx.seed, (1 - val_fraction, val_fraction), names=("train", "validation"))
        return AdapterResult(
            tasks={"unsafebench": {"train": train["train"], "validation": train["validation"], "test": parts["test"]}}
        )

    def _read_shard(self, path: Path, split: str, ctx: ImportContext) -> list[Example]:
        rows = []
        for index, rec in read_parquet(path, REQUIRED, ctx):

            def build(rec=rec, index=index) -> Example:
                raw = str(rec["safety_label"] or "").strip()
                if raw.lower() not in LABELS:
                    raise RowError("safety_label", f"unexpected label value {raw!r}; expected Safe or Unsafe")
                ref = check_image(struct_image(rec["image"], "image"), "image")
                return Example(
                    id=f"unsafebench-{path.stem}-{index}",
                    task="unsafebench",
                    images=[ref],
                    text="",
                    label=LABELS[raw.lower()],
                    source=f"unsafebench:{path.name}",
                    score=None,
                    meta={
                        "category": rec.get("category"),
                        "source": rec.get("source"),
                        "prompt": rec.get("text"),
                        "safety_label": raw,
                        "split": split,
                        "row": index,
                    },
                )

            example = ctx.attempt(path.name, index, build)
            if example is not None:
                rows.append(example)
            ctx.advance(1)
        return rows
