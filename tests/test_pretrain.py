"""The pretraining corpus teaches general grounded skills in both answer styles, never the judge tasks."""

import json

import numpy as np
import pytest

from mtrl_judge.data.world.claims import claim_holds
from mtrl_judge.data.world.layout import split_of
from mtrl_judge.pretrain.corpus import QUESTION_KINDS, draw_example, examples, to_messages
from mtrl_judge.prompts import is_well_formed, parse_verdict
from mtrl_judge.tasks import list_tasks


@pytest.fixture(scope="module")
def sample():
    return list(examples(3 * 2 * len(QUESTION_KINDS), seed=0))


def test_every_question_kind_in_both_styles(sample):
    seen = {(e.kind, style) for e, style in sample}
    assert seen == {(k, s) for k in QUESTION_KINDS for s in ("reason", "direct")}


def test_targets_follow_the_judge_output_format(sample):
    for example, style in sample:
        _, completion = to_messages(example, style)
        target = completion[0]["content"]
        choices = example.choices or (example.answer,)
        assert parse_verdict(target, choices) == example.answer
        assert is_well_formed(target, choices) == (style == "reason")


def test_never_the_judge_tasks_questions_or_criteria(sample):
    judge_text = {t.question for t in list_tasks()} | {t.criterion for t in list_tasks()}
    for example, style in sample:
        prompt, _ = to_messages(example, style)
        text = prompt[0]["content"][-1]["text"]
        assert not any(q in text for q in judge_text)
        assert "Text:" not in text and "policy" not in text.lower() and "unsafe" not in text.lower()


def test_yes_no_answers_are_balanced_and_true(sample):
    yes_no = [e for e, _ in sample if e.choices == ("yes", "no")]
    share = sum(e.answer == "yes" for e in yes_no) / len(yes_no)
    assert 0.25 <= share <= 0.75


@pytest.mark.parametrize("kind", ["count", "exists", "relation"])
def test_answers_are_exact(kind):
    rng = np.random.default_rng(1)
    for _ in range(20):
        e = draw_example(rng, kind)
        assert e.answer in e.reasoning or e.answer in ("yes", "no")


def test_same_seed_same_corpus():
    a = [(e.question, e.answer, e.reasoning, e.images[0].tobytes()) for e, _ in examples(14, seed=3)]
    b = [(e.question, e.answer, e.reasoning, e.images[0].tobytes()) for e, _ in examples(14, seed=3)]
    c = [(e.question, e.answer) for e, _ in examples(14, seed=4)]
    assert a == b and [x[:2] for x in a] != c


def test_pairwise_questions_use_the_judge_layout_and_balanced_positions():
    import numpy as np

    rng = np.random.default_rng(0)
    answers = []
    for kind in ("pair_exists", "pair_count") * 20:
        e = draw_example(rng, kind)
        prompt, _ = to_messages(e, "reason")
        assert [p["type"] for p in prompt[0]["content"]] == ["text", "image", "text", "image", "text"] and len(e.images) == 2
        answers.append(e.answer)
    assert set(answers) == {"1", "2"} and 0.25 <= answers.count("1") / len(answers) <= 0.75


def test_scenes_come_from_the_train_partition(monkeypatch):
    import mtrl_judge.pretrain.corpus as corpus

    claims = []
    real = corpus.scene_in_split

    def spy(rng, split, **kw):
        claim, scene = real(rng, split, **kw)
        claims.append((split, claim, scene))
        return claim, scene

    monkeypatch.setattr(corpus, "scene_in_split", spy)
    list(examples(22, seed=0))
    assert claims and all(split == "train" and split_of(claim) == "train" and claim_holds(scene, claim)
                          for split, claim, scene in claims)


