"""GenAI-Bench image_generation (TIGER-Lab; held out, pairwise): arena votes -> task genai-bench.

Fields: `prompt`, `left_image`, `right_image` (image structs), `vote_type`. The publisher's values
are GenAI-Arena's `leftvote`, `rightvote`, `tievote`, `bothbad_vote`; the plain spellings left /
right / tie / both bad are accepted too. leftvote -> "1" (the left image is better), rightvote -> "2".

Ties and both-bad votes have no answer among a pairwise task's choices ("1" / "2"), so they are
left out of the task and counted in the report. Inventing a "1" or "2" for them would be
dishonest, and a third choice would change what a pairwise judge is asked. With `keep_ties` they
are also saved, with label "tie" or "both-bad", to OUT/extras/genai-bench-ties/ (a plain dataset in
the same schema, not a task folder: train and eval never read it), for the publisher's 4-way
accuracy computed outside this tool. Every vote goes to test.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import JudgeError
from ...tasks import Task
from .base import (
    Adapter,
    AdapterResult,
    Example,
    ImportContext,
    Option,
    RowError,
    check_image,
    ensure_task,
    normalise_prompt,
    parquet_rows,
    read_parquet,
    struct_image,
)
from .mjbench import dedupe_set

REQUIRED = ("prompt", "left_image", "right_image", "vote_type")
VOTES = {
    "leftvote": "1",
    "left": "1",
    "rightvote": "2",
    "right": "2",
    "tievote": "tie",
    "tie": "tie",
    "bothbadvote": "both-bad",
    "bothbad": "both-bad",
}
TIES_EXTRA = "genai-bench-ties"
TASK = Task(
    name="genai-bench",
    capability="alignment",
    format="pairwise",
    question="Which image is better for the prompt?",
    criterion="Human voters preferred it: it follows the prompt and is better made.",
    source="GenAI-Bench (image generation)",
)


def vote(value) -> str:
    """'1', '2', 'tie' or 'both-bad' from any accepted spelling; a RowError otherwise."""
    key = re.sub(r"[\s_\-]", "", str(value or "").lower())
    if key not in VOTES:
        raise RowError("vote_type", f"unexpected label value {value!r}; expected leftvote, rightvote, tievote or bothbad_vote")
    return VOTES[key]


def genai_files(source: Path) -> list[Path]:
    """The image_generation parquet shards (all parquet files when none is named so)."""
    if source.is_file():
        return [source]
    files = sorted(source.rglob("*.parquet"))
    named = [p for p in files if "image_generation" in str(p.relative_to(source))]
    return named or files


class GenAIBenchAdapter(Adapter):
    name = "genai-bench"
    description = "GenAI-Bench image_generation votes (pairwise, held out): leftvote -> '1', rightvote -> '2'; ties dropped"
    tasks = ("genai-bench",)
    source_help = "the GenAI-Bench folder (its image_generation parquet files) or one parquet file"
    options = (
        Option("keep_ties", bool, False, "also save tie / both-bad votes to OUT/extras/genai-bench-ties (not a task)"),
        Option("dedupe_against", str, "", "a data folder: drop votes whose prompt is among its train texts"),
    )

    def count_rows(self, source: Path, **_) -> int:
        return sum(parquet_rows(p) for p in genai_files(source)) if source.exists() else 0

    def read(self, source: Path, ctx: ImportContext, *, keep_ties: bool, dedupe_against: str) -> AdapterResult:
        files = genai_files(source)
        if not files:
            raise JudgeError(f"{source}: no parquet files found")
        ensure_task(TASK)
        seen_prompts = dedupe_set(dedupe_against)
        rows: list[Example] = []
        ties: list[Example] = []
        for path in files:
            for index, rec in read_parquet(path, REQUIRED, ctx):

                def build(rec=rec, index=index, path=path) -> Example | None:
                    label = vote(rec["vote_type"])
                    prompt = str(rec["prompt"] or "").strip()
                    if seen_prompts and normalise_prompt(prompt) in seen_prompts:
                        ctx.drop(f"genai-bench: prompt among the train texts of {dedupe_against}")
                        return None
                    images = [check_image(struct_image(rec[c], c), c) for c in ("left_image", "right_image")]
                    meta = {k: rec.get(k) for k in ("vote_type", "left_model", "right_model", "tstamp", "judge") if k in rec}
                    example = Example(
                        id=f"genai-bench-{path.stem}-{index}",
                        task="genai-bench",
                        images=images,
                        text=prompt,
                        label=label,
                        source=f"genai-bench:{path.name}",
                        score=None,
                        meta={**meta, "row": index},
                    )
                    if label in ("tie", "both-bad"):
                        ctx.drop(f"genai-bench: {label} votes" + (f" (kept in extras/{TIES_EXTRA})" if keep_ties else ""))
                        if keep_ties:
                            ties.append(example)
                        return None
                    return example

                example = ctx.attempt(path.name, index, build)
                if example is not None:
                    rows.append(example)
                ctx.advance(1)
        return AdapterResult(
            tasks={"genai-bench": {"train": [], "validation": [], "test": rows}}, extras={TIES_EXTRA: ties} if keep_ties else {}
        )
