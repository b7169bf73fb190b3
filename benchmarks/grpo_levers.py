"""Which GRPO settings let MT-RL-Judge learn? A sweep of the standard levers on world v2's VALIDATION split.

Each setting trains the CPU MT-RL-Judge recipe (src/mtrl_judge/recipes/cpu/mt-rl-judge.yaml) from the
committed base for the same number of steps, with validation every `--val-every` steps on the same
rows; the table gives the best and the last validation mean macro-F1, the last mean ROC-AUC of P(yes) (does
the judge still rank positives first, whatever its greedy verdicts) and the largest share one answer took
of a task's verdicts at the end (1.00: the judge answers one constant choice). The test
split is never read: defaults are chosen here, test is reported once by `mtrl-judge reproduce`.

    .venv/bin/mtrl-judge world generate --size demo --out runs/demo/world
    .venv/bin/python benchmarks/grpo_levers.py [--steps 150] [--only lr1e-4,lr1e-4-ppstep8] [--out runs/grpo-levers]
    .venv/bin/python benchmarks/grpo_levers.py --only direct --base runs/demo/runs/sft-unified/best --out runs/grpo-warm
    .venv/bin/python benchmarks/grpo_levers.py --only nat-direct-lr3e-4-16x4 --steps 60 --val-every 20
    .venv/bin/python benchmarks/grpo_levers.py --only direct-16x4-lr1e-5 --base runs/demo/runs/sft-unified/best \
        --steps 60 --val-every 20 --out runs/grpo-warm
    .venv/bin/python benchmarks/grpo_levers.py --only nat-direct-16x4-lr1e-5 --base runs/demo/runs/sft-single-agin-nat/best \
        --steps 40 --val-every 20 --out runs/grpo-warm-nat
    .venv/bin/python benchmarks/grpo_levers.py --only nat-16x4-lr1e-4,nat-16x4-lr1e-4-temp1.5,nat-16x4-lr3e-4 \
        --steps 60 --val-every 20 --val-max-new-tokens 64
    .venv/bin/python benchmarks/grpo_levers.py --only nat-16x4-lr1e-4 --seed 1 --steps 150 --val-every 30 \
        --val-max-new-tokens 64 --out runs/grpo-levers-s1
    .venv/bin/python benchmarks/grpo_levers.py --only 16x4-lr1e-4 --steps 150 --val-every 50 --val-examples 48 \
        --val-max-new-tokens 64
    .venv/bin/python benchmarks/grpo_levers.py --only nattech-16x4,nattech-32x4,nattech-32x4-kl0.04 --steps 150 \
        --val-every 30 --val-max-new-tokens 64
    .venv/bin/python benchmarks/grpo_levers.py --only nattech-32x4-kl0.01,nattech-32x4-kl0.04-drgrpo,\
nattech-32x4-kl0.04-warmup10,nattech-16x8-kl0.04 --steps 120 --val-every 30 \
        --val-max-new-tokens 64 --world runs/demo-v2/world   # not yet run (2026-11-23); minutes each on a GPU
    .venv/bin/python benchmarks/grpo_levers.py --only 16x4-kl0.04 --steps 400 --val-every 50 --val-examples 48 \
        --val-max-new-tokens 64 --world runs/demo-v2/world
    .venv/bin/python benchmarks/grpo_levers.py --only 32x4-kl0.04 --steps 200 --val-every 50 --val-examples 48 \
        --val-max-new-tokens 64 --world runs/demo-v2/world
    .venv/bin/python benchmarks/grpo_levers.py --base models/base-small-p8-v3 --steps 60 --val-every 30 \
        --val-examples 48 --val-max-new-tokens 64 --out runs/levers-v3 \
        --only recipe,recipe-maskfill,recipe-kl0.01,recipe-drgrpo,recipe-warmup10
        # 2026-11-24: recipe and recipe-maskfill only, then 300 steps of each with `mtrl-judge train` (60 steps
        # were all noise; docs/training.md); then recipe-kl0.01 and recipe-drgrpo for 200 steps, each with its own --out
        # (runs/levers-v3-c, runs/levers-v3-d) so that two ran at once, one thread each; 2026-11-24: recipe-warmup10
        # (runs/levers-v3-f). No clip-range setting: these recipes take one optimizer step per generation batch, so
        # the policy ratio is exactly 1 and epsilon / epsilon_high never bind (a run with 0.2 repeated the recipe's
        # run loss for loss); the GPU recipe, 64 steps per generation, is where the clip range matters

Other options are passed to every `mtrl-judge train` as recipe overrides (on a GPU: `--use_cpu false --bf16 true`).
Each setting runs as its own `mtrl-judge train` process; finished settings are skipped on a rerun,
so a killed sweep continues where it stopped. Results: OUT/results.json and the table on stdout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from mtrl_judge.io import write_json
from mtrl_judge.recipes import recipe_file

# name -> recipe overrides; the recipe's own values otherwise (scale_rewards group, temperature 1.0, dynamic sampling,
# labels balanced, clip-higher 0.28). The first settings vary the recipe's former GRPO batch and learning rate
# (2 prompts x 8 completions, lr 3e-5; 16 x 4 at lr 1e-4 since 2026-11-23), so they spell those out. Every setting
# but "recipe" was measured without a KL term (the recipe's beta before 0.04), so FORMER_KL pins beta 0 before a
# setting's own overrides, which win.
FORMER_BATCH = ["--per_device_train_batch_size", "16", "--num_generations", "8"]
FORMER_KL = ["--beta", "0"]
NATTECH = ["--tasks", "agin-nat", "agin-tech"]


def at_lr1e4(prompts: int, generations: int) -> list[str]:
    """GRPO at lr 1e-4 with `prompts` x `generations` completions a step (the recipe's batch since 2026-11-23: 16 x 4)."""
    return ["--learning_rate", "1e-4", "--prompts_per_step", str(prompts), "--num_generations", str(generations)]


# The recipe's schedule is `constant`, which has no warm-up: a warm-up needs constant_with_warmup.
WARMUP10 = ["--lr_scheduler_type", "constant_with_warmup", "--warmup_steps", "10"]

SETTINGS: dict[str, list[str]] = {
    "recipe": [],
    "former-recipe": [*FORMER_BATCH, "--learning_rate", "3e-5"],
    "lr1e-4": [*FORMER_BATCH, "--learning_rate", "1e-4"],
    "lr3e-4": [*FORMER_BATCH, "--learning_rate", "3e-4"],
    "lr1e-4-ppstep4": ["--learning_rate", "1e-4", "--prompts_per_step", "4", "--num_generations", "4"],
    "lr1e-4-ppstep8": ["--learning_rate", "1e-4", "--prompts_per_step", "8", "--num_generations", "4"],
    "lr1e-4-drgrpo": [*FORMER_BATCH, "--learning_rate", "1e-4", "--scale_rewards", "none"],
    "lr1e-4-kl": [*FORMER_BATCH, "--learning_rate", "1e-4", "--beta", "0.01"],
    "lr1e-4-temp1.3": [*FORMER_BATCH, "--learning_rate", "1e-4", "--temperature", "1.3"],
    # Answer-only prompts: with --base an SFT-Unified checkpoint (trained direct), GRPO warm-started from a
    # judge that already discriminates. The format reward is the paper's think-then-answer format, so here it
    # is a constant 0 and only accuracy moves the advantages.
    "direct": [*FORMER_BATCH, "--learning_rate", "3e-5", "--style", "direct"],
    # the same, held near the SFT judge by a KL term
    "direct-kl": [*FORMER_BATCH, "--learning_rate", "3e-5", "--style", "direct", "--beta", "0.04"],
    # Many prompts, small groups: as many distinct examples per step as SFT's batch of 16, answer-only.
    "direct-ppstep16-g2": ["--style", "direct", "--learning_rate", "1e-4", "--prompts_per_step", "16", "--num_generations", "2"],
    # One task SFT-Single learns (agin-nat: validation 0.895 after 60 steps of 16 examples at lr 3e-4): can GRPO learn
    # it with as many prompts per step and SFT's learning rate? Answer-only.
    "nat-direct-lr3e-4-16x4": ["--tasks", "agin-nat", "--style", "direct", "--learning_rate", "3e-4",
                               "--prompts_per_step", "16", "--num_generations", "4"],
    # With --base an SFT-Unified checkpoint: GRPO with 16 prompts a step (8x the recipe's) at a low learning rate.
    "direct-16x4-lr1e-5": ["--style", "direct", "--learning_rate", "1e-5", "--prompts_per_step", "16", "--num_generations", "4"],
    # With --base an SFT-Single agin-nat checkpoint (a judge that ranks that task well): does GRPO sharpen it?
    "nat-direct-16x4-lr1e-5": ["--tasks", "agin-nat", "--style", "direct", "--learning_rate", "1e-5",
                               "--prompts_per_step", "16", "--num_generations", "4"],
    # Reasoning first (the recipe's style), 16 prompts x 4 completions a step, on agin-nat alone: the setting that first
    # made GRPO learn from the base (docs/training.md, "Enough prompts"), beside hotter rollouts and a higher lr.
    "nat-16x4-lr1e-4": ["--tasks", "agin-nat", "--learning_rate", "1e-4", "--prompts_per_step", "16", "--num_generations", "4"],
    "nat-16x4-lr1e-4-temp1.5": ["--tasks", "agin-nat", "--learning_rate", "1e-4", "--prompts_per_step", "16",
                                "--num_generations", "4", "--temperature", "1.5"],
    "nat-16x4-lr3e-4": ["--tasks", "agin-nat", "--learning_rate", "3e-4", "--prompts_per_step", "16", "--num_generations", "4"],
    # The same on all six tasks (MT-RL-Judge).
    "16x4-lr1e-4": at_lr1e4(16, 4),
    # Two tasks RL-Single learned (agin-nat, agin-tech) trained together: 8 prompts per task a step (16 x 4), or as many
    # per task as RL-Single's 16 (32 x 4), the latter with and without a KL term to the base.
    "nattech-16x4": [*NATTECH, *at_lr1e4(16, 4)],
    "nattech-32x4": [*NATTECH, *at_lr1e4(32, 4)],
    "nattech-32x4-kl0.04": [*NATTECH, *at_lr1e4(32, 4), "--beta", "0.04"],
    # The other standard levers, one at a time, on the two-task run that learns within 120 steps (nattech-32x4-kl0.04):
    # EasyR1's KL coefficient, Dr. GRPO's unscaled advantages, no clip-higher, a warmup, and groups of 8 (same completions).
    "nattech-32x4-kl0.01": [*NATTECH, *at_lr1e4(32, 4), "--beta", "0.01"],
    "nattech-32x4-kl0.04-drgrpo": [*NATTECH, *at_lr1e4(32, 4), "--beta", "0.04", "--scale_rewards", "none"],
    "nattech-32x4-kl0.04-warmup10": [*NATTECH, *at_lr1e4(32, 4), "--beta", "0.04", *WARMUP10],
    "nattech-16x8-kl0.04": [*NATTECH, *at_lr1e4(16, 8), "--beta", "0.04"],
    # All six tasks with the KL term: the recipe since 2026-11-23 (16 x 4), and twice the prompts per step.
    "16x4-kl0.04": [*at_lr1e4(16, 4), "--beta", "0.04"],
    "32x4-kl0.04": [*at_lr1e4(32, 4), "--beta", "0.04"],
    # The recipe (16 x 4, lr 1e-4, beta 0.04) with one lever changed, from the default base models/base-small-p8-v3:
    # the flat groups that fill a batch masked out of the loss (verl's DAPO), EasyR1's KL weight, Dr. GRPO's
    # unscaled advantages, a warm-up. FORMER_KL does not apply to them (the recipe's beta is kept).
    "recipe-maskfill": ["--dynamic_sampling_mask_fill", "true"],
    "recipe-kl0.01": ["--beta", "0.01"],
    "recipe-drgrpo": ["--scale_rewards", "none"],
    "recipe-warmup10": WARMUP10,
}


def summarise(run: Path) -> dict:
    """Best and last validation mean macro-F1 of a finished run, and its last top-answer share per task."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    val = [r for r in rows if "val/mean_macro_f1" in r]
    if not val:
        raise SystemExit(f"{run}: no validation rows in metrics.jsonl")
    best = max(val, key=lambda r: r["val/mean_macro_f1"])
    last = val[-1]
    shares: dict[str, float] = {}
    for key, value in last.items():  # val/<task>/answer_share/<answer>
        parts = key.split("/")
        if len(parts) == 4 and parts[2] == "answer_share":
            shares[parts[1]] = max(shares.get(parts[1], 0.0), value)
    steps = [r["step_time"] for r in rows if "step_time" in r]
    return {
        "best": best["val/mean_macro_f1"], "best_step": best.get("step"), "last": last["val/mean_macro_f1"],
        "last_step": last.get("step"), "last_roc_auc": last.get("val/mean_roc_auc"),
        "top_share": shares, "curve": [(r.get("step"), r["val/mean_macro_f1"]) for r in val],
        "step_time_s": sum(steps) / len(steps) if steps else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=Path("models/base-small-p8"))
    parser.add_argument("--world", type=Path, default=Path("runs/demo/world"))
    parser.add_argument("--out", type=Path, default=Path("runs/grpo-levers"))
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--val-every", type=int, default=50)
    parser.add_argument("--val-examples", type=int, default=64)
    parser.add_argument("--val-max-new-tokens", type=int, default=None,
                        help="validation generation budget (default: the recipe's); 64 in the runs of 2026-11-23")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated setting names (default: all)")
    # Anything else goes to every `mtrl-judge train` as a recipe override, e.g. on a GPU: --use_cpu false --bf16 true
    args, passthrough = parser.parse_known_args()
    names = [n for n in args.only.split(",") if n] or list(SETTINGS)
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        raise SystemExit(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(SETTINGS)}")
    results_file = args.out / "results.json"
    results = json.loads(results_file.read_text(encoding="utf-8")) if results_file.is_file() else {}
    for name in names:
        run = args.out / name
        if name in results and (run / "final").is_dir():
            continue
        command = [sys.executable, "-m", "mtrl_judge.cli", "train", str(recipe_file("cpu/mt-rl-judge.yaml")),
                   "--model", str(args.base), "--data", str(args.world), "--output_dir", str(run), "--max_steps", str(args.steps),
                   "--val_every", str(args.val_every), "--val_max_examples", str(args.val_examples),
                   "--save_steps", str(args.val_every), "--report_to", "none", "--seed", str(args.seed),
                   *([] if name.startswith("recipe") else FORMER_KL), *SETTINGS[name], *passthrough]
        if args.val_max_new_tokens:
            command += ["--val_max_new_tokens", str(args.val_max_new_tokens)]
        command.append("--resume" if (run / "metrics.jsonl").is_file() else "--overwrite")
        start = time.perf_counter()
        subprocess.run(command, check=True)
        results[name] = {"overrides": SETTINGS[name], "minutes": (time.perf_counter() - start) / 60, **summarise(run)}
        write_json(results_file, results)
    print(f"GRPO settings on {args.world} validation ({args.val_examples} rows/task), {args.steps} steps from {args.base}")
    print(f"{'setting':<24}{'best (step)':>14}{'last':>8}{'last AUC':>10}{'max top share':>15}{'s/step':>8}")
    for name in names:
        r = results[name]
        top = max(r["top_share"].values()) if r["top_share"] else float("nan")
        auc = r.get("last_roc_auc")  # runs made before validation logged ROC-AUC have none
        auc_text = f"{auc:>10.3f}" if auc is not None else f"{'n/a':>10}"
        step_time = r["step_time_s"] or 0
        print(f"{name:<24}{r['best']:>8.3f} ({r['best_step']:>3}){r['last']:>8.3f}{auc_text}{top:>15.2f}{step_time:>8.2f}")


if __name__ == "__main__":
    main()
