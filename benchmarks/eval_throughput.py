"""Evaluation throughput: our batched Judge against a one-example-at-a-time transformers loop.

Both judge the same examples with the same model (the `small` preset), the same prompts and the
same greedy decoding budget; the loop is what a user would write by hand: for each example,
apply the chat template, run the processor and call model.generate. Run:

    .venv/bin/python benchmarks/eval_throughput.py [--model DIR] [--n 64] [--batch-size 32]

Prints judgments/s for each and the ratio (the goal: at least 5x).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from mtrl_judge import Judge, JudgeRequest
from mtrl_judge.backbone import build_backbone, load_backbone
from mtrl_judge.prompts import render


def scenes(n: int) -> list[JudgeRequest]:
    colours = ["red", "green", "blue", "yellow"]
    out = []
    for i in range(n):
        image = Image.new("RGB", (96, 96), (235, 235, 235))
        ImageDraw.Draw(image).ellipse((20 + i % 7, 20, 70, 70 + i % 5), fill=colours[i % 4])
        out.append(JudgeRequest(task="seetrue", images=[image], text=f"a {colours[(i // 4) % 4]} circle"))
    return out


def one_at_a_time(model, processor, requests, max_new_tokens: int) -> list[str]:
    completions = []
    for r in requests:
        text = processor.apply_chat_template(render({"task": r.task, "text": r.text}, "reason"), add_generation_prompt=True,
                                             tokenize=False)
        inputs = processor(text=[text], images=list(r.images), return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        completions.append(processor.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
    return completions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: build the small preset)")
    parser.add_argument("--n", type=int, default=64, help="examples")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    torch.manual_seed(0)
    model_dir = args.model or build_backbone("small", Path(tempfile.mkdtemp()) / "small")
    model, processor = load_backbone(model_dir)
    judge = Judge(model, processor, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    requests = scenes(args.n)
    judge.judge_many(requests[:4])  # warm-up
    one_at_a_time(model, processor, requests[:2], args.max_new_tokens)

    # Interleave halves of each to spread machine noise over both.
    half = args.n // 2
    t_loop = t_ours = 0.0
    loop_out, ours_out = [], []
    for part in (requests[:half], requests[half:]):
        t = time.perf_counter()
        loop_out += one_at_a_time(model, processor, part, args.max_new_tokens)
        t_loop += time.perf_counter() - t
        t = time.perf_counter()
        ours_out += [v.completion for v in judge.judge_many(part)]
        t_ours += time.perf_counter() - t
    same = sum(a == b for a, b in zip(loop_out, ours_out, strict=True))
    print(f"examples: {args.n}, max_new_tokens {args.max_new_tokens}, model {model_dir}")
    print(f"one-at-a-time transformers generate: {args.n / t_loop:7.1f} judgments/s ({t_loop:.1f} s)")
    print(f"mtrl-judge Judge, batch {args.batch_size}:       {args.n / t_ours:7.1f} judgments/s ({t_ours:.1f} s)")
    print(f"identical completions: {same}/{args.n}")
    print(f"ratio (ours / one-at-a-time throughput): {t_loop / t_ours:.2f}x")


if __name__ == "__main__":
    main()