def test_pretrain_runs_and_saves_a_loadable_base(tmp_path):
    from mtrl_judge import Judge
    from mtrl_judge.pretrain import pretrain

    out = pretrain(None, tmp_path / "base", preset="tiny", max_steps=2, n_examples=8, batch_size=4, seed=0)
    info = json.loads((out / "pretrain.json").read_text())
    assert info["max_steps"] == 2 and "mtrl-judge pretrain" in info["command"]
    assert not (tmp_path / ".base.pretrain").exists(), "the work folder is removed once the base is saved"
    from PIL import Image

    verdict = Judge.from_pretrained(out, max_new_tokens=4).judge(images=[Image.new("RGB", (64, 64))], text="x", task="seetrue")
    assert verdict.task == "seetrue"


def test_cached_batches_equal_the_processors(tmp_path):
    """The cache + PixelCollator path gives the model exactly what the processor would: ids, pixels,
    grids and multimodal token types; the loss covers the completion (and its <|im_end|>) only."""
    import torch

    from mtrl_judge.backbone import build_backbone, load_backbone
    from mtrl_judge.pretrain.cache import CachedCorpus, PixelCollator, build_cache

    model_dir = build_backbone("small-p8", tmp_path / "m", seed=0)
    _, processor = load_backbone(model_dir)
    cache = build_cache(tmp_path / "cache", model_dir, n=len(QUESTION_KINDS), seed=5, workers=1)
    data = CachedCorpus(cache)
    collate = PixelCollator.for_processor(processor)
    drawn = list(examples(len(QUESTION_KINDS), seed=5))
    assert len(data) == len(drawn)
    for i in (0, 3, len(drawn) - 1):  # a one-image and a two-image (pair_count) example among them
        example, style = drawn[i]
        batch = collate([data[i]])
        prompt, completion = to_messages(example, style)
        text = processor.apply_chat_template(prompt + completion, tokenize=False)
        ref = processor(text=[text], images=example.images, return_tensors="pt")
        n = batch["input_ids"].shape[1]
        assert torch.equal(batch["input_ids"][0], ref["input_ids"][0, :n])  # the template's trailing newline is not trained
        assert torch.equal(batch["mm_token_type_ids"][0], ref["mm_token_type_ids"][0, :n])
        assert torch.allclose(batch["pixel_values"], ref["pixel_values"], atol=1e-6)
        assert torch.equal(batch["image_grid_thw"], ref["image_grid_thw"])
        target = processor.tokenizer.decode(batch["labels"][0][batch["labels"][0] != -100])
        assert target == completion[0]["content"] + "<|im_end|>"


def test_packed_examples_ask_several_true_questions_of_one_image():
    """questions_per_image keeps the unpacked corpus' first questions and adds distinct questions about the same
    scene, each answered as when asked alone; images showing something else than the scene as drawn (two scenes,
    a lifted object) keep one question."""
    import mtrl_judge.pretrain.corpus as corpus

    n = 2 * len(QUESTION_KINDS)
    single = list(examples(n, seed=2, version=3))
    packed = list(examples(n, seed=2, version=3, questions_per_image=5))
    first = [(e.question, e.answer, e.reasoning, s) for e, s in packed]
    assert [(e.question, e.answer, e.reasoning, s) for e, s in single] == first
    assert all(np.array_equal(np.asarray(a.images[0]), np.asarray(b.images[0]))
               for (a, _), (b, _) in zip(single, packed, strict=True))
    for example, style in packed:
        if example.kind.startswith("pair_") or example.kind in ("float", "support"):
            assert example.follow_ups == ()
            continue
        assert 1 <= len(example.follow_ups) <= 4, example.kind
        questions = [example.question] + [f.question for f in example.follow_ups]
        assert len(set(questions)) == len(questions)
        description = example.reasoning.split(". The sky")[0]
        for f in example.follow_ups:
            assert f.kind in corpus.SAME_SCENE_KINDS and f.images == []
            assert f.reasoning.startswith(description)  # the same scene described
            if f.kind == "describe":
                assert f.answer == description.removeprefix("I see ")
        conversation = corpus.to_conversation(example, style)
        assert [m["role"] for m in conversation] == ["user", "assistant"] * len(questions)
        assert sum(part.get("type") == "image" for m in conversation if m["role"] == "user"
                   for part in m["content"]) == 1


