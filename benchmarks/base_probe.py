"""What did the off-the-shelf base learn? Exact-answer accuracy on fresh pretraining questions.

Draws N new examples of the pretraining corpus (full scenes, a seed the base never trained on), asks
the base each question greedily in the style it was drawn in, and reports, per question kind and
style, the share of answers parsed from `<answer>` that equal the truth:

    .venv/bin/python benchmarks/base_probe.py [--model models/base-small-p8-v3] [--n 540] [--seed 12345] [--json] [--device auto]

With --json it prints one JSON object: {"model", "seed", "n", "kinds": {kind: {"reason": acc, "direct":
acc}}, "overall", "gate": {...}}. The gate is the bar a base must clear before it ships (docs/base.md):
count, exists, colour and symbol at 0.90 or more, blur, grain and float at 0.80 or more, each in the
better of its two styles.

This is the base's own curriculum, not a judge task: it says whether perception was learned, so
that a weak zero-shot judge score can be read as "cannot see" or "cannot decide". "reasoning" splits
the reasoning style's answers of single-image kinds in two: "seen", the share whose description of
the scene (the reasoning up to its sky) is exactly right, and "right_if_seen", the answers' accuracy
among those. A base that sees but answers at chance given a right description cannot check a question
against what it saw. "yes_share" gives, per yes/no kind and style, the share of "yes" answers beside the
share of "yes" truths: a base that answers one way scores the truths' share without checking anything.
"exists_cases" splits the presence questions by what makes them true or false: "present" (the object is there),
"other shape" (no object of the asked shape has the asked colour, but one of that colour is there: rejecting it
needs the shapes bound to their colours) and "other colour" (no object of that colour at all: a colour alone
rejects it).
`--kinds count,exists,statement` asks only those kinds (more questions each).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict

import torch

from mtrl_judge.backbone import load_backbone
from mtrl_judge.data.world.scene import COLOURS, SHAPES
from mtrl_judge.pretrain.corpus import QUESTION_KINDS, YES_NO_KINDS, Example, examples, to_messages
from mtrl_judge.prompts import parse_verdict
from mtrl_judge.reproduce.budgets import DEFAULT_BASE

GATE = {"count": 0.9, "exists": 0.9, "colour": 0.9, "symbol": 0.9, "blur": 0.8, "grain": 0.8, "float": 0.8}


def probe(model_dir: str, n: int, seed: int, batch_size: int = 30, device: str = "cpu",
          kinds: tuple[str, ...] | None = None) -> dict:
    model, processor = load_backbone(model_dir, device=device, dtype="auto")  # bfloat16 on a GPU, float32 on the CPU
    # only some kinds: the corpus with the others weighted 0 (more questions per kind for the same n)
    weights = {k: int(k in kinds) for k in QUESTION_KINDS} if kinds else None
    drawn = list(examples(n, seed, curriculum=False, weights=weights))
    right: dict[tuple[str, str], list[int]] = defaultdict(list)
    seen: dict[str, list[tuple[int, int]]] = defaultdict(list)  # reason style: (description exact, answer right)
    said_yes: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)  # yes/no kinds: (answered yes, truth yes)
    presence: dict[tuple[str, str], list[int]] = defaultdict(list)  # (style, exists_case): answers right
    for start in range(0, len(drawn), batch_size):
        batch = drawn[start : start + batch_size]
        prompts = [to_messages(ex, style)[0] for ex, style in batch]
        texts = [processor.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False) for prompt in prompts]
        images = [img for ex, _ in batch for img in ex.images]
        inputs = processor(text=texts, images=images, padding=True, return_tensors="pt").to(model.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=128, do_sample=False)
        decoded = processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        for (ex, style), text in zip(batch, decoded, strict=True):
            # the project's one parser, with the true answer as the only valid choice: exact match or None
            hit = int(parse_verdict(text, [ex.answer]) is not None)
            right[(ex.kind, style)].append(hit)
            if ex.kind in YES_NO_KINDS:
                said_yes[(ex.kind, style)].append((int(parse_verdict(text, ex.choices) == "yes"), int(ex.answer == "yes")))
            if ex.kind == "exists":
                presence[(style, exists_case(ex))].append(hit)
            if style == "reason" and len(ex.images) == 1:
                seen[ex.kind].append((int(_description(text.removeprefix("<think>")) == _description(ex.reasoning)), hit))
    kinds = {k: {s: round(sum(h) / len(h), 3) for s in ("reason", "direct") if (h := right.get((k, s)))}
             for k in QUESTION_KINDS if any((k, s) in right for s in ("reason", "direct"))}
    hits = [h for v in right.values() for h in v]
    gate = gate_of(kinds)
    reasoning = {k: _seen_then_right(rows) for k, rows in seen.items()}
    # A yes/no kind's accuracy means little beside these: a base answering "yes" to everything scores the truths' share.
    yes_share = {k: {s: {"answered": round(sum(a for a, _ in rows) / len(rows), 3),
                         "true": round(sum(t for _, t in rows) / len(rows), 3)}
                     for s in ("reason", "direct") if (rows := said_yes.get((k, s)))}
                 for k in YES_NO_KINDS if any((k, s) in said_yes for s in ("reason", "direct"))}
    exists_cases = {s: {case: {"n": len(h), "right": round(sum(h) / len(h), 3)}
                        for case in EXISTS_CASES if (h := presence.get((s, case)))}
                    for s in ("reason", "direct") if any((s, case) in presence for case in EXISTS_CASES)}
    return {"model": model_dir, "seed": seed, "n": n, "kinds": kinds, "overall": round(sum(hits) / len(hits), 3),
            "gate": gate, "gate_passed": gate_passed(gate),
            "reasoning": reasoning, "yes_share": yes_share, "exists_cases": exists_cases}


def gate_of(kinds: dict[str, dict[str, float]]) -> dict[str, dict]:
    """Each gated kind that was asked: its better style's accuracy beside its bar (GATE)."""
    best = {k: max(kinds[k].values()) for k in GATE if k in kinds}
    return {k: {"best": b, "needs": GATE[k], "passed": b >= GATE[k]} for k, b in best.items()}


