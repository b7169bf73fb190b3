"""SeeTRUE (text-image alignment, pointwise): SeeTRUE.csv + images.zip or an images/ folder.

The publisher's loading script no longer runs on current `datasets`, so the CSV and the images are
read directly. SeeTRUE ships no split (its card asks that it be used as a test set); the paper's
5,544 / 693 / 693 is an 80/10/10 split of its 6,930 rows, made here seeded and by image.
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
    count_csv_rows,
    open_images,
    parse_int_label,
    read_csv,
    split_by_group,
)

COLUMNS = ("image", "text", "label", "original_dataset_id", "dataset_source")


def _csv_path(source: Path, csv_name: str) -> Path:
    return source if source.is_file() else source / csv_name


class SeeTrueAdapter(Adapter):
    name = "seetrue"
    description = "SeeTRUE text-image alignment (pointwise): label 1 -> yes, 0 -> no; seeded 80/10/10 split by image"
    tasks = ("seetrue",)
    source_help = "a folder holding SeeTRUE.csv and images.zip (or images/), or the CSV itself"
    options = (
        Option("csv_name", str, "SeeTRUE.csv", "CSV file name inside the source folder"),
        Option("val_fraction", float, 0.1, "share of images for validation (paper: 693 of 6,930)"),
        Option("test_fraction", float, 0.1, "share of images for test (paper: 693 of 6,930)"),
    )

    def count_rows(self, source: Path, *, csv_name: str, **_) -> int:
        path = _csv_path(source, csv_name)
        return count_csv_rows(path) if path.is_file() else 0

    def read(
        self, source: Path, ctx: ImportContext, *, csv_name: str, val_fraction: float, test_fraction: float
    ) -> AdapterResult:
        csv_path = _csv_path(source, csv_name)
        if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
            raise JudgeError(f"val_fraction {val_fraction} and test_fraction {test_fraction} must leave rows for train")
        images = open_images(csv_path.parent, "images.zip", "images")
        file = csv_path.name
        rows: list[Example] = []
        try:
            for line, rec in read_csv(csv_path, COLUMNS, ctx):

                def build(rec=rec, line=line) -> Example:
                    label = parse_int_label(rec["label"], (0, 1), "label")
                    name = (rec["image"] or "").strip()
                    if not name:
                        raise RowError("image", "is empty")
                    ref = images.find(name)
                    if ref is None:
                        raise RowError("image", f"{name} not found in {images.label}")
                    return Example(
                        id=f"seetrue-{line}",
                        task="seetrue",
                        images=[check_image(ref, "image")],
                        text=(rec["text"] or "").strip(),
                        label="yes" if label == 1 else "no",
                        source=f"seetrue:{file}",
                        score=None,
                        meta={
                            "image": name,
                            "original_dataset_id": rec["original_dataset_id"],
                            "dataset_source": rec["dataset_source"],
                            "line": line,
                        },
                    )

                key = f"{(rec.get('image') or '').strip()}\t{(rec.get('text') or '').strip()}"
                example = ctx.attempt(file, line, build, key=key, same="image and text")
                if example is not None:
                    rows.append(example)
                ctx.advance(1)
        finally:
            images.close()
        splits = split_by_group(rows, ctx.seed, (1 - val_fraction - test_fraction, val_fraction, test_fraction))
        return AdapterResult(tasks={"seetrue": splits})
