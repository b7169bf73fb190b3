"""Can a judge learn to notice one kind of evidence when it is the only thing to notice? SFT on one cause's slice.

A SeeTRUE judge trained on all of its rows catches colour edits nine times in ten and shape edits one time in ten,
scoring shape-edited captions exactly as true ones (ROC-AUC 0.46-0.50; docs/base.md). That can mean the judge cannot
learn the check from its labels at all, or that the check is learned too slowly to show among the easier ones. This
takes the easier ones away: it keeps a task's positives and the negatives made by one cause only (`--cause shape`: a
caption whose one edit is a shape; the cause as `by_cause` names it, data/world/causes.py), train and validation
splits (the test split is not copied), trains SFT-Single (the CPU recipe, answer only, labels balanced) on that slice
from each base given, and prints each run's validation macro-F1 and ROC-AUC of P(yes) at every validation step.
A ROC-AUC that rises above 0.5 and keeps rising is a check being learned; one that stays near 0.5 while the training
loss falls is memorising.

    .venv/bin/python benchmarks/cause_learnability.py --data runs/world-paper --task seetrue --cause shape \\
        --model default=models/base-small-p8-v3 --model warmed=runs/base-v3-tower-1200 --freeze-tower [--json]

Each `--model NAME=PATH` trains one judge into `--out`/NAME (one at a time; about 2-3 s a step on one CPU thread).
`--freeze-tower` trains with the base's vision tower kept as it is (the recipe field `freeze_vision_tower`).
With --json it prints one JSON object: {"data", "task", "cause", "slice": {split: {"positives", "negatives"}},
"runs": {NAME: {"model", "freeze_tower", "validation": [{"step", "macro_f1", "roc_auc", "yes_share"}]}}}.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

from datasets import DatasetDict, load_from_disk

from mtrl_judge.data.world.causes import NONE, cause_of
from mtrl_judge.io import write_json
from mtrl_judge.recipes import recipe_file
from mtrl_judge.train.config import load_recipe
from mtrl_judge.train.run import train

logger = logging.getLogger("cause_learnability")


def write_slice(data: Path, task: str, cause: str, out: Path) -> dict:
    """`out` as a world folder holding `task` only: its positives and the negatives whose cause is `cause`, train and
    validation (the test split is left empty so that nothing here can read it). Returns the slice's label counts."""
    splits = load_from_disk(str(data / task))
    world = json.loads((data / "world.json").read_text())
    positive = world["tasks"][task]["positive"]

    def keep(row: dict) -> bool:
        return row["label"] == positive or cause_of(row["meta"]) == cause

    kept = DatasetDict({s: splits[s].filter(keep) for s in ("train", "validation")}
                       | {"test": splits["test"].select(range(0))})
    counts = {}
    for split, rows in kept.items():
        positives = sum(label == positive for label in rows["label"])
        counts[split] = {"positives": positives, "negatives": len(rows) - positives}
        world["tasks"][task]["splits"][split] = {"rows": len(rows), **counts[split]}
    if not counts["train"]["negatives"]:
        raise SystemExit(f"{data / task}: no train row of cause {cause!r} (causes are named as `by_cause` names them)")
    if out.exists():
        shutil.rmtree(out)
    kept.save_to_disk(str(out / task))
    world["tasks"] = {task: world["tasks"][task]}
    world["note"] = f"a slice for benchmarks/cause_learnability.py: positives and {cause!r} negatives of {data}"
    write_json(out / "world.json", world)
    return counts


def validation_curve(run: Path, task: str) -> list[dict]:
    """The validation points of a training run's metrics.jsonl."""
    points = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if f"val/{task}/macro_f1" in row:
            points.append({"step": row["step"], "macro_f1": round(row[f"val/{task}/macro_f1"], 3),
                           "roc_auc": round(row.get(f"val/{task}/roc_auc", float("nan")), 3),
                           "yes_share": round(row.get(f"val/{task}/answer_share/yes", float("nan")), 3)})
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("runs/world-paper"), help="a JudgeWorld folder")
    parser.add_argument("--task", default="seetrue")
    parser.add_argument("--cause", default="shape", help="the negatives kept, named as by_cause names them")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="a base to train a judge from (repeatable; default: default=models/base-small-p8-v3)")
    parser.add_argument("--freeze-tower", action="store_true", help="keep each base's vision tower as it is")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--learning-rate", type=float, default=1e-4,
                        help="1e-4: the rate at which SFT-Single learns SeeTRUE at all (docs/base.md)")
    parser.add_argument("--val-every", type=int, default=200)
    parser.add_argument("--val-examples", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-cause-learnability"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.cause == NONE:
        parser.error("--cause: 'none' names the positives; give the cause of a negative (shape, colour, count, ...)")
    models = dict(m.split("=", 1) for m in args.model) if args.model else {"default": "models/base-small-p8-v3"}

    world = args.out / "world"
    counts = write_slice(args.data, args.task, args.cause, world)
    logger.info("slice of %s %s, cause %s: %s", args.data, args.task, args.cause, counts)
    runs = {}
    for name, path in models.items():
        recipe = load_recipe(recipe_file("cpu/sft-single.yaml"), [
            "--tasks", args.task, "--data", str(world), "--model", path, "--output_dir", str(args.out / name),
            "--max_steps", str(args.steps), "--learning_rate", str(args.learning_rate),
            "--val_every", str(args.val_every), "--val_max_examples", str(args.val_examples),
            "--save_steps", str(args.val_every), "--freeze_vision_tower", str(args.freeze_tower).lower()])
        run = train(recipe, overwrite=True)
        runs[name] = {"model": path, "freeze_tower": args.freeze_tower,
                      "validation": validation_curve(Path(run), args.task)}

    result = {"data": str(args.data), "task": args.task, "cause": args.cause, "slice": counts, "runs": runs}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.task}, positives and {args.cause!r} negatives; train {counts['train']}, validation "
          f"{counts['validation']}; {args.steps} steps at {args.learning_rate}, tower "
          f"{'frozen' if args.freeze_tower else 'trained'}")
    for name, r in runs.items():
        curve = "  ".join(f"{p['step']}: {p['macro_f1']:.3f} ({p['roc_auc']:.3f})" for p in r["validation"])
        print(f"{name:>12}  macro-F1 (ROC-AUC) at  {curve}")


if __name__ == "__main__":
    main()
