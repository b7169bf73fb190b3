"""AGIN (naturalness of AI-generated images): one CSV + an image folder -> three pointwise tasks.

The CSV holds `filename`, `MOS_nat`, `MOS_tech`, `MOS_rat` (mean opinion scores, higher = better).
Each MOS column becomes its own task (agin-nat, agin-tech, agin-rat) with score = the MOS.

The binarisation is not published, so it is an option, applied per column:
- `median` (default): yes iff MOS >= the column's median over all imported images. This matches
  the paper's AGIN-Nat (2,440 / 2,399 in train, about 50/50) but NOT AGIN-Tech (29% positive) or
  AGIN-Rat (34%), which must have used another cut;
- `paper-share`: the cut that gives each column the paper's train positive share (Nat 50.4%,
  Tech 29.4%, Rat 34.1%), for reproducing Table 1's balance;
- `threshold`: yes iff MOS >= a fixed value per column (--nat-threshold, --tech-threshold,
  --rat-threshold), for a cut on the MOS scale itself.
The cut is computed over all images before splitting: it defines the label, it is not a model
fitted on the data, and one cut keeps the three splits' labels comparable.

AGIN ships no split: the paper's 4,839 / 605 / 605 is 80/10/10 of 6,049, made here seeded and by
image, with the same split for all three tasks.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

from ...errors import JudgeError
from .base import (
    Adapter,
    AdapterResult,
    Example,
    FolderImages,
    ImportContext,
    Option,
    RowError,
    check_image,
    count_csv_rows,
    parse_float,
    read_csv,
    split_by_group,
)

COLUMNS = {"agin-nat": "MOS_nat", "agin-tech": "MOS_tech", "agin-rat": "MOS_rat"}
PAPER_SHARE = {"agin-nat": 2440 / 4839, "agin-tech": 1422 / 4839, "agin-rat": 1652 / 4839}
RULES = ("median", "paper-share", "threshold")


def _csv_path(source: Path, csv_name: str) -> Path:
    if source.is_file():
        return source
    if csv_name:
        return source / csv_name
    found = sorted(source.glob("*.csv"))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise JudgeError(f"{source}: expected one CSV file (found: {names}); pass --csv-name")
    return found[0]


def _image_dir(csv_path: Path, image_dir: str) -> Path:
    base = csv_path.parent
    if image_dir:
        folder = Path(image_dir) if Path(image_dir).is_absolute() else base / image_dir
        if not folder.is_dir():
            raise JudgeError(f"{folder}: image folder not found")
        return folder
    for name in ("images", "imgs", "image"):
        if (base / name).is_dir():
            return base / name
    subdirs = [p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return subdirs[0] if len(subdirs) == 1 else base


def cut(values: list[float], rule: str, share: float | None = None, threshold: float | None = None) -> float:
    """The MOS at or above which an image is positive, for one column."""
    if rule == "median":
        return statistics.median(values)
    if rule == "threshold":
        return float(threshold)
    ordered = sorted(values, reverse=True)
    k = min(max(round(share * len(ordered)), 1), len(ordered))
    return ordered[k - 1]


class AginAdapter(Adapter):
    name = "agin"
    description = "AGIN naturalness MOS -> agin-nat, agin-tech, agin-rat (pointwise); seeded 80/10/10 split by image"
    tasks = tuple(COLUMNS)
    source_help = "a folder holding the AGIN CSV (filename, MOS_nat, MOS_tech, MOS_rat) and its image folder, or the CSV"
    options = (
        Option("rule", str, "median", "binarisation per MOS column: median, paper-share or threshold", choices=RULES),
        Option("nat_threshold", float, None, "with --rule threshold: yes iff MOS_nat >= this"),
        Option("tech_threshold", float, None, "with --rule threshold: yes iff MOS_tech >= this"),
        Option("rat_threshold", float, None, "with --rule threshold: yes iff MOS_rat >= this"),
        Option("csv_name", str, "", "CSV file name in the source folder (default: the only .csv there)"),
        Option(
            "image_dir",
            str,
            "",
            "image folder, relative to the CSV (default: images/, imgs/, the only subfolder, or the CSV's folder)",
        ),
        Option("val_fraction", float, 0.1, "share of images for validation (paper: 605 of 6,049)"),
        Option("test_fraction", float, 0.1, "share of images for test (paper: 605 of 6,049)"),
    )

    def count_rows(self, source: Path, *, csv_name: str, **_) -> int:
        try:
            return count_csv_rows(_csv_path(source, csv_name))
        except (JudgeError, OSError):
            return 0

    def read(
        self,
        source: Path,
        ctx: ImportContext,
        *,
        rule: str,
        nat_threshold: float | None,
        tech_threshold: float | None,
        rat_threshold: float | None,
        csv_name: str,
        image_dir: str,
        val_fraction: float,
        test_fraction: float,
    ) -> AdapterResult:
        thresholds = {"agin-nat": nat_threshold, "agin-tech": tech_threshold, "agin-rat": rat_threshold}
        if rule == "threshold" and None in thresholds.values():
            missing = [f"--{t.split('-')[1]}-threshold" for t, v in thresholds.items() if v is None]
            raise JudgeError(f"agin: --rule threshold needs {', '.join(missing)}")
        if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
            raise JudgeError(f"val_fraction {val_fraction} and test_fraction {test_fraction} must leave rows for train")
        csv_path = _csv_path(source, csv_name)
        images = FolderImages(_image_dir(csv_path, image_dir))
        file = csv_path.name
        base: list[Example] = []
        for line, rec in read_csv(csv_path, ("filename", *COLUMNS.values()), ctx):

            def build(rec=rec, line=line) -> Example:
                name = (rec["filename"] or "").strip()
                if not name:
                    raise RowError("filename", "is empty")
                mos = {task: parse_float(rec[col], col) for task, col in COLUMNS.items()}
                ref = images.find(name)
                if ref is None:
                    raise RowError("filename", f"{name} not found in {images.label}")
                return Example(
                    id=f"agin-{Path(name).stem}",
                    task="agin-nat",
                    images=[check_image(ref, "filename")],
                    text="",
                    label="yes",
                    source=f"agin:{file}",
                    meta={"filename": name, "line": line, "mos": mos},
                )

            example = ctx.attempt(file, line, build)
            if example is not None:
                base.append(example)
            ctx.advance(1)

        splits = split_by_group(base, ctx.seed, (1 - val_fraction - test_fraction, val_fraction, test_fraction))
        tasks: dict[str, dict[str, list[Example]]] = {}
        cuts = {}
        for task in COLUMNS:
            values = [ex.meta["mos"][task] for ex in base]
            cuts[task] = cut(values, rule, PAPER_SHARE[task], thresholds[task]) if values else 0.0
            tasks[task] = {
                split: [
                    dataclasses.replace(
                        ex,
                        id=ex.id.replace("agin-", f"{task}-", 1),
                        task=task,
                        score=ex.meta["mos"][task],
                        label="yes" if ex.meta["mos"][task] >= cuts[task] else "no",
                        meta={**ex.meta, "cut": cuts[task], "rule": rule},
                    )
                    for ex in rows
                ]
                for split, rows in splits.items()
            }
        ctx.notes.append("agin cuts (yes iff MOS >= cut): " + ", ".join(f"{t} {c:g}" for t, c in cuts.items()))
        return AdapterResult(tasks=tasks)
