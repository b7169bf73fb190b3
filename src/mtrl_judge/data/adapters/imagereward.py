"""ImageRewardDB (human ratings of text-to-image outputs), made pointwise.

Layout: metadata-{train,validation,test}.parquet and images/{split}/{split}_{i}.zip holding .webp
files; the parquet's `image` (or `image_path`) field names the file. The publisher's splits are
kept: the paper's test is the whole official test split (2,720 images).

The binary label is not published. The paper reports 27% positives in train (1,690 / 6,194) and
22% in test (588 / 2,720): the top quarter of images. On the 1-7 integer `overall_rating` scale
the possible cuts are >= 5, >= 6 and >= 7; >= 7 ("excellent" only) keeps far fewer than a quarter
and >= 5 keeps everything rated above the middle (well over half of a reasonably rated set), so
the default is positive iff overall_rating >= 6. Not verified against the real ratings here:
compare the report's positive counts with the paper's and set --threshold if they differ.

The paper trains on ImageRewardDB's "1K" subset (6,194 train images). The metadata lists every
subset's images while a user downloads only some train zips, so a train row whose image is in none
of the zips present is left out and counted (not an error); in validation and test every image
must be present.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import JudgeError
from .base import (
    Adapter,
    AdapterResult,
    Example,
    ImportContext,
    Option,
    RowError,
    ZipImages,
    check_image,
    parquet_columns,
    parquet_rows,
    parse_float,
    read_parquet,
    struct_image,
)

SPLIT_FILES = {"train": "metadata-train.parquet", "validation": "metadata-validation.parquet", "test": "metadata-test.parquet"}
REQUIRED = ("prompt_id", "prompt", "rank", "overall_rating")
RATINGS = ("overall_rating", "image_text_alignment_rating", "fidelity_rating")
NOT_IN_SUBSET = "train image not in the train zips present (another ImageRewardDB subset)"


def _zips(source: Path, split: str, limit: int) -> list[Path]:
    folder = source / "images" / split
    found = sorted(
        folder.glob(f"{split}_*.zip"), key=lambda p: int(m.group(1)) if (m := re.search(r"_(\d+)\.zip$", p.name)) else 0
    )
    return found[:limit] if limit > 0 else found


class ImageRewardAdapter(Adapter):
    name = "imagereward"
    description = "ImageRewardDB ratings (pointwise): yes iff overall_rating >= threshold; official splits"
    tasks = ("imagereward",)
    source_help = "the ImageRewardDB folder holding metadata-{train,validation,test}.parquet and images/{split}/*.zip"
    options = (
        Option(
            "threshold", float, 6.0, "positive iff overall_rating >= this (1-7 scale; 6 gives about the paper's 27% positives)"
        ),
        Option("train_zips", int, 0, "import only images/train/train_1..N.zip (0: every train zip present)"),
    )

    def count_rows(self, source: Path, **_) -> int:
        return sum(parquet_rows(source / f) for f in SPLIT_FILES.values() if (source / f).is_file())

    def read(self, source: Path, ctx: ImportContext, *, threshold: float, train_zips: int) -> AdapterResult:
        if not source.is_dir():
            raise JudgeError(f"{source}: expected the ImageRewardDB folder (metadata-*.parquet and images/)")
        splits: dict[str, list[Example]] = {}
        for split, file in SPLIT_FILES.items():
            path = source / file
            if not path.is_file():
                raise JudgeError(f"{path}: not found (ImageRewardDB ships metadata-train/validation/test.parquet)")
            columns = parquet_columns(path)
            image_col = "image" if "image" in columns else "image_path" if "image_path" in columns else None
            if image_col is None:
                raise JudgeError(f"{file}: missing column(s) image (found: {', '.join(columns)})")
            zips = _zips(source, split, train_zips if split == "train" else 0)
            images = ZipImages(zips, label=", ".join(f"images/{split}/{z.name}" for z in zips) or f"images/{split}/ (no zips)")
            try:
                splits[split] = self._read_split(path, split, image_col, columns, images, threshold, ctx)
            finally:
                images.close()
        return AdapterResult(tasks={"imagereward": splits})

    def _read_split(
        self, path: Path, split: str, image_col: str, columns: list[str], images: ZipImages, threshold: float, ctx: ImportContext
    ) -> list[Example]:
        rows = []
        for index, rec in read_parquet(path, REQUIRED, ctx):

            def build(rec=rec, index=index) -> Example | None:
                value = rec[image_col]
                if isinstance(value, dict) and value.get("bytes"):
                    ref, name = struct_image(value, image_col), str(value.get("path") or "")
                else:
                    name = str(value or "").strip()
                    if not name:
                        raise RowError(image_col, "is empty")
                    ref = images.find(name)
                    if ref is None:
                        if split == "train":
                            ctx.drop(NOT_IN_SUBSET)
                            return None
                        raise RowError(image_col, f"{name} not found in {images.label}")
                rating = parse_float(rec["overall_rating"], "overall_rating")
                if not 1 <= rating <= 7:
                    raise RowError("overall_rating", f"{rating:g} is outside the 1-7 scale")
                ratings = {r: rec.get(r) for r in RATINGS if r in columns}
                stem = Path(name).stem if name else f"{split}-{index}"
                return Example(
                    id=f"imagereward-{stem}",
                    task="imagereward",
                    images=[check_image(ref, image_col)],
                    text=str(rec["prompt"] or "").strip(),
                    label="yes" if rating >= threshold else "no",
                    source=f"imagereward:{path.name}",
                    score=rating,
                    meta={
                        "prompt_id": rec["prompt_id"],
                        "rank": rec["rank"],
                        "ratings": ratings,
                        "image": name,
                        "classification": rec.get("classification"),
                        "split": split,
                    },
                )

            example = ctx.attempt(path.name, index, build)
            if example is not None:
                rows.append(example)
            ctx.advance(1)
        return rows