def test_packed_follow_ups_are_answered_right(monkeypatch):
    """Every follow-up's answer is the truth of its scene: counts recounted, presence and statements rechecked."""
    import mtrl_judge.pretrain.corpus as corpus
    from mtrl_judge.data.world.scene import COLOURS, SHAPES

    scenes = []
    real = corpus._draw

    def spy(*args, **kwargs):
        drawn = real(*args, **kwargs)
        scenes.append(drawn[2])
        return drawn

    monkeypatch.setattr(corpus, "_draw", spy)
    checked = 0
    for example, _ in examples(60, seed=9, questions_per_image=6, weights={"count": 3, "exists": 3, "statement": 3}):
        scene = scenes[-1]
        for f in example.follow_ups:
            if f.kind == "count":
                colour, shape = next((c, s) for c in COLOURS for s in SHAPES
                                     if f.question.startswith(f"How many {c} {s}"))
                assert f.answer == corpus.count_word(len(corpus._members(scene, colour, shape)))
            elif f.kind == "exists":
                colour, shape = next((c, s) for c in COLOURS for s in SHAPES
                                     if f.question == f"Is there {corpus.plural(1, c, s)} in the image?")
                assert f.answer == ("yes" if corpus._members(scene, colour, shape) else "no")
            else:
                continue
            checked += 1
    assert checked > 50


def test_packed_cache_equals_the_processors_conversation_and_learns_every_answer(tmp_path):
    """A packed example is the processor's tokenization of the whole conversation, and its labels are exactly
    the assistant turns, each closed by <|im_end|>."""
    import torch

    from mtrl_judge.backbone import build_backbone, load_backbone
    from mtrl_judge.pretrain.cache import CachedCorpus, PixelCollator, build_cache
    from mtrl_judge.pretrain.corpus import to_conversation

    model_dir = build_backbone("tiny", tmp_path / "m", seed=0)
    _, processor = load_backbone(model_dir)
    n = 6
    cache = build_cache(tmp_path / "cache", model_dir, n=n, seed=5, workers=1, questions_per_image=4, version=4)
    data = CachedCorpus(cache)
    drawn = list(examples(n, seed=5, questions_per_image=4, version=4))
    assert data.questions() == sum(1 + len(e.follow_ups) for e, _ in drawn) > n
    collate = PixelCollator.for_processor(processor)
    for i, (example, style) in enumerate(drawn):
        batch = collate([data[i]])
        conversation = to_conversation(example, style)
        text = processor.apply_chat_template(conversation, tokenize=False)
        ref = processor(text=[text], images=example.images, return_tensors="pt")
        n_ids = batch["input_ids"].shape[1]
        assert n_ids == ref["input_ids"].shape[1] - 1  # all but the template's trailing newline
        assert torch.equal(batch["input_ids"][0], ref["input_ids"][0, :n_ids])
        assert torch.equal(batch["mm_token_type_ids"][0], ref["mm_token_type_ids"][0, :n_ids])
        labels = batch["labels"][0]
        said = [m["content"] + "<|im_end|>" for m in conversation if m["role"] == "assistant"]
        assert processor.tokenizer.decode(labels[labels != -100]) == "".join(said)
        runs = int(((labels[1:] != -100) & (labels[:-1] == -100)).sum())
        assert runs == len(said) == 1 + len(example.follow_ups)


@pytest.mark.parametrize("args, option", [(["--steps", "0"], "--steps"), (["--batch-size", "-4"], "--batch-size"),
                                          (["--learning-rate", "nan"], "--learning-rate"),
                                          (["--time-limit", "-1"], "--time-limit"),
                                          (["--workers", "0"], "--workers"), (["--examples", "0"], "--examples"),
                                          (["--questions-per-image", "0"], "--questions-per-image"),
                                          (["--questions-per-image", "99"], "--questions-per-image")])
