"""`import_dataset`: run one adapter, write DATA/<task>/ DatasetDicts atomically, report counts.

The output folder is built in a temporary sibling and renamed into place only when every row has
been read, checked and written (mtrl_judge.io.atomic_dir), so a failed or killed import leaves
nothing that `load_task_split` would load. OUT/import_report.json records the options, our counts
beside the paper's Table 1, every skipped row, and every row left out on purpose.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ...errors import JudgeError
from ...io import atomic_dir, atomic_file, check_output_folder, refuse_nonempty_folder, write_json
from ...progress import progress_bar
from ...tasks import HELDOUT_TASKS, PAPER_TASKS, get_task
from ..schema import SPLITS, features
from .base import PAPER_COUNTS, Adapter, Example, ImportContext

logger = logging.getLogger(__name__)

REPORT_FILE = "import_report.json"
TASKS_FILE = "tasks.yaml"  # non-built-in tasks the import registered
EXTRAS_DIR = "extras"  # side datasets that are not tasks (train/eval never read them)
ON_ERROR = ("fail", "skip")


@dataclass
class ImportReport:
    """The outcome of one import: counts per task and split (ours and the paper's), skipped rows,
    rows left out on purpose, and image overlap between splits (0 wherever we made the split)."""

    dataset: str
    source: str
    out: str
    options: dict
    counts: dict[str, dict[str, dict[str, int]]]
    paper: dict[str, dict[str, dict[str, int]]]
    skipped: list[dict] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    split_overlap: dict[str, int] = field(default_factory=dict)
    extras: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def tasks(self) -> list[str]:
        return list(self.counts)

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "source": self.source,
            "out": self.out,
            "options": self.options,
            "counts": self.counts,
            "paper": self.paper,
            "skipped_rows": len(self.skipped),
            "skipped": self.skipped,
            "dropped": self.dropped,
            "split_overlap": self.split_overlap,
            "extras": self.extras,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
        }

    def table(self) -> list[str]:
        """One line per task and split: ours (positives/negatives) and the paper's, for Table 1."""

        def cell(c: dict | None) -> str:
            if not c:
                return "-"
            if "positives" in c:
                return f"{c['rows']:,} ({c['positives']:,}/{c['negatives']:,})"
            return f"{c['rows']:,}"

        lines = [f"{'task':<20} {'split':<11} {'ours (pos/neg)':>22} {'paper (pos/neg)':>22}"]
        for task, splits in self.counts.items():
            for split in SPLITS:
                lines.append(
                    f"{task:<20} {split:<11} {cell(splits.get(split)):>22} {cell(self.paper.get(task, {}).get(split)):>22}"
                )
        return lines


def _counts(rows: list[Example], task: str) -> dict[str, int]:
    positive = get_task(task).positive
    pos = sum(ex.label == positive for ex in rows)
    return {"rows": len(rows), "positives": pos, "negatives": len(rows) - pos}


def _overlap(splits: dict[str, list[Example]]) -> int:
    """Distinct images that appear in more than one split (by content digest)."""
    seen: dict[str, set[str]] = {}
    for split, rows in splits.items():
        for ex in rows:
            for im in ex.images:
                seen.setdefault(im.digest or im.name, set()).add(split)
    return sum(len(s) > 1 for s in seen.values())


def _write_split(rows: list[Example], path: Path, staging: Path, advance):
    """Stream rows through an ArrowWriter (one image in memory at a time) and open the result (a Dataset)."""
    import datasets
    from datasets.arrow_writer import ArrowWriter

    staging.mkdir(parents=True, exist_ok=True)
    arrow = staging / f"{path.parent.name}-{path.name}.arrow"
    schema = features()
    writer = ArrowWriter(features=schema, path=str(arrow))
    try:
        for ex in rows:
            row = ex.schema_row()
            row["images"] = [{"bytes": im.read(), "path": im.name} for im in ex.images]
            writer.write(schema.encode_example(row))
            advance(1)
        writer.finalize()
    finally:
        writer.close()
    return datasets.Dataset.from_file(str(arrow))


def _write_task(splits: dict[str, list[Example]], folder: Path, staging: Path, advance) -> None:
    import datasets

    parts = {split: _write_split(splits.get(split, []), folder / split, staging, advance) for split in SPLITS}
    # An empty split saved with the default sharding has no data file and fails to load
    # (datasets 5.2); one explicit shard keeps it loadable as an empty dataset.
    datasets.DatasetDict(parts).save_to_disk(str(folder), num_shards={s: 1 for s, ds in parts.items() if len(ds) == 0} or None)


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Hide datasets' own per-split save bars while ours runs (restored afterwards)."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _write_task_file(folder: Path, tasks: list[str]) -> None:
    """OUT/tasks.yaml declaring the tasks this import registered itself (genai-bench,
    mjbench-quality, mjbench-bias): another process knows only the built-in tasks, so
    `mtrl-judge eval --tasks-file OUT/tasks.yaml` registers them again."""
    extra = [get_task(t).to_dict() for t in tasks if t not in (*PAPER_TASKS, *HELDOUT_TASKS)]
    if extra:
        with atomic_file(folder / TASKS_FILE) as f:
            f.write("# Tasks the import registered; pass this file to --tasks-file.\n")
            yaml.safe_dump({"tasks": extra}, f, sort_keys=False, allow_unicode=True)


def _resolve_options(adapter: Adapter, options: dict) -> dict:
    known = {o.name: o for o in adapter.options}
    unknown = sorted(k for k, v in options.items() if k not in known and v is not None)
    if unknown:
        names = ", ".join(o.flag for o in adapter.options) or "none"
        raise JudgeError(f"{adapter.name}: unknown option(s) {', '.join(unknown)}; options: {names}")
    resolved = {}
    for name, opt in known.items():
        value = options.get(name)
        resolved[name] = opt.default if value is None else opt.coerce(value)
    return resolved


def import_dataset(
    name: str,
    source: str | Path,
    out: str | Path,
    *,
    on_error: str = "fail",
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
    **options,
) -> ImportReport:
    """Import publisher files at `source` as dataset `name` into the data folder `out`.

    Args:
        name: an adapter name (see ADAPTERS): seetrue, imagereward, unsafebench, agin, mjbench, genai-bench.
        source: the publisher's file or folder, as downloaded (see docs/datasets.md).
        out: the data folder to write; it must be absent or empty unless `overwrite`.
        on_error: "fail" stops at the first bad row with FILE:ROW: field 'NAME': reason;
            "skip" skips bad rows, counts them and lists them in OUT/import_report.json.
        seed: seeds every split this tool makes (publishers' own splits are kept as published).
        overwrite: replace a non-empty `out` (only once the new import has fully succeeded).
        progress: show progress bars on stderr.
        **options: the adapter's own options (ADAPTERS[name].options); None means the default.

    Returns the ImportReport (also written to OUT/import_report.json and logged as a table).
    """
    from . import ADAPTERS

    start = time.time()
    if name not in ADAPTERS:
        raise JudgeError(f"unknown dataset {name!r}; known: {', '.join(sorted(ADAPTERS))}")
    if on_error not in ON_ERROR:
        raise JudgeError(f"on_error is {on_error!r}; expected fail or skip")
    adapter = ADAPTERS[name]
    source, out = Path(source), Path(out)
    if not source.exists():
        raise JudgeError(f"{source}: source not found ({adapter.source_help})")
    opts = _resolve_options(adapter, options)
    # Refused before any row is read, not after; atomic_dir builds the folder beside OUT, so its parent must be writable.
    refuse_nonempty_folder(out, overwrite=overwrite)
    check_output_folder(out, what="output folder", replaced=True)

    ctx = ImportContext(on_error=on_error, seed=seed)
    total = adapter.count_rows(source, **opts)
    with progress_bar(f"reading {name}", total, enabled=progress) as advance:
        ctx.advance = advance
        result = adapter.read(source, ctx, **opts)

    counts = {task: {split: _counts(splits.get(split, []), task) for split in SPLITS} for task, splits in result.tasks.items()}
    report = ImportReport(
        dataset=name,
        source=str(source),
        out=str(out),
        options={"on_error": on_error, "seed": seed, **opts},
        counts=counts,
        paper={t: PAPER_COUNTS[t] for t in result.tasks if t in PAPER_COUNTS},
        skipped=ctx.skipped,
        dropped=ctx.dropped,
        split_overlap={t: _overlap(s) for t, s in result.tasks.items()},
        extras={k: len(v) for k, v in result.extras.items()},
        notes=ctx.notes,
    )
    if not any(c["rows"] for splits in counts.values() for c in splits.values()):
        raise JudgeError(f"{source}: no usable rows ({len(ctx.skipped)} skipped); nothing written")

    n_rows = sum(len(rows) for splits in result.tasks.values() for rows in splits.values()) + sum(
        map(len, result.extras.values())
    )
    with (
        _quiet_datasets(),
        atomic_dir(out, overwrite=True) as tmp,
    ):  # _check_out already refused a non-empty OUT without overwrite
        staging = tmp / ".staging"
        with progress_bar(f"writing {name}", n_rows, enabled=progress) as advance:
            for task, splits in result.tasks.items():
                _write_task(splits, tmp / task, staging / task, advance)
            for extra, rows in result.extras.items():
                _write_split(rows, tmp / EXTRAS_DIR / extra, staging / EXTRAS_DIR, advance).save_to_disk(
                    str(tmp / EXTRAS_DIR / extra), num_shards=None if rows else 1
                )
        shutil.rmtree(staging, ignore_errors=True)
        _write_task_file(tmp, list(result.tasks))
        report.seconds = time.time() - start
        write_json(tmp / REPORT_FILE, report.to_dict())

    logger.info("imported %s into %s (%.1fs):\n%s", name, out, report.seconds, "\n".join(report.table()))
    if ctx.skipped:
        logger.warning("%d bad row(s) skipped; listed in %s", len(ctx.skipped), out / REPORT_FILE)
    for reason, n in ctx.dropped.items():
        logger.info("left out %d row(s): %s", n, reason)
    for task, n in report.split_overlap.items():
        if n:
            logger.warning("%s: %d image(s) appear in more than one of the publisher's splits", task, n)
    return report
