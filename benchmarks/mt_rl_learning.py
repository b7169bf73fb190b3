"""Does MT-RL-Judge learn? Validation macro-F1 of the base before and after multi-task GRPO.

Trains recipes/cpu/mt-rl-judge.yaml from the committed base on the demo world and compares mean
validation macro-F1 (greedy, reason style, the same validation rows the training callback uses)
of the base and of the best checkpoint. Run after `mtrl-judge world generate --size demo --out
runs/world-demo`:

    .venv/bin/python benchmarks/mt_rl_learning.py [--steps 250] [--base models/base-small] [--world runs/world-demo]

Prints per-task macro-F1 before and after, and the change of the mean (the claim of issue 4).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mtrl_judge.judge import Judge
from mtrl_judge.train.callbacks import BEST_DIR, ValidationCallback
from mtrl_judge.train.config import load_recipe
from mtrl_judge.train.run import train

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "cpu" / "mt-rl-judge.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=Path("models/base-small"))
    parser.add_argument("--world", type=Path, default=Path("runs/world-demo"))
    parser.add_argument("--out", type=Path, default=Path("runs/bench-mt-rl"))
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--val-examples", type=int, default=100)
    args = parser.parse_args()
    overrides = ["--model", str(args.base), "--data", str(args.world), "--output_dir", str(args.out), "--max_steps", str(args.steps),
                 "--val_every", "50", "--val_max_examples", str(args.val_examples), "--save_steps", "50", "--report_to", "none"]
    recipe = load_recipe(RECIPE, overrides)
    judge = Judge.from_pretrained(args.base)
    before = ValidationCallback(recipe.judge, judge.processor, args.out).validate(judge.model)
    t = time.perf_counter()
    train(recipe, overwrite=True)
    minutes = (time.perf_counter() - t) / 60
    best = json.loads((args.out / BEST_DIR / "score.json").read_text())
    rows = [json.loads(x) for x in (args.out / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if "val/mean_macro_f1" in r][-1]  # the final checkpoint: no selection on validation
    print(f"MT-RL-Judge, {args.steps} GRPO steps ({minutes:.1f} min), validation {args.val_examples} rows per task")
    print(f"{'task':<14}{'base':>8}{'final':>8}{'best':>8}")
    for task in recipe.judge.tasks:
        key = f"val/{task}/macro_f1"
        print(f"{task:<14}{before[key]:8.3f}{last[key]:8.3f}{best[key]:8.3f}")
    key = "val/mean_macro_f1"
    print(f"{'mean':<14}{before[key]:8.3f}{last[key]:8.3f}{best[key]:8.3f}   (best at step {best['step']}, selected on this validation set)")
    print(f"change of mean validation macro-F1, final vs base: {last[key] - before[key]:+.3f}")


if __name__ == "__main__":
    main()