def test_bad_pretrain_arguments_end_in_one_line(tmp_path, args, option, capsys):
    from mtrl_judge.cli import main

    assert main(["pretrain", "--out", str(tmp_path / "b"), "--preset", "tiny", *args]) != 0
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err and not (tmp_path / "b").exists()


def test_bad_world_arguments_end_in_one_line(tmp_path, capsys):
    from mtrl_judge.cli import main

    with pytest.raises(SystemExit):
        main(["world", "generate", "--out", str(tmp_path / "w"), "--version", "3"])
    assert "--version" in capsys.readouterr().err
    assert main(["world", "generate", "--out", str(tmp_path / "w"), "--seed", "-1"]) != 0
    assert "seed" in capsys.readouterr().err


def test_kind_weights_shape_the_corpus_and_default_is_unchanged():
    from collections import Counter

    from mtrl_judge.pretrain.corpus import kind_cycle

    assert kind_cycle() == QUESTION_KINDS == kind_cycle({"symbol": 1})
    cycle = kind_cycle({"symbol": 4, "count": 2, "sky": 0})
    counts = Counter(cycle)
    assert counts["symbol"] == 4 and counts["count"] == 2 and "sky" not in counts and counts["blur"] == 1
    assert cycle.index("symbol") < len(QUESTION_KINDS) < len(cycle) - cycle[::-1].index("symbol") - 1  # spread out
    drawn = list(examples(2 * len(cycle), seed=0, weights={"symbol": 4, "count": 2, "sky": 0}))
    assert Counter(e.kind for e, _ in drawn) == Counter({k: 2 * v for k, v in counts.items()})
    assert {(e.kind, s) for e, s in drawn} >= {("symbol", "reason"), ("symbol", "direct")}


def test_styles_choose_the_answer_styles_and_default_alternates_them():
    from mtrl_judge.pretrain.corpus import kind_cycle, to_messages

    n = 3 * len(kind_cycle())
    both = list(examples(n, seed=0))
    direct = list(examples(n, seed=0, styles=("direct",)))
    assert {s for _, s in both} == {"reason", "direct"} and {s for _, s in direct} == {"direct"}
    # the same questions and images, only the answer's form differs
    assert [(e.kind, e.question, e.answer) for e, _ in both] == [(e.kind, e.question, e.answer) for e, _ in direct]
    assert all("<think>" not in to_messages(e, s)[1][0]["content"] for e, s in direct)


@pytest.mark.parametrize("text", ["", "direct,direct", "answer", "reason,direct,cot"])
def test_bad_styles_are_refused_by_name(text):
    from mtrl_judge.errors import JudgeError
    from mtrl_judge.pretrain.corpus import parse_styles

    with pytest.raises(JudgeError, match="--styles"):
        parse_styles(text)


@pytest.mark.parametrize("text, message", [("symbol", "KIND=WEIGHT"), ("cats=2", "KIND=WEIGHT"), ("count=-1", "whole number"),
                                           ("count=x", "whole number"), (",".join(f"{k}=0" for k in QUESTION_KINDS), "above 0")])
def test_bad_kind_weights_are_refused_by_name(text, message):
    from mtrl_judge.errors import JudgeError
    from mtrl_judge.pretrain.corpus import parse_kind_weights

    with pytest.raises(JudgeError, match=message) as info:
        parse_kind_weights(text)
    assert "--kind-weights" in str(info.value)