def gate_passed(gate: dict[str, dict]) -> bool:
    """The base may ship: every gated kind asked, and every one at its bar. A probe of some kinds never passes."""
    return len(gate) == len(GATE) and all(g["passed"] for g in gate.values())


EXISTS_CASES = ("present", "other shape", "other colour")


def exists_case(ex: Example) -> str:
    """Which of EXISTS_CASES a presence question is, read from its question and the exact description that opens
    its reasoning (`I see two red diamonds and a yellow triangle.`; plurals begin with the shape's name)."""
    if ex.answer == "yes":
        return "present"
    asked = re.fullmatch(r"Is there an? (\w+) (\w+) in the image\?", ex.question)
    if asked is None or asked[1] not in COLOURS or asked[2] not in SHAPES:
        raise ValueError(f"not a presence question of the corpus: {ex.question!r}")
    seen = _description(ex.reasoning)
    return "other shape" if any(re.search(rf"\b{asked[1]} {s}", seen) for s in SHAPES) else "other colour"


def _seen_then_right(rows: list[tuple[int, int]]) -> dict:
    described = [hit for exact, hit in rows if exact]
    return {"seen": round(len(described) / len(rows), 3),
            "right_if_seen": round(sum(described) / len(described), 3) if described else None}


def _description(reasoning: str) -> str:
    """The scene-description part of a reasoning text: what the model saw, before the step that answers."""
    return reasoning.split(" The sky")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=f"models/{DEFAULT_BASE}", help="a base folder (default: the committed default base)")
    parser.add_argument("--n", type=int, default=540,
                        help="examples (a multiple of 36 gives every kind and style the same count)")
    parser.add_argument("--seed", type=int, default=12345, help="corpus seed; pretraining used 0")
    parser.add_argument("--batch-size", type=int, default=30)
    parser.add_argument("--device", default="auto", help="auto (a CUDA GPU when there is one), cpu, cuda or cuda:N")
    parser.add_argument("--kinds", default=None,
                        help="comma-separated question kinds to ask (default: all); e.g. the gate's "
                             "count,exists,colour,symbol for tighter numbers on them (the gate then reads 'not passed': "
                             "it needs every gated kind)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    kinds = tuple(args.kinds.split(",")) if args.kinds else None
    if kinds and not set(kinds) <= set(QUESTION_KINDS):
        parser.error(f"--kinds: unknown kind(s) {', '.join(sorted(set(kinds) - set(QUESTION_KINDS)))}; "
                     f"choose from {', '.join(QUESTION_KINDS)}")
    result = probe(args.model, args.n, args.seed, args.batch_size, args.device, kinds)
    if args.json:
        print(json.dumps(result))
        return
    print(f"base {args.model}: exact answers on {args.n} fresh corpus questions (seed {args.seed})")
    print(f"{'kind':<12}{'reason':>8}{'direct':>8}{'gate':>8}")
    for kind, cells in result["kinds"].items():
        row = "".join(f"{cells[s]:8.2f}" if s in cells else f"{'-':>8}" for s in ("reason", "direct"))
        print(f"{kind:<12}{row}" + (f"{GATE[kind]:8.2f}" if kind in GATE else ""))
    print(f"overall {result['overall']:.3f}; gate {'passed' if result['gate_passed'] else 'not passed'}")
    print("reason style, single images: description exactly right / answer right when it was")
    for kind, cells in result["reasoning"].items():
        given = cells["right_if_seen"]
        print(f"{kind:<12}{cells['seen']:8.2f}" + (f"{given:8.2f}" if given is not None else f"{'-':>8}"))
    print("yes/no kinds: share of 'yes' answers / of 'yes' truths, reason then direct")
    for kind, cells in result["yes_share"].items():
        print(f"{kind:<12}" + "".join(f"{c['answered']:8.2f}{c['true']:6.2f}" for c in cells.values()))
    if result["exists_cases"]:
        print("presence questions, right: " + ", ".join(EXISTS_CASES))
        for style, cases in result["exists_cases"].items():
            print(f"{style:<12}" + "".join(f"{cases[c]['right']:8.2f} ({cases[c]['n']})" if c in cases else f"{'-':>8}"
                                           for c in EXISTS_CASES))


if __name__ == "__main__":
    main()
