"""Seconds of GRPO per kept prompt, with and without DAPO dynamic sampling, same model, data, seed and settings.

    .venv/bin/python benchmarks/dynamic_sampling.py                        # tiny backbone, 16 timed steps per run
    .venv/bin/python benchmarks/dynamic_sampling.py --flat-frac 0.75 --steps 8 --model small

A *kept* prompt is one whose group reaches the loss with a gradient: its completions got different rewards.
A scripted reward makes a chosen share of the prompts flat (`--flat-frac`: every completion of those
prompts gets reward 1, the others a random reward each), standing in for a judge that answers some tasks
always alike. Without dynamic sampling those groups are trained on for nothing; with it they are
replaced by fresh prompts, which costs extra generation rounds. Kept prompts per step: without,
groups x (1 - frac_reward_zero_std); with, groups x (1 - dynamic_sampling/filled_frac).

Both runs share one process (the second pays no import cost; the first step of each is a warm-up and is
not timed). Each step's wall time covers generation, scoring, the training forward/backward and the
optimiser step.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path


def run(kind: str, model_dir: str, args) -> dict:
    import torch
    from datasets import Dataset
    from PIL import Image, ImageDraw
    from transformers import TrainerCallback
    from trl import GRPOConfig

    from mtrl_judge.backbone import load_backbone
    from mtrl_judge.prompts import render
    from mtrl_judge.train.dynamic_sampling import DynamicSamplingGRPOTrainer, DynamicSamplingSharedGRPOTrainer

    torch.manual_seed(0)
    model, processor = load_backbone(model_dir)
    rng = random.Random(0)
    flat_rows = set(rng.sample(range(64), round(64 * args.flat_frac)))
    rows = []
    for i in range(64):
        colour = ("red", "blue")[i % 2]
        image = Image.new("RGB", (96, 96), "white")
        ImageDraw.Draw(image).ellipse((12, 12, 84, 84), fill=colour)
        rows.append({
            "prompt": render({"task": "seetrue", "text": f"a {colour} circle number {i}"}, "reason"),
            "images": [image], "task": "seetrue", "label": "yes",
            "flat": i in flat_rows,
        })  # fmt: skip
    reward_rng = random.Random(1)

    def scripted(completions, flat, **_):
        return [1.0 if f else reward_rng.random() for f in flat]

    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="ds-bench-"), use_cpu=True, bf16=False, seed=0,
        per_device_train_batch_size=args.prompts * args.generations, num_generations=args.generations,
        max_completion_length=args.max_completion_length, max_steps=args.steps + 1, logging_steps=1, report_to=[],
        gradient_checkpointing=False, save_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    cls = DynamicSamplingSharedGRPOTrainer if args.trainer == "shared" else DynamicSamplingGRPOTrainer
    trainer = cls(
        model=model, processing_class=processor, reward_funcs=[scripted], args=config, train_dataset=Dataset.from_list(rows),
        dynamic_sampling=kind == "dynamic", dynamic_sampling_max_tries=args.max_tries,
    )  # fmt: skip
    seconds = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_, **__):
            self.start = time.perf_counter()

        def on_step_end(self, *_, **__):
            seconds.append(time.perf_counter() - self.start)

    trainer.add_callback(StepTimer())
    trainer.train()
    logs = [e for e in trainer.state.log_history if "reward" in e][1:]  # the first step is a warm-up
    if kind == "dynamic":
        kept = [args.prompts * (1 - e["dynamic_sampling/filled_frac"]) for e in logs]
    else:
        kept = [args.prompts * (1 - e["frac_reward_zero_std"]) for e in logs]
    return {
        "kind": kind,
        "seconds": sum(seconds[1:]),
        "steps": len(seconds) - 1,
        "kept": sum(kept),
        "tries": statistics.mean(e.get("dynamic_sampling/tries", 1.0) for e in logs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="backbone preset to build (tiny, small, ...)")
    parser.add_argument("--model-dir", default=None, help="use this backbone instead of building one")
    parser.add_argument("--steps", type=int, default=16, help="timed steps per run (after one warm-up step)")
    parser.add_argument("--prompts", type=int, default=2, help="prompts (groups) per step (the CPU recipes: 2)")
    parser.add_argument("--generations", type=int, default=8, help="completions per prompt (the CPU recipes: 8)")
    parser.add_argument("--max-completion-length", type=int, default=24)
    parser.add_argument("--flat-frac", type=float, default=0.5, help="share of prompts whose groups are always flat")
    parser.add_argument("--max-tries", type=int, default=10, help="dynamic_sampling_max_tries")
    parser.add_argument("--trainer", default="shared", choices=["shared", "trl"])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", torch.get_num_threads())))
    import mtrl_judge.backbone  # noqa: F401  (registers the processor)

    model_dir = args.model_dir
    if model_dir is None:
        from mtrl_judge.backbone import build_backbone

        model_dir = str(build_backbone(args.model, Path(tempfile.mkdtemp(prefix="ds-bench-model-")) / args.model, seed=0))
    results = [run(kind, model_dir, args) for kind in ("plain", "dynamic")]
    print(f"{'':9}{'steps':>6}{'s/step':>8}{'kept/step':>10}{'tries':>7}{'s/kept prompt':>15}")
    for r in results:
        r["per_kept"] = r["seconds"] / r["kept"] if r["kept"] else float("inf")
        print(f"{r['kind']:9}{r['steps']:6d}{r['seconds'] / r['steps']:8.2f}{r['kept'] / r['steps']:10.2f}{r['tries']:7.2f}"
              f"{r['per_kept']:15.3f}")
    plain, dynamic = results
    print(f"ratio dynamic/plain (s per kept prompt): {dynamic['per_kept'] / plain['per_kept']:.3f}  "
          f"({args.trainer} trainer, {args.flat_frac:.0%} of prompts flat, {args.prompts} prompts x {args.generations})")


if __name__ == "__main__":
    main()