def test_pretrain_continues_from_a_base_and_records_its_lineage(tmp_path):
    import torch
    from safetensors.torch import load_file

    from mtrl_judge.pretrain import pretrain

    first = pretrain(None, tmp_path / "base", preset="tiny", max_steps=1, n_examples=4, batch_size=4, seed=0)
    before = load_file(first / "model.safetensors")
    second = pretrain(None, tmp_path / "more", init=first, max_steps=2, n_examples=8, batch_size=4, seed=1,
                      kind_weights={"symbol": 3}, styles=("direct",), questions_per_image=3, lr_schedule="constant")
    info = json.loads((second / "pretrain.json").read_text())
    assert info["init"]["model"] == str(first) and "--preset tiny" in info["init"]["command"]
    assert "--init" in info["command"] and "--kind-weights symbol=3" in info["command"] and info["steps_done"] == 2
    assert "--styles direct" in info["command"] and info["styles"] == ["direct"]
    assert "--styles" not in info["init"]["command"]  # the default is not spelled out
    assert "--questions-per-image 3" in info["command"] and info["examples"] == 8 < info["questions"] <= 24
    assert "--questions-per-image" not in info["init"]["command"]
    assert "--lr-schedule constant" in info["command"] and info["lr_schedule"] == "constant"
    assert "--lr-schedule" not in info["init"]["command"]
    # the rate of the last step: constant keeps the peak (a cosine schedule of two steps logs 5e-4 there)
    rows = map(json.loads, (second / "pretrain_metrics.jsonl").read_text().splitlines())
    assert [row["learning_rate"] for row in rows if "learning_rate" in row][-1] == pytest.approx(1e-3)
    after = load_file(second / "model.safetensors")
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)
    assert (second / "tokenizer.json").read_text() == (first / "tokenizer.json").read_text()


def test_a_frozen_tower_continuation_trains_the_language_model_only(tmp_path):
    import torch
    from safetensors.torch import load_file

    from mtrl_judge.pretrain import pretrain

    first = pretrain(None, tmp_path / "base", preset="tiny", max_steps=1, n_examples=4, batch_size=4, seed=0)
    second = pretrain(None, tmp_path / "more", init=first, max_steps=2, n_examples=8, batch_size=4, seed=1,
                      learning_rate=1e-2, freeze_tower=True)
    info = json.loads((second / "pretrain.json").read_text())
    assert info["freeze_tower"] is True and info["command"].endswith("--freeze-tower") and info["steps_done"] == 2
    before, after = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    tower = [k for k in before if ".visual." in k]
    assert tower and all(torch.equal(before[k], after[k]) for k in tower)
    assert any(not torch.equal(before[k], after[k]) for k in before if k not in tower)


def test_unknown_lr_schedules_are_refused_by_the_cli_and_the_function(tmp_path, capsys):
    from conftest import cli_choices

    from mtrl_judge.cli import main
    from mtrl_judge.errors import JudgeError
    from mtrl_judge.pretrain import pretrain
    from mtrl_judge.pretrain.run import LR_SCHEDULES

    with pytest.raises(SystemExit):  # argparse names the option and its choices
        main(["pretrain", "--out", str(tmp_path / "b"), "--preset", "tiny", "--lr-schedule", "linear"])
    assert "--lr-schedule" in capsys.readouterr().err
    with pytest.raises(JudgeError, match="--lr-schedule"):
        pretrain(None, tmp_path / "b", preset="tiny", max_steps=1, lr_schedule="linear")
    assert not (tmp_path / "b").exists()
    assert cli_choices("pretrain", "lr_schedule") == tuple(LR_SCHEDULES)  # spelled out in the CLI: they must stay these


