"""MJ-Bench (held out, pairwise): one parquet per perspective -> mjbench-<perspective> tasks.

Fields: `caption`, `image0`, `image1` (image structs {bytes, path}), `label` (index of the
preferred image, 0 or 1), `info` (subcategory). label 0 -> "1" (the first image), 1 -> "2".

MJ-Bench is a test set: every pair goes to `test`; `train` and `validation` are written empty (they
load as empty datasets; `mtrl-judge eval` refuses an empty split by name, so nothing is silently
scored on nothing). Its labels lean toward image0, which is why evaluation scores pairwise tasks in
both image orders.

Part of the alignment subset comes from ImageRewardDB prompts: `dedupe_against` names an imported
data folder whose train prompts (the `text` of every task's train split) are removed from MJ-Bench
before results are called out-of-domain; the dropped pairs are counted in the report.

The paper uses alignment and safety (registered tasks). quality and bias, when their files are
present, are registered here as mjbench-quality (capability quality) and mjbench-bias (capability
alignment). The publisher scores bias with fairness metrics rather than accuracy; it is imported as
pairs for completeness. Newer card revisions describe a v2 layout: this reads the v1 parquet files.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import JudgeError
from ...tasks import Task
from .base import (
    Adapter,
    AdapterResult,
    Example,
    ImportContext,
    Option,
    check_image,
    ensure_task,
    normalise_prompt,
    parquet_rows,
    parse_int_label,
    read_parquet,
    struct_image,
    training_prompts,
)

PERSPECTIVES = ("alignment", "safety", "quality", "bias")
REQUIRED = ("caption", "image0", "image1", "label")
EXTRA_TASKS = {
    "quality": Task(
        name="mjbench-quality",
        capability="quality",
        format="pairwise",
        question="Which image is of higher quality?",
        criterion="The better image is sharper and cleaner, with natural colours, lighting and anatomy and no artifacts.",
        source="MJ-Bench (quality)",
    ),
    "bias": Task(
        name="mjbench-bias",
        capability="alignment",
        format="pairwise",
        question="Which image matches the text better?",
        criterion="The better image shows what the text describes without adding demographic attributes the text does not state.",
        source="MJ-Bench (bias)",
    ),
}


def perspective_files(source: Path) -> dict[str, list[Path]]:
    """Parquet files per perspective: a file or folder whose name starts with the perspective."""
    files = [source] if source.is_file() else sorted(source.rglob("*.parquet"))
    found: dict[str, list[Path]] = {}
    for path in files:
        rel = path.relative_to(source).parts if source.is_dir() else (path.name,)
        for perspective in PERSPECTIVES:
            if any(part.lower().startswith(perspective) for part in rel):
                found.setdefault(perspective, []).append(path)
                break
    return found


def pair_labels(value, field_name: str) -> str:
    return "1" if parse_int_label(value, (0, 1), field_name) == 0 else "2"


def dedupe_set(dedupe_against: str) -> set[str]:
    if not dedupe_against:
        return set()
    folder = Path(dedupe_against)
    if not folder.is_dir():
        raise JudgeError(f"option dedupe_against: {folder}: data folder not found")
    prompts = training_prompts(folder)
    if not prompts:
        raise JudgeError(f"option dedupe_against: {folder}: no train texts found (is it an imported data folder?)")
    return prompts


class MJBenchAdapter(Adapter):
    name = "mjbench"
    description = "MJ-Bench pairwise preferences (held out): label 0 -> '1', 1 -> '2'; every pair in test"
    tasks = tuple(f"mjbench-{p}" for p in PERSPECTIVES)
    source_help = "the MJ-Bench folder with one parquet (or folder of parquets) per perspective: alignment, safety, quality, bias"
    options = (
        Option("perspectives", str, "", "comma-separated perspectives to import (default: every one present)"),
        Option("dedupe_against", str, "", "a data folder: drop pairs whose caption is among its train texts"),
    )

    def count_rows(self, source: Path, **_) -> int:
        return sum(parquet_rows(p) for paths in perspective_files(source).values() for p in paths)

    def read(self, source: Path, ctx: ImportContext, *, perspectives: str, dedupe_against: str) -> AdapterResult:
        found = perspective_files(source)
        wanted = [p.strip() for p in perspectives.split(",") if p.strip()] or [p for p in PERSPECTIVES if p in found]
        unknown = [p for p in wanted if p not in PERSPECTIVES]
        if unknown:
            raise JudgeError(f"option perspectives: unknown {', '.join(unknown)}; expected {', '.join(PERSPECTIVES)}")
        missing = [p for p in wanted if p not in found]
        if missing or not wanted:
            raise JudgeError(f"{source}: no parquet for perspective(s) {', '.join(missing or PERSPECTIVES)}")
        seen_prompts = dedupe_set(dedupe_against)
        tasks = {}
        for perspective in wanted:
            if perspective in EXTRA_TASKS:
                ensure_task(EXTRA_TASKS[perspective])
            task = f"mjbench-{perspective}"
            rows = [ex for path in found[perspective] for ex in self._read_file(path, task, seen_prompts, dedupe_against, ctx)]
            tasks[task] = {"train": [], "validation": [], "test": rows}
        return AdapterResult(tasks=tasks)

    def _read_file(self, path: Path, task: str, seen_prompts: set[str], dedupe_against: str, ctx: ImportContext) -> list[Example]:
        rows = []
        for index, rec in read_parquet(path, REQUIRED, ctx):

            def build(rec=rec, index=index) -> Example | None:
                caption = str(rec["caption"] or "").strip()
                label = pair_labels(rec["label"], "label")
                if seen_prompts and normalise_prompt(caption) in seen_prompts:
                    ctx.drop(f"{task}: caption among the train texts of {dedupe_against}")
                    return None
                images = [check_image(struct_image(rec[c], c), c) for c in ("image0", "image1")]
                return Example(
                    id=f"{task}-{path.stem}-{index}",
                    task=task,
                    images=images,
                    text=caption,
                    label=label,
                    source=f"mjbench:{path.name}",
                    score=None,
                    meta={"info": rec.get("info"), "label": rec["label"], "row": index},
                )

            example = ctx.attempt(path.name, index, build)
            if example is not None:
                rows.append(example)
            ctx.advance(1)
        return rows
