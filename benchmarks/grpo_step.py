"""Seconds per GRPO step: plain `trl.GRPOTrainer` vs `GroupSharedGRPOTrainer`, same model, data, seed and settings.

    .venv/bin/python benchmarks/grpo_step.py                      # small backbone, 3 rounds x 6 timed steps
    .venv/bin/python benchmarks/grpo_step.py --rounds 5 --steps 8 --model tiny
    # one GPU (docs/gpu.md): the committed base, then a random 2B-class Qwen3-VL, full and LoRA, bf16
    python benchmarks/grpo_step.py --device cuda --model-dir models/base-small-p8 --rounds 2
    python benchmarks/grpo_step.py --device cuda --model qwen3-vl-2b-shape --gradient-checkpointing --rounds 2
    python benchmarks/grpo_step.py --device cuda --model qwen3-vl-2b-shape --gradient-checkpointing --lora --rounds 2

Each run is a fresh child process (so its peak memory is its own), and the two trainers alternate (TRL first
in even rounds, ours first in odd ones) so that machine noise hits both alike. The first step of each run is a
warm-up and is not timed. Per step it records the wall time of `training_step` (generation + scoring + forward +
backward) plus the optimiser step, the time spent in generation and in the training forward, and the completion
tokens generated (so completion tokens per second of generation). On CUDA the model runs in bfloat16 (--dtype),
peak memory is torch's max_memory_allocated; --lora trains PEFT adapters (r 16 on the attention projections, the
training recipes' default) instead of all weights; --gradient-checkpointing recomputes activations in the backward.

Rewards are printed for both runs: with the same seed they start from the same weights and data, but they are
not expected to be bit-identical (float rounding differs between the paths, and a different token flips the
sampling stream from there on).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def length_reward(completions, **kwargs) -> list[float]:
    """Benchmark-only dense reward: completion length in characters / 200, capped at 1."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [min(len(t) / 200, 1.0) for t in texts]


def worker(kind: str, model_dir: str, steps: int, device: str, dtype: str, lora: bool, checkpointing: bool) -> dict:
    import torch
    from datasets import Dataset
    from PIL import Image, ImageDraw
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from mtrl_judge.backbone import load_backbone
    from mtrl_judge.prompts import render
    from mtrl_judge.rewards import get_reward, paper_reward_weights
    from mtrl_judge.train.fast_grpo import GroupSharedGRPOTrainer

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", torch.get_num_threads())))
    model, processor = load_backbone(model_dir, dtype=dtype, device=device)
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                 task_type="CAUSAL_LM")

    # seetrue-like rows: a coloured circle on white, "does the image match the text?"
    rows = []
    for i in range(64):
        colour, claim = ("red", "blue")[i % 2], ("red", "blue")[(i // 2) % 2]
        image = Image.new("RGB", (96, 96), "white")
        ImageDraw.Draw(image).ellipse((12, 12, 84, 84), fill=colour)
        rows.append({
            "prompt": render({"task": "seetrue", "text": f"a {claim} circle"}, "reason"),
            "images": [image],
            "task": "seetrue",
            "label": "yes" if colour == claim else "no",
        })  # fmt: skip
    funcs, weights = [get_reward("format"), get_reward("accuracy")], paper_reward_weights(0.2)
    # The paper's rewards are 0 for a randomly initialised judge (it never writes the answer format), which would
    # make the loss 0 and the reward comparison empty; a dense length reward gives both runs something to learn.
    funcs, weights = funcs + [length_reward], weights + [1.0]
    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="grpo-bench-"),
        use_cpu=device == "cpu",
        bf16=dtype == "bfloat16",
        seed=0,
        per_device_train_batch_size=16,
        num_generations=8,
        max_completion_length=48,
        max_steps=steps + 1,
        logging_steps=1,
        report_to=[],
        reward_weights=weights,
        gradient_checkpointing=checkpointing,
        save_strategy="no",
        disable_tqdm=True,
    )
    cls = GroupSharedGRPOTrainer if kind == "ours" else GRPOTrainer
    trainer = cls(model=model, processing_class=processor, reward_funcs=funcs, args=config, train_dataset=Dataset.from_list(rows),
                  peft_config=peft_config)

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    parts = {"generate": 0.0, "forward": 0.0, "completion_tokens": 0}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            sync()
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            sync()
            parts[name] += time.perf_counter() - start
            return result

        return wrapper

    trainer._generate_single_turn = timed("generate", trainer._generate_single_turn)
    trainer._get_per_token_logps_and_entropies = timed("forward", trainer._get_per_token_logps_and_entropies)
    records = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            sync()
            parts.update(generate=0.0, forward=0.0, completion_tokens=0)
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def on_log(self, args, state, control, logs=None, **kwargs):
            # TRL logs the mean completion length of the step's completions: tokens = mean x completions
            if logs and "completions/mean_length" in logs and records:
                records[-1]["completion_tokens"] = logs["completions/mean_length"] * args.per_device_train_batch_size

        def on_step_end(self, args, state, control, **kwargs):
            sync()
            records.append({"total": time.perf_counter() - self.start, "cpu": time.process_time() - self.cpu, **parts})

    trainer.add_callback(StepTimer())
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    rewards = [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "kind": kind,
        "steps": records[1:],  # the first step is a warm-up
        "rewards": rewards,
        "peak_mib": peak,
        "peak_kind": "cuda max_memory_allocated" if device == "cuda" else "process max RSS",
        "shared_stats": getattr(trainer, "shared_stats", None),
    }