def test_bad_continuation_arguments_end_in_one_line(tmp_path, capsys):
    from mtrl_judge.cli import main

    assert main(["pretrain", "--out", str(tmp_path / "b"), "--preset", "tiny", "--init", str(tmp_path)]) != 0
    assert "--init" in capsys.readouterr().err
    assert main(["pretrain", "--out", str(tmp_path / "b"), "--init", str(tmp_path / "missing")]) != 0
    assert "--init" in capsys.readouterr().err and not (tmp_path / "b").exists()
    assert main(["pretrain", "--out", str(tmp_path / "b"), "--preset", "tiny", "--kind-weights", "colour=two"]) != 0
    assert "--kind-weights" in capsys.readouterr().err
    assert main(["pretrain", "--out", str(tmp_path / "b"), "--preset", "tiny", "--corpus-version", "5"]) != 0
    assert "--corpus-version" in capsys.readouterr().err and not (tmp_path / "b").exists()
    assert main(["pretrain", "--out", str(tmp_path / "b"), "--preset", "tiny", "--freeze-tower"]) != 0
    assert "--freeze-tower" in capsys.readouterr().err and not (tmp_path / "b").exists()


def _only_check_reasoning_differs_from_v2(version: int) -> None:
    """The same questions, answers, styles and images as corpus version 2; reasoning differs for count, exists and
    statement questions and for nothing else."""
    v2 = list(examples(4 * len(QUESTION_KINDS), seed=7))
    other = list(examples(4 * len(QUESTION_KINDS), seed=7, version=version))
    for (a, style_a), (b, style_b) in zip(v2, other, strict=True):
        assert (a.question, a.answer, a.kind, style_a) == (b.question, b.answer, b.kind, style_b)
        assert [im.tobytes() for im in a.images] == [im.tobytes() for im in b.images]
        assert (a.reasoning == b.reasoning) == (a.kind not in ("count", "exists", "statement"))


def test_corpus_version_3_reasons_step_by_step_about_the_same_questions():
    """Version 3 changes only the reasoning of count, exists and statement: it lists the objects of the asked
    shape before answering, and every step it states is true of the scene."""
    from mtrl_judge.pretrain.corpus import of_shape, plural

    _only_check_reasoning_differs_from_v2(3)
    rng = np.random.default_rng(3)
    for _ in range(40):  # the listed objects of the asked shape include the asked colour exactly when the answer is yes
        e = draw_example(rng, "exists", version=3)
        colour, shape = e.question.removeprefix("Is there ").removesuffix(" in the image?").split()[-2:]
        listed = e.reasoning.split(f"The {shape}s: " if not shape.endswith("s") else f"The {shape}es: ")[1].split(".")[0]
        assert (colour in listed) == (e.answer == "yes") and listed != "" and (listed == "none") <= (e.answer == "no")
        said = plural(1, colour, shape) if e.answer == "yes" else f"no {colour} {shape}"
        assert e.reasoning.endswith(f"there is {said}.")
    scene = {"objects": [{"colour": "red", "shape": "cross", "x": 5}, {"colour": "blue", "shape": "cross", "x": 1},
                         {"colour": "red", "shape": "cross", "x": 9}, {"colour": "red", "shape": "star", "x": 3}]}
    assert of_shape(scene, "cross") == "a blue cross and two red crosses" and of_shape(scene, "circle") == "none"


