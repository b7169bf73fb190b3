"""Training: recipes parse and fail early on mistakes; each method trains a few steps on the tiny
backbone; per-task metrics reach metrics.jsonl; best/ and final/ are saved; a killed run resumes."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mtrl_judge import Judge, JudgeError
from mtrl_judge.rewards import REWARDS, register_reward
from mtrl_judge.train.callbacks import ALARMS_FILE, BEST_DIR, FINAL_DIR, METRICS_FILE
from mtrl_judge.train.config import load_recipe
from mtrl_judge.train.data import build_mixture, mixture_counts
from mtrl_judge.train.run import build_trainer, train

RECIPES = sorted((Path(__file__).parents[1] / "recipes").glob("*/*.yaml"))
TRAIN_RECIPES = [p for p in RECIPES if p.parent.name in ("cpu", "gpu")]


@pytest.mark.parametrize("path", TRAIN_RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_recipe_parses_and_validates(path):
    text = path.read_text()
    assert text.startswith("#") and f"train recipes/{path.parent.name}/{path.name}" in text, "a recipe starts with what it is and how to run it"
    recipe = load_recipe(path, dry_run=True)
    assert recipe.judge.tasks and recipe.trl.output_dir
    if recipe.judge.method == "grpo":
        assert recipe.trl.num_generations >= 2


def test_single_task_recipes_are_the_unified_ones_with_one_task():
    for kind in ("cpu", "gpu"):
        root = Path(__file__).parents[1] / "recipes" / kind
        single, multi = load_recipe(root / "rl-single.yaml", dry_run=True), load_recipe(root / "mt-rl-judge.yaml", dry_run=True)
        assert len(single.judge.tasks) == 1 and len(multi.judge.tasks) == 6
        assert single.trl.learning_rate == multi.trl.learning_rate and single.trl.num_generations == multi.trl.num_generations


def test_gpu_recipe_follows_the_paper():
    recipe = load_recipe(Path(__file__).parents[1] / "recipes" / "gpu" / "mt-rl-judge.yaml", dry_run=True)
    t = recipe.trl
    assert t.bf16 and t.use_vllm and t.num_generations == 20 and recipe.judge.image_max_pixels == 4_194_304
    gpus = 8
    assert t.per_device_train_batch_size * gpus * t.gradient_accumulation_steps == 256 * 20  # global batch: 256 prompts
    assert t.per_device_train_batch_size * gpus * t.steps_per_generation == 512 * 20  # rollout batch: 512 prompts


@pytest.fixture()
def recipe_file(tmp_path, tiny_model_dir, tiny_data_dir):
    def write(**fields):
        base = {
            "method": "grpo", "model": str(tiny_model_dir), "data": str(tiny_data_dir), "tasks": ["seetrue", "agin-tech"],
            "output_dir": str(tmp_path / "run"), "max_steps": 2, "per_device_train_batch_size": 4, "num_generations": 4,
            "max_completion_length": 8, "learning_rate": 1e-2, "val_every": 1, "val_max_examples": 4, "val_max_new_tokens": 8,
            "save_steps": 1, "report_to": "none",
        }
        base.update(fields)
        base = {k: v for k, v in base.items() if v is not None}
        path = tmp_path / "recipe.yaml"
        path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in base.items()))
        return path

    return write


@pytest.mark.parametrize(
    "fields, overrides, message",
    [
        ({"tasks": ["seetrue", "nope"]}, [], "field 'tasks': unknown task 'nope'"),
        ({"tasks": []}, [], "field 'tasks' is empty"),
        ({"reward_weights": [1.0, 0.5, 0.2]}, [], "field 'reward_weights' has 3 value"),
        ({"per_device_train_batch_size": 6}, [], "divisible by num_generations"),
        ({"mixture": "weighted", "task_weights": [1.0]}, [], "field 'task_weights' needs one weight per task"),
        ({"format_weight": 1.5}, [], "format_weight"),
        ({"learnig_rate": 0.1}, [], "unknown field 'learnig_rate' (did you mean 'learning_rate'?)"),
        ({"method": "ppo"}, [], "field 'method'"),
        ({"model": None}, [], "field 'model' is required"),
        ({"method": "sft", "style": "reason", "num_generations": None, "max_completion_length": None}, [], "field 'style'"),
        ({}, ["--learning_rate", "fast"], "invalid float value"),
        ({}, ["--no_such_flag", "1"], "unknown option"),
        ({"method": "sft", "dynamic_sampling": True, "num_generations": None, "max_completion_length": None}, [],
         "field 'dynamic_sampling' applies to GRPO only"),
        ({"dynamic_sampling_max_tries": 0}, [], "field 'dynamic_sampling_max_tries' must be at least 1"),
        ({"prompts_per_step": 3, "gradient_accumulation_steps": 8}, [], "not divisible by gradient_accumulation_steps"),
        ({"prompts_per_step": 2}, ["--per_device_train_batch_size", "8"], "not both"),
        ({"alarm_answer_share": 0.0}, [], "field 'alarm_answer_share'"),
        ({"alarm_zero_std_steps": 0}, [], "field 'alarm_zero_std_steps'"),
    ],
)
def test_bad_recipes_fail_before_training_naming_the_field(recipe_file, fields, overrides, message):
    with pytest.raises(JudgeError) as info:
        load_recipe(recipe_file(**fields), overrides)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"model": "/nonexistent/model"}, "field 'model': /nonexistent/model: model folder not found"),
        ({"tasks": ["seetrue", "unsafebench"]}, "field 'data'"),
    ],
)
def test_bad_inputs_fail_before_training(recipe_file, tmp_path, fields, message):
    with pytest.raises(JudgeError, match=message):
        train(load_recipe(recipe_file(**fields)))
    assert not (tmp_path / "run" / METRICS_FILE).exists()


def test_model_folder_that_is_not_a_vlm(recipe_file, tmp_path):
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(JudgeError, match="field 'model'.*not a vision-language model"):
        train(load_recipe(recipe_file(model=str(tmp_path / "gpt"))))


def test_cli_overrides_win_over_yaml(recipe_file):
    recipe = load_recipe(recipe_file(), ["--tasks", "seetrue", "--learning_rate", "0.5", "--format_weight", "0.3"])
    assert recipe.judge.tasks == ["seetrue"] and recipe.trl.learning_rate == 0.5 and recipe.judge.format_weight == 0.3


def test_base_recipe_is_inherited(tmp_path, recipe_file):
    base = recipe_file()
    child = tmp_path / "child.yaml"
    child.write_text(f"base: {base.name}\ntasks: [agin-tech]\n")
    recipe = load_recipe(child)
    assert recipe.judge.tasks == ["agin-tech"] and recipe.trl.num_generations == 4


def test_prompts_per_step_sets_the_batch_in_completions(recipe_file):
    recipe = load_recipe(recipe_file(prompts_per_step=3, per_device_train_batch_size=None), ["--num_generations", "2"])
    assert recipe.trl.per_device_train_batch_size == 6 and recipe.judge.prompts_per_step == 3
    recipe = load_recipe(recipe_file(prompts_per_step=2, gradient_accumulation_steps=2))  # wins over the recipe's 4
    assert recipe.trl.per_device_train_batch_size == 4 and recipe.trl.gradient_accumulation_steps == 2


def _skewed_data(root, positives=(10, 2), size=12):
    """seetrue with `positives[0]` yes of `size` training rows, agin-tech with `positives[1]`."""
    import datasets
    from PIL import Image

    from mtrl_judge.data.schema import FEATURES

    for task, pos in zip(("seetrue", "agin-tech"), positives):
        labels = ["yes"] * pos + ["no"] * (size - pos)
        image, text = Image.new("RGB", (32, 32)), "x" if task == "seetrue" else ""
        rows = [{"id": f"{task}-{i}", "task": task, "images": [image], "text": text, "label": label, "source": "fixture",
                 "score": 0.0, "meta": "{}"} for i, label in enumerate(labels)]
        ds = datasets.Dataset.from_list(rows, features=FEATURES)
        datasets.DatasetDict({"train": ds, "validation": ds, "test": ds}).save_to_disk(str(root / task))
    return root


@pytest.mark.parametrize("mixture", ["balanced", "proportional"])
def test_balance_labels_draws_each_task_evenly_across_labels(recipe_file, tmp_path, mixture):
    data = _skewed_data(tmp_path / "skewed")
    plain = build_mixture(load_recipe(recipe_file(data=str(data), mixture=mixture)).judge, seed=0)
    recipe = load_recipe(recipe_file(data=str(data), mixture=mixture), ["--balance_labels", "true"])
    mixed = build_mixture(recipe.judge, seed=0)
    for task, natural in (("seetrue", 10), ("agin-tech", 2)):
        labels = [label for t, label in zip(mixed["task"], mixed["label"]) if t == task]
        plain_labels = [label for t, label in zip(plain["task"], plain["label"]) if t == task]
        assert len(labels) == len(plain_labels) == 12, "the task's row count is the mixture's"
        assert labels.count("yes") == labels.count("no") == 6
        assert plain_labels.count("yes") == natural
    majority = [i for t, i, label in zip(mixed["task"], mixed["id"], mixed["label"]) if t == "agin-tech" and label == "no"]
    assert len(set(majority)) == 6, "the majority label is drawn without repeats; the minority one repeats"
    assert mixed["id"] == build_mixture(recipe.judge, seed=0)["id"]


def test_mixture_counts():
    sizes = {"a": 10, "b": 30}
    assert mixture_counts(sizes, "proportional") == {"a": 10, "b": 30}
    assert mixture_counts(sizes, "balanced") == {"a": 30, "b": 30}
    assert mixture_counts(sizes, "weighted", [3.0, 1.0]) == {"a": 30, "b": 10}


def test_mixture_interleaves_tasks(recipe_file):
    recipe = load_recipe(recipe_file(tasks=["seetrue", "agin-tech", "mjbench-alignment"]))
    mixed = build_mixture(recipe.judge, seed=0)
    assert len(mixed) == 24 and sorted(set(mixed["task"])) == ["agin-tech", "mjbench-alignment", "seetrue"]
    first = mixed["task"][:6]
    assert len(set(first)) > 1, "tasks must be shuffled together, not one after another"
    assert mixed["id"] == build_mixture(recipe.judge, seed=0)["id"]


@pytest.fixture()
def varied_reward():
    """A reward that differs between sampled completions of a random model, so GRPO's
    group-relative advantages are non-zero and the parameters must move."""

    @register_reward("distinct-chars")
    def distinct_chars(completions, **_):
        from mtrl_judge.rewards import completion_text

        return [len(set(completion_text(c))) / 10 for c in completions]

    yield
    REWARDS.pop("distinct-chars")


def _weights(folder):
    return load_file(str(Path(folder) / "model.safetensors"))


@pytest.mark.parametrize("method", ["sft", "grpo"])
def test_each_method_trains_and_changes_parameters(recipe_file, tiny_model_dir, varied_reward, method):
    fields = {"method": method}
    if method == "grpo":
        fields.update(rewards=["format", "accuracy", "distinct-chars"], reward_weights=[0.1, 0.9, 1.0])
        # Dynamic sampling through the recipe, and alarms that must fire (any answer takes a third of 3 answers).
        fields.update(dynamic_sampling=True, dynamic_sampling_max_tries=3, alarm_answer_share=0.34,
                      alarm_zero_std_frac=0.0, alarm_zero_std_steps=2)
    else:
        fields.update(num_generations=None, max_completion_length=None)
    out = train(load_recipe(recipe_file(**fields)))
    before, after = _weights(tiny_model_dir), _weights(out / FINAL_DIR)
    assert any(not torch.equal(before[name], after[name]) for name in before), "no parameter changed"
    rows = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    assert {"val/seetrue/macro_f1", "val/agin-tech/macro_f1", "val/mean_macro_f1"} <= set().union(*rows)
    if method == "grpo":
        assert {"rewards/format/mean", "rewards/accuracy/mean", "rewards/accuracy/seetrue/mean", "rewards/accuracy/agin-tech/mean"} <= set().union(*rows)
        assert {"dynamic_sampling/kept_frac", "dynamic_sampling/tries"} <= set(next(r for r in rows if "loss" in r))
        alarms = [json.loads(line) for line in (out / ALARMS_FILE).read_text().splitlines()]
        assert {"answer_collapse", "zero_std"} == {a["alarm"] for a in alarms}
        assert [a["step"] for a in alarms if a["alarm"] == "zero_std"] == [2]
        assert any("alarm/answer_collapse" in r for r in rows) and any("alarm/zero_std" in r for r in rows)
    shares = {f"val/seetrue/answer_share/{answer}" for answer in ("yes", "no", "invalid")}
    assert shares <= set().union(*rows)
    assert all("loss" in r for r in rows if "val/mean_macro_f1" in r and r["step"] <= 2), "validation must not drop the step's loss"
    best = json.loads((out / BEST_DIR / "score.json").read_text())
    assert best["val/mean_macro_f1"] == max(r["val/mean_macro_f1"] for r in rows if "val/mean_macro_f1" in r)
    judge = Judge.from_pretrained(out / BEST_DIR, max_new_tokens=4)
    assert judge.judge(images=[__import__("PIL.Image").Image.new("RGB", (64, 64))], text="x", task="seetrue").task == "seetrue"
    assert (out / "recipe.yaml").is_file()


def test_killed_run_resumes_from_its_checkpoint(recipe_file, monkeypatch):
    from transformers import TrainerCallback

    path = recipe_file(method="sft", num_generations=None, max_completion_length=None, max_steps=4, save_steps=2, val_every=0)

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt  # killed after checkpoint-2, before checkpoint-4

    import mtrl_judge.train.run as run

    real_build = run.build_trainer

    def build_with_kill(recipe, **kw):
        trainer = real_build(recipe, **kw)
        trainer.add_callback(Kill())
        return trainer

    monkeypatch.setattr(run, "build_trainer", build_with_kill)
    with pytest.raises(KeyboardInterrupt):
        train(load_recipe(path))
    out = Path(load_recipe(path).trl.output_dir)
    assert (out / "checkpoint-2").is_dir() and not (out / FINAL_DIR).exists()
    with pytest.raises(JudgeError, match="--resume"):
        train(load_recipe(path))
    monkeypatch.setattr(run, "build_trainer", real_build)
    train(load_recipe(path), resume=True)
    steps = [json.loads(line)["step"] for line in (out / METRICS_FILE).read_text().splitlines() if "loss" in json.loads(line)]
    assert steps == [1, 2, 3, 4], "the resumed run redoes step 3 once and continues; the killed step's line is dropped"
    assert (out / FINAL_DIR / "model.safetensors").is_file()
