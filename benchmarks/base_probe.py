"""What did the off-the-shelf base learn? Exact-answer accuracy on fresh pretraining questions.

Draws N new examples of the pretraining corpus (a seed the base never trained on), asks the base
each question greedily in the style it was drawn in, and prints, per question kind, the share of
answers parsed from `<answer>` that equal the truth, with chance for the closed (yes/no, 1/2) questions:

    .venv/bin/python benchmarks/base_probe.py [--model models/base-small] [--n 390] [--seed 12345]

This is the base's own curriculum, not a judge task: it says whether perception was learned, so
that a weak zero-shot judge score can be read as "cannot see" or "cannot decide".
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch

from mtrl_judge.backbone import load_backbone
from mtrl_judge.pretrain.corpus import examples, to_messages
from mtrl_judge.prompts import parse_verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/base-small")
    parser.add_argument("--n", type=int, default=390, help="examples (a multiple of 13 gives every kind the same count)")
    parser.add_argument("--seed", type=int, default=12345, help="corpus seed; pretraining used 0")
    parser.add_argument("--batch-size", type=int, default=26)
    args = parser.parse_args()
    model, processor = load_backbone(args.model)
    drawn = list(examples(args.n, args.seed))
    right: dict[tuple[str, str], list[int]] = defaultdict(list)
    chance: dict[str, float] = {}
    for start in range(0, len(drawn), args.batch_size):
        batch = drawn[start : start + args.batch_size]
        prompts = [to_messages(ex, style)[0] for ex, style in batch]
        texts = [processor.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False) for prompt in prompts]
        images = [img for ex, _ in batch for img in ex.images]
        inputs = processor(text=texts, images=images, padding=True, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=96, do_sample=False)
        decoded = processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        for (ex, style), text in zip(batch, decoded):
            # the project's one parser, with the true answer as the only valid choice: exact match or None
            right[(ex.kind, style)].append(int(parse_verdict(text, [ex.answer]) is not None))
            if ex.choices:
                chance[ex.kind] = 1 / len(ex.choices)
    print(f"base {args.model}: exact answers on {args.n} fresh corpus questions (seed {args.seed})")
    print(f"{'kind':<12}{'reason':>8}{'direct':>8}{'chance':>8}")
    for kind in dict.fromkeys(kind for kind, _ in right):  # in the corpus' order, once each
        cells = []
        for style in ("reason", "direct"):
            hits = right.get((kind, style), [])
            cells.append(f"{sum(hits) / len(hits):8.2f}" if hits else f"{'-':>8}")
        print(f"{kind:<12}{''.join(cells)}" + (f"{chance[kind]:8.2f}" if kind in chance else f"{'open':>8}"))
    all_hits = [h for hits in right.values() for h in hits]
    print(f"overall {sum(all_hits) / len(all_hits):.3f}")


if __name__ == "__main__":
    main()