def test_corpus_version_4_scans_the_described_groups_about_the_same_questions():
    """Version 4 changes only the reasoning of count, exists and statement: it goes through the described groups
    in order, each marked yes when it is the asked colour and shape, stopping there; the verdict follows the scan."""
    from mtrl_judge.pretrain.corpus import count_word, groups, nouns, plural, scan

    _only_check_reasoning_differs_from_v2(4)
    rng = np.random.default_rng(3)
    for _ in range(40):
        e = draw_example(rng, "exists", version=4)
        colour, shape = e.question.removeprefix("Is there ").removesuffix(" in the image?").split()[-2:]
        steps = e.reasoning.split("Checking each: ")[1].split(". So")[0].split("; ")
        assert all(step.endswith(", no") for step in steps[:-1]) and steps[-1].endswith(", yes" if e.answer == "yes" else ", no")
        named = [" ".join(step.removesuffix(", yes").removesuffix(", no").split()[1:]) for step in steps]
        asked = (f"{colour} {shape}", f"{colour} {nouns(shape)}")
        assert [n in asked for n in named] == [False] * (len(steps) - 1) + [e.answer == "yes"]
        said = plural(1, colour, shape) if e.answer == "yes" else f"no {colour} {shape}"
        assert e.reasoning.endswith(f"So there is {said}.")
        c = draw_example(rng, "count", version=4)
        asked = c.question.removeprefix("How many ").removesuffix(" are there?")
        assert c.reasoning.endswith(f"Counting the {asked} gives {c.answer}.") and "crosss" not in c.reasoning
        s = draw_example(rng, "statement", version=4)
        parts = s.reasoning.count("It says ")
        assert parts >= 1 and s.reasoning.count("; right.") + s.reasoning.count("; wrong.") == parts
        assert ("; wrong." in s.reasoning or " is not " in s.reasoning.split("It says ")[-1]) == (s.answer == "no")
    scene = {"objects": [{"colour": "red", "shape": "cross", "x": 5}, {"colour": "blue", "shape": "cross", "x": 1},
                         {"colour": "red", "shape": "cross", "x": 9}, {"colour": "red", "shape": "star", "x": 3}]}
    assert groups(scene) == [(1, "blue", "cross"), (1, "red", "star"), (2, "red", "cross")]
    assert scan(scene, "red", "star") == ("a blue cross, no; a red star, yes", 1)
    assert scan(scene, "red", "cross") == ("a blue cross, no; a red star, no; two red crosses, yes", 2)
    assert scan(scene, "green", "cross") == ("a blue cross, no; a red star, no; two red crosses, no", 0)
    assert nouns("cross") == "crosses" and count_word(0) == "zero"


def test_a_cache_of_another_corpus_is_refused(tmp_path):
    """A cache drawn with other kind weights or another corpus version is never replayed by mistake."""
    from mtrl_judge.backbone import build_backbone
    from mtrl_judge.errors import JudgeError
    from mtrl_judge.pretrain.cache import build_cache

    model_dir = build_backbone("tiny", tmp_path / "m", seed=0)
    cache = build_cache(tmp_path / "cache", model_dir, n=4, seed=0, workers=1, weights={"symbol": 2}, version=3)
    spec = json.loads((cache / "cache.json").read_text())
    assert spec["kind_weights"] == {"symbol": 2} and spec["corpus_version"] == 3
    for other in ({"weights": {"symbol": 2}}, {"version": 3}, {"weights": {"symbol": 3}, "version": 3},
                  {"weights": {"symbol": 2}, "version": 3, "styles": ("direct",)}):
        with pytest.raises(JudgeError, match="other settings"):
            build_cache(tmp_path / "cache", model_dir, n=4, seed=0, workers=1, **other)
    assert build_cache(tmp_path / "cache", model_dir, n=4, seed=0, workers=1, weights={"symbol": 2}, version=3) == cache


def test_a_run_stopped_by_its_time_limit_saves_and_goes_on(tmp_path, caplog):
    """--time-limit saves the base so far and keeps the work folder; the same call with overwrite finishes the schedule."""
    from mtrl_judge.pretrain import pretrain

    kwargs = {"preset": "tiny", "max_steps": 3, "n_examples": 12, "batch_size": 4, "seed": 0}
    out = pretrain(None, tmp_path / "base", time_limit=1e-9, **kwargs)
    info = json.loads((out / "pretrain.json").read_text())
    work = tmp_path / ".base.pretrain"
    assert info["steps_done"] == 1 and (work / "checkpoints" / "checkpoint-1").is_dir()
    with caplog.at_level("INFO", logger="mtrl_judge.pretrain.run"):
        out = pretrain(None, tmp_path / "base", overwrite=True, **kwargs)
    assert "resuming pretraining from" in caplog.text and "checkpoint-1" in caplog.text
    info = json.loads((out / "pretrain.json").read_text())
    assert info["steps_done"] == 3 and not work.exists()
