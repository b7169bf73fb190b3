"""Which reasoning chain can the base's language model learn to check a scene with? Text only, no image.

The base describes a scene well and then answers presence questions as if it had not looked: under the
asked shape it lists an object of its own description with the shape replaced, and says yes (docs/base.md,
"In reason style the base answers yes"). Whether that is the eye or the language model is settled here by
taking the eye away: the scene's exact description is given in the prompt, and a copy of the base is
fine-tuned, text only, to answer presence questions ("Is there a purple triangle in the image?") with one
reasoning format, the same examples and steps for every format:

    direct  the answer alone
    v2      corpus v2: "There is no purple triangle."
    v3      corpus v3: "The triangles: a blue triangle. None is purple, so there is no purple triangle."
    scan    corpus v4: every described group in order, each compared with the question, stopping at a match:
            "Checking each: three yellow stars, no; a blue triangle, no. So there is no purple triangle."

v3 must find the asked shape inside the description and copy the words *before* it (count and colour
come first); scan copies the description forward, the pattern small transformers learn first (induction),
and compares each group with the question where it stands. Printed per format: answer accuracy on fresh
questions, the share of "yes" answers beside the share of "yes" truths, and the share of reasoning texts
exactly right. `--kind count` or `--kind statement` asks the other questions whose chains corpus versions 3 and 4
change instead (each format then takes that question's chain from its corpus version; statement scans run to 121
tokens, so they cost more per example):

    .venv/bin/python benchmarks/chain_learnability.py [--kind exists] [--formats direct,v2,v3,scan] [--steps 300] [--json]

`--save DIR` (one format) keeps the fine-tuned copy as a base folder, so that a multimodal continuation can start
from a language model that already checks (`mtrl-judge pretrain --init DIR`; its pretrain.json records this command
and the base it came from).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import numpy as np
import torch

from mtrl_judge.backbone import load_backbone
from mtrl_judge.io import atomic_dir, write_json
from mtrl_judge.pretrain.corpus import count_word, draw_example
from mtrl_judge.pretrain.run import lineage
from mtrl_judge.prompts import parse_verdict

logger = logging.getLogger("chain_learnability")
FORMATS = ("direct", "v2", "v3", "scan")
KINDS = ("exists", "count", "statement")  # the questions whose reasoning corpus versions 3 and 4 change
CORPUS_VERSION = {"v2": 2, "v3": 3, "scan": 4}  # the corpus version whose reasoning each format takes


def example(rng: np.random.Generator, fmt: str, kind: str = "exists") -> tuple[str, str, str]:
    """(prompt, target, answer) of one question of `kind` on a fresh corpus scene, reasoning in format `fmt`."""
    # Every corpus version draws the same scene and question from the same rng; only the reasoning after the sky differs.
    ex = draw_example(rng, kind, version=CORPUS_VERSION.get(fmt, 2))  # "<description>. The sky is ... over .... <focus>"
    sky_at = ex.reasoning.index(" The sky is ")
    scene_end = ex.reasoning.index(".", sky_at + 1) + 1
    described, focus = ex.reasoning[:scene_end], ex.reasoning[scene_end:].strip()
    chain = "" if fmt == "direct" else focus
    prompt = f"{described} Question: {ex.question} Reasoning:"
    target = (f" {chain}" if chain else "") + f" <answer>{ex.answer}</answer>"
    return prompt, target, ex.answer


def batches(tokenizer, rows: list[tuple[str, str, str]]) -> dict:
    """Right-padded ids with the loss on the target only (prompt and padding -100)."""
    ids, labels = [], []
    for prompt, target, _ in rows:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        t = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids.append(p + t)
        labels.append([-100] * len(p) + t)
    width = max(map(len, ids))
    pad = tokenizer.pad_token_id
    return {
        "input_ids": torch.tensor([x + [pad] * (width - len(x)) for x in ids]),
        "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids]),
        "labels": torch.tensor([y + [-100] * (width - len(y)) for y in labels]),
    }


def evaluate(model, tokenizer, rows: list[tuple[str, str, str]], choices: list[str], batch_size: int = 50) -> dict:
    """Greedy answers to fresh questions: accuracy, yes answered / yes true, reasoning exactly right."""
    right = said_yes = exact = 0
    tokenizer.padding_side = "left"
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        enc = tokenizer([p for p, _, _ in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=160, do_sample=False)
        texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for (_, target, answer), text in zip(chunk, texts, strict=True):
            verdict = parse_verdict(text, choices)
            right += verdict == answer
            said_yes += verdict == "yes"
            exact += text.strip() == target.strip()
    n = len(rows)
    return {"accuracy": round(right / n, 3), "yes_answered": round(said_yes / n, 3),
            "yes_true": round(sum(a == "yes" for *_, a in rows) / n, 3), "reasoning_exact": round(exact / n, 3),
            "sample": texts[0]}


def run(fmt: str, model_dir: str, steps: int, batch_size: int, lr: float, n_eval: int, seed: int, kind: str = "exists",
        save: str | None = None) -> dict:
    model, processor = load_backbone(model_dir, device="cpu", dtype="auto")
    tokenizer = processor.tokenizer
    torch.manual_seed(seed)
    train_rng, eval_rng = np.random.default_rng(seed), np.random.default_rng(seed + 10_000)
    held_out = [example(eval_rng, fmt, kind) for _ in range(n_eval)]
    choices = ["yes", "no"] if kind in ("exists", "statement") else [count_word(n) for n in range(20)]
    before = evaluate(model, tokenizer, held_out, choices)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 20))
    model.train()
    started, losses = time.perf_counter(), []
    for step in range(steps):
        batch = batches(tokenizer, [example(train_rng, fmt, kind) for _ in range(batch_size)])
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            logger.info("%s step %d loss %.4f (%.0f s)", fmt, step + 1, np.mean(losses[-50:]), time.perf_counter() - started)
    model.eval()
    after = evaluate(model, tokenizer, held_out, choices)
    minutes = round((time.perf_counter() - started) / 60, 1)
    if save:
        with atomic_dir(save, overwrite=True) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            processor.save_pretrained(tmp)
            write_json(tmp / "pretrain.json", {"command": "python " + " ".join(sys.argv), "init": lineage(model_dir),
                                               "text_only": {"kind": kind, "format": fmt, "steps": steps,
                                                             "batch_size": batch_size, "learning_rate": lr}})
        logger.info("saved the fine-tuned copy to %s", save)
    return {"kind": kind, "format": fmt, "steps": steps, "examples": steps * batch_size, "minutes": minutes,
            "final_loss": round(float(np.mean(losses[-50:])), 4), "before": before, "after": after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/base-small-p8")
    parser.add_argument("--kind", choices=KINDS, default="exists", help="which corpus question to learn to check")
    parser.add_argument("--formats", default=",".join(FORMATS), help=f"comma-separated, from {', '.join(FORMATS)}")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--n-eval", type=int, default=200, help="fresh questions per format")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON object per format instead of a table")
    parser.add_argument("--save", metavar="DIR", help="with one format: save the fine-tuned copy there as a base folder")
    args = parser.parse_args()
    formats = args.formats.split(",")
    if not set(formats) <= set(FORMATS):
        parser.error(f"--formats: unknown {', '.join(sorted(set(formats) - set(FORMATS)))}; choose from {', '.join(FORMATS)}")
    if args.save and len(formats) != 1:
        parser.error("--save keeps one fine-tuned copy: give --formats one format")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for fmt in formats:
        result = run(fmt, args.model, args.steps, args.batch_size, args.learning_rate, args.n_eval, args.seed, args.kind,
                     args.save)
        if args.json:
            print(json.dumps(result), flush=True)
            continue
        b, a = result["before"], result["after"]
        print(f"{fmt:<7} {result['examples']} examples, {result['minutes']} min, loss {result['final_loss']}: "
              f"accuracy {b['accuracy']:.2f} -> {a['accuracy']:.2f}, yes answered {a['yes_answered']:.2f} "
              f"(true {a['yes_true']:.2f}), reasoning exact {b['reasoning_exact']:.2f} -> {a['reasoning_exact']:.2f}",
              flush=True)


if __name__ == "__main__":
    main()
