"""Does MT-RL-Judge learn? Validation macro-F1 of the base before and after multi-task GRPO.

Trains src/mtrl_judge/recipes/cpu/mt-rl-judge.yaml from the committed base on the demo world (or, with --run,
takes a finished run, e.g. the one `make demo` trained) and scores the base, the final checkpoint
and the best one (selected on validation during training) on the SAME validation rows, greedy,
reason style, with the validation rows, judge settings and metric the trainer uses:

    .venv/bin/mtrl-judge world generate --size demo --out runs/demo/world
    .venv/bin/python benchmarks/mt_rl_learning.py [--steps 250] [--base models/base-small-p8-v3] [--world runs/demo/world]
    .venv/bin/python benchmarks/mt_rl_learning.py --run runs/demo/runs/mt-rl-judge --world runs/demo/world

Prints per-task macro-F1 and the share of the most frequent answer, unparseable counted as one (a judge that answers one
constant choice scores the macro-F1 of a constant classifier, not judgment), then the change of
the mean (the claim under test: training raises it). "best" is selected on these rows' validation split, so it is an
optimistic figure; "final" is not selected.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from mtrl_judge.backbone import load_backbone
from mtrl_judge.evaluate.metrics import classification_metrics
from mtrl_judge.judge import Judge
from mtrl_judge.recipes import recipe_file
from mtrl_judge.reproduce.budgets import DEFAULT_BASE
from mtrl_judge.tasks import get_task
from mtrl_judge.train.callbacks import BEST_DIR, FINAL_DIR, ValidationCallback
from mtrl_judge.train.config import load_recipe
from mtrl_judge.train.run import train

RECIPE = recipe_file("cpu/mt-rl-judge.yaml")


def score(validator: ValidationCallback, model_dir: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Validation metrics of one checkpoint (the trainer's rows, judge settings and metric), and per
    task the share of its most frequent answer, both from one pass of verdicts."""
    model, _ = load_backbone(model_dir)
    model.eval()
    judge = Judge(model, validator.processor, style=validator.args.style, max_new_tokens=validator.args.val_max_new_tokens,
                  batch_size=validator.args.val_batch_size)
    metrics, top = {}, {}
    for task, (requests, gold) in validator.sets.items():
        choices = [v.choice for v in judge.judge_many(requests)]
        metrics.update(classification_metrics(gold, choices, get_task(task).choices, prefix=f"val/{task}"))
        top[task] = Counter(choices).most_common(1)[0][1] / len(choices)
    metrics["val/mean_macro_f1"] = sum(metrics[f"val/{t}/macro_f1"] for t in validator.sets) / len(validator.sets)
    return metrics, top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=Path("models") / DEFAULT_BASE)
    parser.add_argument("--world", type=Path, default=Path("runs/demo/world"))
    parser.add_argument("--out", type=Path, default=Path("runs/bench-mt-rl"))
    parser.add_argument("--run", type=Path, default=None, help="a finished MT-RL-Judge run folder: score it instead of training")
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--val-examples", type=int, default=100)
    args = parser.parse_args()
    run = args.run or args.out
    overrides = ["--model", str(args.base), "--data", str(args.world), "--output_dir", str(run), "--max_steps", str(args.steps),
                 "--val_every", "50", "--val_max_examples", str(args.val_examples), "--save_steps", "50", "--report_to", "none"]
    recipe = load_recipe(RECIPE, overrides)
    if args.run is None:
        t = time.perf_counter()
        train(recipe, overwrite=True)
        print(f"MT-RL-Judge trained for {args.steps} GRPO steps in {(time.perf_counter() - t) / 60:.1f} min")
    _, processor = load_backbone(args.base)
    validator = ValidationCallback(recipe.judge, processor, run)
    rows = {name: score(validator, path) for name, path in
            (("base", args.base), ("final", run / FINAL_DIR), ("best", run / BEST_DIR))}
    print(f"run {run}; validation: {args.val_examples} rows per task of {args.world}; cells: macro-F1 (share of the top answer)")
    print(f"{'task':<14}" + "".join(f"{name:>16}" for name in rows))
    for task in recipe.judge.tasks:
        print(f"{task:<14}" + "".join(f"{m[f'val/{task}/macro_f1']:>9.3f} ({top[task]:.2f})" for m, top in rows.values()))
    key = "val/mean_macro_f1"
    print(f"{'mean':<14}" + "".join(f"{m[key]:>16.3f}" for m, _ in rows.values()))
    print(f"change of mean validation macro-F1, final vs base: {rows['final'][0][key] - rows['base'][0][key]:+.3f}")


if __name__ == "__main__":
    main()
