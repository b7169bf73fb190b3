"""Training: recipes parse and fail early on mistakes; each method trains a few steps on the tiny
backbone; per-task metrics reach metrics.jsonl; best/ and final/ are saved; a killed run resumes."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from mtrl_judge import Judge, JudgeError
from mtrl_judge.judge_config import read_judge_config
from mtrl_judge.recipes import recipes_dir
from mtrl_judge.rewards import REWARDS, register_reward
from mtrl_judge.train.callbacks import ALARMS_FILE, BEST_DIR, FINAL_DIR, METRICS_FILE
from mtrl_judge.train.config import load_recipe
from mtrl_judge.train.data import build_mixture, mixture_counts
from mtrl_judge.train.run import train

RECIPES = sorted(recipes_dir().glob("*/*.yaml"))
TRAIN_RECIPES = [p for p in RECIPES if p.parent.name in ("cpu", "gpu")]


@pytest.mark.parametrize("path", TRAIN_RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_recipe_parses_and_validates(path):
    text = path.read_text()
    assert text.startswith("#") and f"train src/mtrl_judge/recipes/{path.parent.name}/{path.name}" in text, (
        "a recipe starts with what it is and how to run it"
    )
    recipe = load_recipe(path, dry_run=True)
    assert recipe.judge.tasks and recipe.trl.output_dir
    if recipe.judge.method == "grpo":
        assert recipe.trl.num_generations >= 2


def test_single_task_recipes_are_the_unified_ones_with_one_task():
    for kind in ("cpu", "gpu"):
        single = load_recipe(recipes_dir() / kind / "rl-single.yaml", dry_run=True)
        multi = load_recipe(recipes_dir() / kind / "mt-rl-judge.yaml", dry_run=True)
        assert len(single.judge.tasks) == 1 and len(multi.judge.tasks) == 6
        assert single.trl.learning_rate == multi.trl.learning_rate and single.trl.num_generations == multi.trl.num_generations


def test_gpu_recipe_follows_the_paper():
    recipe = load_recipe(recipes_dir() / "gpu" / "mt-rl-judge.yaml", dry_run=True)
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
            "save_steps": 1, "report_to": "none", "use_cpu": True, "bf16": False, "activation_checkpointing": False,
            "logging_steps": 1,
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
        ({}, ["--tasks", "seetrue,agin-nat"], "separate tasks with spaces"),
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
        ({"dynamic_sampling": False, "dynamic_sampling_mask_fill": True}, [],
         "'dynamic_sampling_mask_fill' needs dynamic_sampling"),
        ({"prompts_per_step": 3, "gradient_accumulation_steps": 8}, [], "not divisible by gradient_accumulation_steps"),
        ({"prompts_per_step": 2}, ["--per_device_train_batch_size", "8"], "not both"),
        ({"alarm_answer_share": 0.0}, [], "field 'alarm_answer_share'"),
        ({"alarm_zero_std_steps": 0}, [], "field 'alarm_zero_std_steps'"),
        ({"lr_scheduler_type": "constant", "warmup_steps": 10}, [], "field 'warmup_steps' is 10 but lr_scheduler_type"),
        ({"lr_scheduler_type": "linear"}, ["--lr_scheduler_type", "constant", "--warmup_steps", "0.1"],
         "use constant_with_warmup"),
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


def test_overridden_enum_fields_are_recorded_as_plain_yaml(recipe_file):
    """A scheduler given on the command line reaches the run's recipe.yaml as its name (it once crashed the
    YAML writer as a transformers enum), and a warm-up with it is accepted."""
    import yaml

    from mtrl_judge.train.config import run_record

    recipe = load_recipe(recipe_file(), ["--lr_scheduler_type", "constant_with_warmup", "--warmup_steps", "10"])
    record = run_record(recipe, processes=1)
    assert record["lr_scheduler_type"] == "constant_with_warmup" and record["warmup_steps"] == 10
    assert yaml.safe_load(yaml.safe_dump(record))["lr_scheduler_type"] == "constant_with_warmup"


@pytest.mark.parametrize("steps_per_generation, warned", [(None, True), (4, False)])
def test_an_inert_clip_range_is_warned_about(recipe_file, caplog, steps_per_generation, warned):
    """One optimizer step per generation batch makes the policy ratio 1: a clip range set there does nothing."""
    fields = {"epsilon_high": 0.28, "gradient_accumulation_steps": 1}
    if steps_per_generation:
        fields["steps_per_generation"] = steps_per_generation
    with caplog.at_level("WARNING", logger="mtrl_judge.train.config"):
        load_recipe(recipe_file(**fields))
    assert ("epsilon / epsilon_high have no effect" in caplog.text) == warned


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

    from mtrl_judge.data.schema import features

    for task, pos in zip(("seetrue", "agin-tech"), positives, strict=True):
        labels = ["yes"] * pos + ["no"] * (size - pos)
        image, text = Image.new("RGB", (32, 32)), "x" if task == "seetrue" else ""
        rows = [{"id": f"{task}-{i}", "task": task, "images": [image], "text": text, "label": label, "source": "fixture",
                 "score": 0.0, "meta": "{}"} for i, label in enumerate(labels)]
        ds = datasets.Dataset.from_list(rows, features=features())
        datasets.DatasetDict({"train": ds, "validation": ds, "test": ds}).save_to_disk(str(root / task))
    return root


@pytest.mark.parametrize("mixture", ["balanced", "proportional"])
def test_balance_labels_draws_each_task_evenly_across_labels(recipe_file, tmp_path, mixture):
    data = _skewed_data(tmp_path / "skewed")
    plain = build_mixture(load_recipe(recipe_file(data=str(data), mixture=mixture)).judge, seed=0)
    recipe = load_recipe(recipe_file(data=str(data), mixture=mixture), ["--balance_labels", "true"])
    mixed = build_mixture(recipe.judge, seed=0)
    for task, natural in (("seetrue", 10), ("agin-tech", 2)):
        labels = [label for t, label in zip(mixed["task"], mixed["label"], strict=True) if t == task]
        plain_labels = [label for t, label in zip(plain["task"], plain["label"], strict=True) if t == task]
        assert len(labels) == len(plain_labels) == 12, "the task's row count is the mixture's"
        assert labels.count("yes") == labels.count("no") == 6
        assert plain_labels.count("yes") == natural
    majority = [i for t, i, label in zip(mixed["task"], mixed["id"], mixed["label"], strict=True)
                if t == "agin-tech" and label == "no"]
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


def test_a_frozen_vision_tower_stays_as_the_base_has_it(recipe_file, tiny_model_dir):
    out = train(load_recipe(recipe_file(method="sft", num_generations=None, max_completion_length=None,
                                        freeze_vision_tower=True, learning_rate=1e-2)))
    before, after = _weights(tiny_model_dir), _weights(out / FINAL_DIR)
    tower = [name for name in before if ".visual." in name]
    assert tower and all(torch.equal(before[name], after[name]) for name in tower)
    assert any(not torch.equal(before[name], after[name]) for name in before if name not in tower)
    assert load_recipe(out / "recipe.yaml").judge.freeze_vision_tower is True


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
    validations = [r for r in rows if "val/mean_macro_f1" in r]
    # ROC-AUC of P(yes) at every validation: the fixture's validation rows alternate yes and no
    assert validations and all(0.0 <= r["val/seetrue/roc_auc"] <= 1.0 and "val/mean_roc_auc" in r for r in validations)
    if method == "grpo":
        assert {"rewards/format/mean", "rewards/accuracy/mean", "rewards/accuracy/seetrue/mean",
                "rewards/accuracy/agin-tech/mean"} <= set().union(*rows)
        assert {"dynamic_sampling/kept_frac", "dynamic_sampling/tries"} <= set(next(r for r in rows if "loss" in r))
        alarms = [json.loads(line) for line in (out / ALARMS_FILE).read_text().splitlines()]
        assert {"answer_collapse", "zero_std"} == {a["alarm"] for a in alarms}
        assert [a["step"] for a in alarms if a["alarm"] == "zero_std"] == [2]
        assert any("alarm/answer_collapse" in r for r in rows) and any("alarm/zero_std" in r for r in rows)
    shares = {f"val/seetrue/answer_share/{answer}" for answer in ("yes", "no", "invalid")}
    assert shares <= set().union(*rows)
    assert all("loss" in r for r in rows if "val/mean_macro_f1" in r and r["step"] <= 2), (
        "validation must not drop the step's loss"
    )
    best = json.loads((out / BEST_DIR / "score.json").read_text())
    assert best["val/mean_macro_f1"] == max(r["val/mean_macro_f1"] for r in rows if "val/mean_macro_f1" in r)
    judge = Judge.from_pretrained(out / BEST_DIR, max_new_tokens=4)
    assert judge.judge(images=[__import__("PIL.Image").Image.new("RGB", (64, 64))], text="x", task="seetrue").task == "seetrue"
    # The run's recipe.yaml replays it, and its README.md is our card, not TRL's generic one.
    replay = load_recipe(out / "recipe.yaml")
    assert (replay.judge.method, replay.judge.tasks, replay.trl.max_steps) == (method, ["seetrue", "agin-tech"], 2)
    card = (out / "README.md").read_text()
    assert "| tasks | seetrue, agin-tech |" in card and "step 2 of 2, finished" in card and "--resume" not in card
    assert f"`best/`, step {best['step']}: validation mean macro-F1 {best['val/mean_macro_f1']:.3f}" in card
    assert f"mtrl-judge judge --model {out / BEST_DIR} --task seetrue" in card and "huggingface" not in card.lower()
    checks = [r for r in rows if "val/mean_macro_f1" in r]
    progress = card.split("## Training so far")[1].split("Files:")[0]
    table = [line.split(" | ")[:2] for line in progress.splitlines() if line[:3].strip("| ").isdigit()]
    assert table == [[f"| {r['step']}", f"{r['val/mean_macro_f1']:.3f}"] for r in checks]
    assert ("Sampled completions, by quarter of the 2 steps so far" in card) == (method == "grpo")
    # Every checkpoint says how it is meant to be asked; loading one without a style uses the recorded one.
    style = "direct" if method == "sft" else "reason"
    for folder in (out / BEST_DIR, out / FINAL_DIR, out / "checkpoint-1", out / "checkpoint-2"):
        config = read_judge_config(folder)
        assert config is not None and config["style"] == style and config["method"] == method, folder
        assert config["tasks"] == ["seetrue", "agin-tech"] and config["max_new_tokens"] == 8
    assert judge.style == style
    # A finished run keeps its checkpoints' weights but not their optimizer states.
    assert (out / "checkpoint-2" / "model.safetensors").is_file() and (out / "checkpoint-2" / "trainer_state.json").is_file()
    assert not list((out / "checkpoint-2").glob("optimizer*")) and not (out / "checkpoint-2" / "scheduler.pt").exists()


def test_killed_run_resumes_from_its_checkpoint(recipe_file, monkeypatch):
    path = recipe_file(method="sft", num_generations=None, max_completion_length=None, max_steps=4, save_steps=2, val_every=0)
    restore = _kill_at(monkeypatch, 3, event="on_step_end")  # killed after checkpoint-2, before checkpoint-4
    with pytest.raises(KeyboardInterrupt):
        train(load_recipe(path))
    out = Path(load_recipe(path).trl.output_dir)
    assert (out / "checkpoint-2").is_dir() and not (out / FINAL_DIR).exists()
    assert (out / "checkpoint-2" / "optimizer.pt").is_file(), "an unfinished run keeps what --resume needs"
    with pytest.raises(JudgeError, match="--resume"):
        train(load_recipe(path))
    card = (out / "README.md").read_text()
    assert "step 2 of 4, unfinished" in card and f"mtrl-judge train {out}/recipe.yaml --resume" in card
    restore()
    train(load_recipe(out / "recipe.yaml"), resume=True)  # the run's own record of its settings replays it
    steps = [json.loads(line)["step"] for line in (out / METRICS_FILE).read_text().splitlines() if "loss" in json.loads(line)]
    assert steps == [1, 2, 3, 4], "the resumed run redoes step 3 once and continues; the killed step's line is dropped"
    assert "step 4 of 4, finished" in (out / "README.md").read_text()
    assert yaml.safe_load((out / "recipe.yaml").read_text())["recipe_file"] == str(path), "replayed, it still names its recipe"
    assert (out / FINAL_DIR / "model.safetensors").is_file()
    assert not (out / "checkpoint-4" / "optimizer.pt").exists(), "finished: optimizer states dropped"
    with pytest.raises(JudgeError, match="checkpoint-4: holds no optimizer state"):
        train(load_recipe(path), resume=True)


def _kill_at(monkeypatch, step, event="on_save"):
    """Make train() raise KeyboardInterrupt at `event` of `step` (on_save: after that step's checkpoint is
    saved; on_step_end: before it). Returns a function that undoes it."""
    from transformers import TrainerCallback

    import mtrl_judge.train.run as run

    def kill(self, args, state, control, **kwargs):
        if state.global_step == step:
            raise KeyboardInterrupt

    Kill = type("Kill", (TrainerCallback,), {event: kill})

    real_build = run.build_trainer

    def build_with_kill(recipe, **kw):
        trainer = real_build(recipe, **kw)
        trainer.add_callback(Kill())
        return trainer

    monkeypatch.setattr(run, "build_trainer", build_with_kill)
    return lambda: monkeypatch.setattr(run, "build_trainer", real_build)


def test_resume_skips_a_partial_checkpoint_and_cleans_leftovers(recipe_file, monkeypatch, caplog):
    path = recipe_file(method="sft", num_generations=None, max_completion_length=None, max_steps=4, save_steps=1, val_every=0,
                       keep_checkpoints=True)
    restore = _kill_at(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        train(load_recipe(path))
    restore()
    out = Path(load_recipe(path).trl.output_dir)
    # A kill during the save of checkpoint-3: transformers writes trainer_state.json last, so it is missing.
    (out / "checkpoint-3" / "trainer_state.json").unlink()
    # And leftovers of killed atomic writes (io.atomic_dir / atomic_file), here and inside a checkpoint.
    (out / ".best.tmp-abc123").mkdir()
    (out / ".best.tmp-abc123" / "model.safetensors").write_text("half")
    (out / ".recipe.yaml.tmp-xyz").write_text("half")
    (out / "checkpoint-2" / ".judge_config.json.tmp-q1").write_text("half")
    train(load_recipe(path), resume=True)
    assert any("checkpoint-3 is incomplete" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    steps = [json.loads(line)["step"] for line in (out / METRICS_FILE).read_text().splitlines() if "loss" in json.loads(line)]
    assert steps == [1, 2, 3, 4], "resumed from checkpoint-2: step 3 redone once, its old line dropped"
    assert json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())["global_step"] == 3, "the partial one was redone"
    assert not [p for p in out.rglob(".*") if ".tmp-" in p.name], "temporary leftovers removed"
    assert (out / "checkpoint-4" / "optimizer.pt").is_file(), "keep_checkpoints keeps the optimizer states"


def test_newest_complete_checkpoint(tmp_path):
    from mtrl_judge.train.checkpoints import latest_complete_checkpoint

    def checkpoint(step, state="{}", weights=True):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
        if weights:
            (folder / "model.safetensors").write_text("w")

    assert latest_complete_checkpoint(tmp_path) is None
    checkpoint(3)
    checkpoint(10, state=None)  # killed before trainer_state.json
    checkpoint(12, state='{"global_st')  # killed while writing it
    checkpoint(20, weights=False)  # weights never written
    assert latest_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-3"
    checkpoint(25)
    assert latest_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-25", "by step number, not by name"


def _our_run(folder: Path) -> Path:
    """A folder holding an earlier run of ours: recipe.yaml as train writes it, a checkpoint and a file in it."""
    (folder / "checkpoint-1").mkdir(parents=True)
    (folder / "recipe.yaml").write_text("recipe_file: r.yaml\nprocesses: 1\n")
    (folder / "checkpoint-1" / "model.safetensors").write_text("earlier weights")
    return folder


@pytest.mark.parametrize(
    "bad", [{"data": "/nonexistent/data"}, {"model": "/nonexistent/model"}, {"tasks": ["seetrue", "unsafebench"]}]
)
def test_overwrite_deletes_nothing_when_the_inputs_are_wrong(recipe_file, tmp_path, bad):
    earlier = _our_run(tmp_path / "run")
    with pytest.raises(JudgeError, match="field '(data|model)'"):
        train(load_recipe(recipe_file(**bad)), overwrite=True)
    assert (earlier / "checkpoint-1" / "model.safetensors").read_text() == "earlier weights"


def test_overwrite_refuses_a_folder_that_is_not_a_run(recipe_file, tmp_path, capsys):
    from mtrl_judge.cli import main

    folder = tmp_path / "my-photos"
    folder.mkdir()
    (folder / "holiday.png").write_text("not ours")
    for extra in (["--data", "/nonexistent/data"], []):  # a failing command, and a valid one
        assert main(["train", str(recipe_file()), "--output_dir", str(folder), "--overwrite", *extra]) == 2
        assert (folder / "holiday.png").read_text() == "not ours"
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mtrl-judge: error: ") and "holds no mtrl-judge run" in err[-1] and str(folder) in err[-1]
    assert "Traceback" not in "".join(err)


def test_overwrite_replaces_an_earlier_run_of_ours(recipe_file, tmp_path):
    earlier = _our_run(tmp_path / "run")
    (earlier / "checkpoint-1" / "trainer_state.json").write_text("{}")
    with pytest.raises(JudgeError, match="--overwrite"):
        train(load_recipe(recipe_file(method="sft", num_generations=None, max_completion_length=None, max_steps=1)))
    out = train(load_recipe(recipe_file(method="sft", num_generations=None, max_completion_length=None, max_steps=1,
                                        save_strategy="no", val_every=0)), overwrite=True)
    assert out == earlier and not (out / "checkpoint-1").exists() and (out / FINAL_DIR / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--data", "/nonexistent/data"], "field 'data': /nonexistent/data: data folder not found"),
        (["--tasks", "seetrue", "unsafebench"], "field 'data': .*no dataset for task 'unsafebench'"),
        (["--model", "{empty}"], "field 'model': .*not a model folder \\(no config.json\\)"),
        (["--model", "/nonexistent/model"], "field 'model': /nonexistent/model: model folder not found"),
        (["--per_device_train_batch_size", "-4"], "field 'per_device_train_batch_size' must be an integer of at least 1, got -4"),
        (["--learning_rate", "nan"], "field 'learning_rate' must be a positive finite number, got nan"),
        (["--learning_rate", "inf"], "field 'learning_rate' must be a positive finite number, got inf"),
        (["--learning_rate=-1e-5"], "field 'learning_rate' must be a positive finite number"),
        (["--max_steps", "0"], "field 'max_steps' must be at least 1"),
        (["--max_steps", "-3"], "field 'max_steps' must be at least 1"),
        (["--num_generations", "1", "--per_device_train_batch_size", "4"],
         "field 'num_generations' must be an integer of at least 2"),
        (["--gradient_accumulation_steps", "0"], "field 'gradient_accumulation_steps'"),
        (["--save_steps", "0"], "field 'save_steps' must be a positive finite number"),
        (["--temperature", "-1"], "field 'temperature'"),
        (["--max_completion_length", "0"], "field 'max_completion_length'"),
    ],
)
def test_dry_run_checks_numbers_and_folders(recipe_file, tmp_path, capsys, overrides, message):
    import re

    from mtrl_judge.cli import main

    (tmp_path / "empty").mkdir()
    overrides = [o.replace("{empty}", str(tmp_path / "empty")) for o in overrides]
    assert main(["train", str(recipe_file()), "--dry-run", *overrides]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err


def test_dry_run_of_a_good_recipe(recipe_file, capsys):
    from mtrl_judge.cli import main

    assert main(["train", str(recipe_file()), "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "grpo"


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
@pytest.mark.parametrize("name", ["rl-single", "sft-single"])
def test_single_task_output_dir_follows_the_task(kind, name):
    path = recipes_dir() / kind / f"{name}.yaml"
    prefix = "runs/" if kind == "cpu" else "runs/gpu/"
    assert load_recipe(path, dry_run=True).trl.output_dir == f"{prefix}{name}-seetrue"
    recipe = load_recipe(path, ["--tasks", "agin-tech"], dry_run=True)
    assert recipe.trl.output_dir == f"{prefix}{name}-agin-tech" and recipe.values["output_dir"] == recipe.trl.output_dir
    assert (load_recipe(path, ["--tasks", "agin-tech", "seetrue"], dry_run=True).trl.output_dir
            == f"{prefix}{name}-agin-tech+seetrue")
    assert load_recipe(path, ["--output_dir", "runs/mine"], dry_run=True).trl.output_dir == "runs/mine"


def test_cpu_settings_are_in_the_cpu_recipes_not_in_the_code(recipe_file):
    from trl import GRPOConfig

    from mtrl_judge.train.config import read_recipe_values

    for name in ("mt-rl-judge", "sft-unified", "rl-single", "sft-single"):
        values = read_recipe_values(recipes_dir() / "cpu" / f"{name}.yaml")
        assert values["use_cpu"] is True and values["bf16"] is False and values["activation_checkpointing"] is False
        assert (values["save_steps"], values["save_total_limit"], values["logging_steps"], values["report_to"]) == (
            50, 2, 1, "none"
        )
    for name in ("mt-rl-judge", "sft-unified"):
        values = read_recipe_values(recipes_dir() / "gpu" / f"{name}.yaml")
        assert values["activation_checkpointing"] is True and values["save_total_limit"] == 2 and values["logging_steps"] == 1
    # A recipe silent on a TRL field gets TRL's default, on every machine.
    recipe = load_recipe(recipe_file(logging_steps=None, save_steps=None))
    assert recipe.trl.logging_steps == GRPOConfig.logging_steps and recipe.trl.save_steps == GRPOConfig.save_steps
    assert recipe.trl.save_total_limit is None


def test_reading_a_data_folder_registers_nothing(tmp_path):
    import shutil

    from conftest import write_data_folder

    from mtrl_judge.data.dataset import available_tasks, load_task_split, register_folder_tasks
    from mtrl_judge.tasks import _REGISTRY, get_task

    data = write_data_folder(tmp_path / "data", tasks=("seetrue",))
    (data / "tasks.yaml").write_text("tasks:\n  - name: folder-task\n    capability: quality\n    format: pointwise\n"
                                     "    question: Is it good?\n    criterion: It is good.\n")
    shutil.copytree(data / "seetrue", data / "folder-task")
    before = dict(_REGISTRY)
    assert available_tasks(data) == ["folder-task", "seetrue"] and len(load_task_split(data, "seetrue", "train")) == 8
    assert _REGISTRY == before, "reading changed the task registry"
    with pytest.raises(JudgeError, match="unknown task 'folder-task'.*declared in .*tasks.yaml"):
        load_task_split(data, "folder-task", "train")
    try:
        assert register_folder_tasks(data) == ["folder-task"] and get_task("folder-task").question == "Is it good?"
    finally:
        _REGISTRY.pop("folder-task", None)


# The last case leaves activation_checkpointing out of the recipe, as a user's recipe may: TRL's config then sets its
# deprecated alias itself, and transformers warns while the recipe is read, before training starts.
@pytest.mark.parametrize("method, checkpointing", [("sft", False), ("grpo", False), ("sft", None)])
def test_cli_training_prints_no_raw_log_dicts(recipe_file, capsys, method, checkpointing):
    import warnings

    from mtrl_judge.cli import main

    extra = {"num_generations": None, "max_completion_length": None} if method == "sft" else {}
    path = recipe_file(method=method, max_steps=2, val_every=0, activation_checkpointing=checkpointing, **extra)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # undo the test suite's own ignore rules; the CLI's narrow ones go first
        assert main(["train", str(path)]) == 0
    captured = capsys.readouterr()
    assert "{'loss'" not in captured.out and "{'loss'" not in captured.err and "'train_runtime'" not in captured.out
    noisy = [str(w.message) for w in caught if "gradient_checkpointing` is deprecated" in str(w.message)]
    assert not noisy, noisy
    rows = [json.loads(line) for line in (Path(load_recipe(path).trl.output_dir) / METRICS_FILE).read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2], "the per-step values still reach metrics.jsonl"


def test_judge_config_is_read_and_an_explicit_style_is_checked(tiny_model_dir, tmp_path, caplog):
    import shutil

    from mtrl_judge.judge_config import JUDGE_CONFIG_FILE

    assert read_judge_config(tiny_model_dir) is None
    with caplog.at_level("WARNING", logger="mtrl_judge"):
        assert Judge.from_pretrained(tiny_model_dir).style == "reason"
    assert any("records no prompt style" in r.getMessage() for r in caplog.records)
    caplog.clear()
    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_model_dir, folder)
    (folder / JUDGE_CONFIG_FILE).write_text(json.dumps({"style": "direct", "method": "sft"}))
    assert Judge.from_pretrained(folder).style == "direct"
    with caplog.at_level("WARNING", logger="mtrl_judge"):
        assert Judge.from_pretrained(folder, style="reason").style == "reason"
    assert any("trained with the 'direct' prompt style" in r.getMessage() for r in caplog.records)
    (folder / JUDGE_CONFIG_FILE).write_text("[1, 2")
    with pytest.raises(JudgeError, match="judge_config.json: cannot read"):
        Judge.from_pretrained(folder)
