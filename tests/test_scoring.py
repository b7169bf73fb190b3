"""Graded scores: P(positive choice) at the answer position, checked by hand on the tiny backbone."""

import json

import pytest
import torch
from PIL import Image

from mtrl_judge import Judge, JudgeRequest
from mtrl_judge.prompts import render
from mtrl_judge.scoring import answer_step, choice_token_ids


@pytest.fixture(scope="session")
def answering_model_dir(tmp_path_factory, tiny_model_dir, tiny_data_dir):
    """The tiny backbone after a few SFT steps on direct answers: it now writes <answer>...</answer>."""
    from mtrl_judge.train.config import load_recipe
    from mtrl_judge.train.run import train

    root = tmp_path_factory.mktemp("answering")
    recipe = root / "sft.yaml"
    recipe.write_text(json.dumps({
        "method": "sft", "model": str(tiny_model_dir), "data": str(tiny_data_dir), "tasks": ["seetrue", "mjbench-alignment"],
        "output_dir": str(root / "run"), "max_steps": 12, "per_device_train_batch_size": 8, "learning_rate": 3e-3,
        "val_every": 0, "val_max_examples": 2, "val_max_new_tokens": 6, "save_strategy": "no", "report_to": "none",
        "use_cpu": True, "bf16": False, "activation_checkpointing": False,
    }))
    return train(load_recipe(recipe)) / "final"


def _requests():
    colours = ["red", "blue", "red", "blue"]
    return [JudgeRequest(task="seetrue", images=[Image.new("RGB", (64, 64), c)], text="a red square") for c in colours]


def test_score_equals_a_hand_computation_from_the_logits(answering_model_dir):
    judge = Judge.from_pretrained(answering_model_dir, style="direct", max_new_tokens=8)
    batch = [judge.prepare(r) for r in _requests()]
    scored = judge.generate_scored(batch)
    tokenizer = judge.processor.tokenizer
    yes, no = choice_token_ids(tokenizer, "yes"), choice_token_ids(tokenizer, "no")
    checked = 0
    for request, (completion, score) in zip(batch, scored, strict=True):
        prompt = judge.processor.apply_chat_template(render({"task": "seetrue", "text": request.text}, "direct"),
                                                     add_generation_prompt=True, tokenize=False)
        ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        step = answer_step(tokenizer, ids)
        assert step is not None, f"the trained model should open an answer: {completion!r}"
        prefix = tokenizer.decode(ids[:step])
        inputs = judge.processor(text=[prompt + prefix], images=request.images, return_tensors="pt")
        with torch.no_grad():
            logits = judge.model(**inputs).logits[0, -1]
        by_hand = torch.softmax(torch.stack([torch.logsumexp(logits[yes], 0), torch.logsumexp(logits[no], 0)]), 0)[0]
        assert score == pytest.approx(float(by_hand), abs=1e-4)
        checked += 1
    assert checked == len(batch)


def test_greedy_verdict_and_score_agree_in_direction(answering_model_dir):
    judge = Judge.from_pretrained(answering_model_dir, style="direct", max_new_tokens=8)
    verdicts = judge.judge_many(_requests() * 2)
    assert all(v.score is not None and 0.0 <= v.score <= 1.0 for v in verdicts)
    for v in verdicts:
        if v.choice == "yes":
            assert v.score > 0.5
        elif v.choice == "no":
            assert v.score < 0.5


def test_a_completion_without_an_answer_still_gets_a_score(tiny_model_dir):
    judge = Judge.from_pretrained(tiny_model_dir, max_new_tokens=3)  # untrained: never writes <answer>
    verdict = judge.judge(images=[Image.new("RGB", (64, 64), "red")], text="a red square", task="seetrue")
    assert verdict.choice is None and verdict.score is not None and 0.0 < verdict.score < 1.0


def test_pairwise_score_is_averaged_over_both_orders(answering_model_dir):
    red, blue = Image.new("RGB", (64, 64), "red"), Image.new("RGB", (64, 64), "blue")
    both = Judge.from_pretrained(answering_model_dir, style="direct", max_new_tokens=8)
    one = Judge(both.model, both.processor, style="direct", max_new_tokens=8, pairwise_both_orders=False)
    ab = one.judge(images=[red, blue], text="a red square", task="mjbench-alignment").score
    ba = one.judge(images=[blue, red], text="a red square", task="mjbench-alignment").score
    averaged = both.judge(images=[red, blue], text="a red square", task="mjbench-alignment").score
    assert averaged == pytest.approx((ab + 1 - ba) / 2, abs=1e-5)
    swapped = both.judge(images=[blue, red], text="a red square", task="mjbench-alignment").score
    assert swapped == pytest.approx(1 - averaged, abs=1e-5)


def test_rank_is_stable_under_input_order(answering_model_dir, tmp_path, capsys):
    import itertools

    from mtrl_judge.cli import main

    paths = []
    for i, colour in enumerate(["red", "blue", "green", "yellow"]):
        path = tmp_path / f"{i}-{colour}.png"
        Image.new("RGB", (64, 64), colour).save(path)
        paths.append(str(path))
    rankings = []
    for perm in list(itertools.permutations(paths))[:4]:
        argv = ["rank", "--model", str(answering_model_dir), "--task", "seetrue", "--text", "a red square", "--style", "direct",
                "--max-new-tokens", "8"] + [a for p in perm for a in ("--image", p)]
        assert main(argv) == 0
        out = json.loads(capsys.readouterr().out)
        scores = [r["score"] for r in out["ranking"]]
        assert scores == sorted(scores, reverse=True)
        rankings.append([r["image"] for r in out["ranking"]])
    assert all(r == rankings[0] for r in rankings)
    assert main(["rank", "--model", str(answering_model_dir), "--task", "mjbench-alignment", "--image", paths[0]]) == 2