def run_child(kind: str, model_dir: str, steps: int, device: str, dtype: str, lora: bool, checkpointing: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--model-dir", model_dir, "--steps", str(steps), "--device", device,
           "--dtype", dtype, *(["--lora"] if lora else []), *(["--gradient-checkpointing"] if checkpointing else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"worker {kind} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(results: list[dict]) -> None:
    def med(xs):
        return statistics.median(xs) if xs else float("nan")

    by_kind: dict[str, list[dict]] = {"trl": [], "ours": []}
    for r in results:
        by_kind[r["kind"]].append(r)
    out = {}
    for kind, runs in by_kind.items():
        steps = [s for r in runs for s in r["steps"]]
        per_run = [med([s["total"] for s in r["steps"]]) for r in runs]
        out[kind] = {
            "s_per_step": med([s["total"] for s in steps]),
            "cpu_per_step": med([s["cpu"] for s in steps]),
            "run_medians": per_run,
            "generate": med([s["generate"] for s in steps]),
            "forward": med([s["forward"] for s in steps]),
            "tokens_per_s": med([s["completion_tokens"] / s["generate"] for s in steps if s["generate"] > 0]),
            "peak_mib": max(r["peak_mib"] for r in runs),
            "mean_reward": statistics.mean(x for r in runs for x in r["rewards"]),
            "rewards_run0": runs[0]["rewards"],
        }
    rounds = [o["steps"] for o in by_kind["ours"]], [t["steps"] for t in by_kind["trl"]]
    round_ratios = [med([s["total"] for s in o]) / med([s["total"] for s in t]) for o, t in zip(*rounds, strict=True)]
    print(f"{'':8}{'s/step':>9}{'cpu s':>8}{'gen':>8}{'fwd':>8}{'other':>8}{'tok/s':>8}{'peak MiB':>10}{'reward':>9}"
          "  per-run s/step")
    for kind in ("trl", "ours"):
        o = out[kind]
        other = o["s_per_step"] - o["generate"] - o["forward"]
        runs = ", ".join(f"{x:.2f}" for x in o["run_medians"])
        print(
            f"{kind:8}{o['s_per_step']:9.3f}{o['cpu_per_step']:8.3f}{o['generate']:8.3f}{o['forward']:8.3f}{other:8.3f}"
            f"{o['tokens_per_s']:8.0f}{o['peak_mib']:10.0f}{o['mean_reward']:9.3f}  [{runs}]"
        )
    print(f"ratio ours/trl (median s/step): {out['ours']['s_per_step'] / out['trl']['s_per_step']:.3f}")
    cpu_ratio = out["ours"]["cpu_per_step"] / out["trl"]["cpu_per_step"]
    print(f"ratio ours/trl (median process CPU s/step, less sensitive to other load): {cpu_ratio:.3f}")
    print(f"per-round ratios (wall): {', '.join(f'{x:.3f}' for x in round_ratios)}")
    for kind in ("trl", "ours"):
        print(f"rewards per step ({kind}, round 0): {[round(x, 3) for x in out[kind]['rewards_run0']]}")
    print(f"peak memory is {results[0]['peak_kind']}; shared paths used: {by_kind['ours'][0]['shared_stats']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="small", help="backbone preset to build (tiny, small, ...)")
    parser.add_argument("--model-dir", default=None, help="use this backbone instead of building one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per run (after one warm-up step)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16"],
                        help="default: bfloat16 on cuda, float32 on cpu")
    parser.add_argument("--lora", action="store_true", help="train LoRA adapters (PEFT) instead of all weights")
    parser.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations in the backward")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    dtype = args.dtype or ("bfloat16" if args.device == "cuda" else "float32")
    options = (args.device, dtype, args.lora, args.gradient_checkpointing)

    if args.worker:
        print(json.dumps(worker(args.worker, args.model_dir, args.steps, *options)))
        return

    model_dir = args.model_dir
    if model_dir is None:
        from mtrl_judge.backbone import build_backbone

        model_dir = str(build_backbone(args.model, Path(tempfile.mkdtemp(prefix="grpo-bench-model-")) / args.model, seed=0))
    results = []
    for r in range(args.rounds):
        for kind in (("trl", "ours") if r % 2 == 0 else ("ours", "trl")):
            results.append(run_child(kind, model_dir, args.steps, *options))
            last = results[-1]
            print(f"round {r} {kind}: {statistics.median(s['total'] for s in last['steps']):.3f} s/step", flush=True)
    print(f"model {model_dir}; device {args.device}, {dtype}; {'LoRA' if args.lora else 'full'} fine-tuning; "
          f"gradient checkpointing {'on' if args.gradient_checkpointing else 'off'}")
    summarise(results)


if __name__ == "__main__":
    main()
