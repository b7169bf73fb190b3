"""Recipes: one YAML file per method, every setting a declared dataclass field.

A recipe holds our settings (`JudgeArguments`: model, data, task mixture, prompt style, reward
weights, validation) and TRL's own (`GRPOConfig` or `SFTConfig`: learning rate, batch sizes,
num_generations, beta, loss_type, ...) side by side at the top level, like open-r1's recipes.
YAML first; `--key value` flags on the command line override it. Everything is validated before
any model is loaded, with errors that name the recipe file and the field.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import enum
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser, SchedulerType
from trl import GRPOConfig, SFTConfig

from ..errors import JudgeError
from ..rewards import REWARDS
from ..tasks import PAPER_TASKS, get_task, read_yaml, register_tasks_from_yaml
from .checkpoints import SOURCE_KEY

logger = logging.getLogger(__name__)

METHODS = {"sft": SFTConfig, "grpo": GRPOConfig}
MIXTURES = ("balanced", "proportional", "weighted")


@dataclass
class JudgeArguments:
    """mtrl-judge's own recipe fields (TRL's fields sit beside them in the same YAML)."""

    method: str = field(default="grpo", metadata={"help": "training method: sft (SFTTrainer) or grpo (GRPOTrainer)"})
    model: str = field(default="", metadata={"help": "local model folder: our base, or a Qwen2.5-VL / Qwen3-VL checkpoint"})
    data: str = field(default="", metadata={"help": "data folder with one dataset per task (world generate / data import)"})
    tasks: list[str] = field(default_factory=lambda: list(PAPER_TASKS),
                             metadata={"help": "tasks to train on; one task = a *-Single baseline"})
    mixture: str = field(
        default="balanced",
        metadata={"help": "balanced: every task sampled as often as the largest; proportional: natural sizes; "
                          "weighted: task_weights"},
    )
    task_weights: list[float] | None = field(
        default=None, metadata={"help": "sampling weight per task (same order as tasks); mixture=weighted"}
    )
    balance_labels: bool = field(
        default=False,
        metadata={"help": "draw each task's training rows evenly across its labels (yes/no, 1/2), keeping the task's row "
                          "count from `mixture`: the same as inverse-frequency weights on the labels"},
    )
    max_examples_per_task: int | None = field(default=None, metadata={"help": "use at most this many training rows per task"})
    style: str | None = field(
        default=None, metadata={"help": "prompt style: direct or reason (default: sft -> direct, grpo -> reason)"}
    )
    format_weight: float = field(
        default=0.1,
        metadata={"help": "lambda in lambda * format + (1 - lambda) * accuracy (EasyR1's default format weight, 0.1)"},
    )
    rewards: list[str] = field(
        default_factory=lambda: ["format", "accuracy"], metadata={"help": "reward functions, by registered name"}
    )
    log_task_accuracy: bool = field(default=True, metadata={"help": "log training accuracy per task (zero-weight rewards)"})
    val_every: int = field(default=50, metadata={"help": "validate every N optimizer steps (0: only at the end)"})
    val_split: str = field(default="validation", metadata={"help": "split used for validation and best-checkpoint selection"})
    val_max_examples: int = field(default=64, metadata={"help": "validation rows per task (the first N)"})
    val_batch_size: int = field(default=32, metadata={"help": "generation batch size during validation"})
    val_max_new_tokens: int = field(default=128, metadata={"help": "generation budget per validation verdict"})
    share_prompt: bool = field(
        default=True,
        metadata={"help": "GRPO: encode each prompt (with its images) once per group instead of once per generation, in "
                          "generation and in the training forward (same results as TRL, about twice as fast; docs/speed.md)"},
    )
    dynamic_sampling: bool = field(
        default=False,
        metadata={"help": "GRPO: DAPO dynamic sampling. Groups whose completions all get the same total reward (no "
                          "gradient) are dropped and fresh prompts are generated until the batch is full of mixed groups "
                          "or dynamic_sampling_max_tries generation rounds ran (EasyR1 online_filtering, verl filter_groups)"},
    )
    dynamic_sampling_max_tries: int = field(
        default=10,
        metadata={"help": "dynamic sampling: at most this many generation rounds per batch (each costs one full rollout); "
                          "when they run out, flat groups fill the rest of the batch"},
    )
    dynamic_sampling_mask_fill: bool = field(
        default=False,
        metadata={"help": "dynamic sampling: mask the flat groups that fill the batch out of the loss, so a step trains "
                          "on its mixed groups alone, KL term included (verl's DAPO). Off: they carry the KL term, whose "
                          "weight against the policy gradient is then about beta / kept share (docs/training.md)"},
    )
    prompts_per_step: int | None = field(
        default=None,
        metadata={"help": "GRPO: distinct prompts per optimizer step; sets per_device_train_batch_size (which TRL counts in "
                          "completions) to prompts_per_step x num_generations / (gradient_accumulation_steps x processes). "
                          "Unset: per_device_train_batch_size as given"},
    )
    collapse_alarm: bool = field(
        default=True,
        metadata={"help": "warn (log, metrics.jsonl, OUTPUT/alarms.jsonl) when a task's validation verdicts collapse to one "
                          "answer or GRPO groups stay flat (see alarm_* fields)"},
    )
    alarm_answer_share: float = field(
        default=0.95, metadata={"help": "collapse alarm: one answer (unparseable counted as one) takes at least this share "
                                        "of a task's validation verdicts"},
    )
    alarm_zero_std_frac: float = field(
        default=0.8, metadata={"help": "collapse alarm: a logged share of flat GRPO groups (TRL's frac_reward_zero_std) at or "
                                       "above this counts toward alarm_zero_std_steps"},
    )
    alarm_zero_std_steps: int = field(
        default=50, metadata={"help": "collapse alarm: warn when frac_reward_zero_std stays at or above alarm_zero_std_frac "
                                      "for this many consecutive logged steps"},
    )
    freeze_vision_tower: bool = field(
        default=False,
        metadata={"help": "keep the vision tower (its mergers included) as the base has it and train the rest, as EasyR1's "
                          "worker.actor.model.freeze_vision_tower: the judge reads the visual tokens its base gives "
                          "(one answer token per image wears a warmed tower's shapes down; docs/base.md)"},
    )
    use_lora: bool = field(default=False, metadata={"help": "train LoRA adapters (PEFT) instead of all weights"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], metadata={"help": "modules given LoRA adapters"}
    )
    image_max_pixels: int | None = field(
        default=None,
        metadata={"help": "resize images to at most this many pixels (the paper: 4,194,304); default: the processor's"},
    )
    tasks_file: str | None = field(
        default=None, metadata={"help": "YAML file registering extra tasks before the recipe is checked"}
    )
    keep_checkpoints: bool = field(
        default=False,
        metadata={"help": "keep the optimizer and scheduler states of checkpoint-N folders once the run has finished "
                          "(default: drop them, keeping weights and trainer state; "
                          "an unfinished run keeps everything for --resume)"},
    )

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise JudgeError(f"field 'method' is {self.method!r}; expected one of {', '.join(METHODS)}")
        if self.tasks_file:
            register_tasks_from_yaml(self.tasks_file, overwrite=True)
        if not self.tasks:
            raise JudgeError("field 'tasks' is empty: name at least one task")
        for name in self.tasks:
            try:
                get_task(name)
            except JudgeError as e:
                # `--tasks a,b` is the commonest slip: the command line takes a list as separate words
                hint = " (on the command line, separate tasks with spaces: --tasks a b)" if "," in name else ""
                raise JudgeError(f"field 'tasks': {e}{hint}") from None
        if len(set(self.tasks)) != len(self.tasks):
            raise JudgeError("field 'tasks' names a task twice")
        if self.mixture not in MIXTURES:
            raise JudgeError(f"field 'mixture' is {self.mixture!r}; expected one of {', '.join(MIXTURES)}")
        if self.mixture == "weighted":
            if self.task_weights is None or len(self.task_weights) != len(self.tasks):
                n = "none" if self.task_weights is None else len(self.task_weights)
                raise JudgeError(f"field 'task_weights' needs one weight per task ({len(self.tasks)}), got {n}")
            if any(w < 0 for w in self.task_weights) or sum(self.task_weights) <= 0:
                raise JudgeError("field 'task_weights' must be non-negative with a positive sum")
        elif self.task_weights is not None:
            raise JudgeError("field 'task_weights' is set but mixture is not 'weighted'")
        if self.max_examples_per_task is not None and self.max_examples_per_task < 1:
            raise JudgeError("field 'max_examples_per_task' must be at least 1")
        if self.style is None:
            self.style = "direct" if self.method == "sft" else "reason"
        if self.style not in ("direct", "reason"):
            raise JudgeError(f"field 'style' is {self.style!r}; expected direct or reason")
        if self.method == "sft" and self.style == "reason":
            raise JudgeError("field 'style': SFT needs reasoning targets for the reason style, "
                             "which the data does not carry; use direct")
        if not 0.0 <= self.format_weight <= 1.0:
            raise JudgeError(f"field 'format_weight' (lambda) must be in [0, 1], got {self.format_weight}")
        for name in self.rewards:
            if name not in REWARDS:
                raise JudgeError(f"field 'rewards': unknown reward {name!r}; known: {', '.join(sorted(REWARDS))}")
        if self.image_max_pixels is not None and self.image_max_pixels < 32 * 32:
            raise JudgeError("field 'image_max_pixels' must be at least 1024 (one 32x32 patch group)")
        if self.method != "grpo":
            for name in ("dynamic_sampling", "dynamic_sampling_mask_fill", "prompts_per_step"):
                if getattr(self, name):
                    raise JudgeError(f"field {name!r} applies to GRPO only (method is {self.method!r})")
        if self.dynamic_sampling_mask_fill and not self.dynamic_sampling:
            raise JudgeError("field 'dynamic_sampling_mask_fill' needs dynamic_sampling: true (it masks the rows that fill "
                             "its batch)")
        if self.dynamic_sampling_max_tries < 1:
            raise JudgeError("field 'dynamic_sampling_max_tries' must be at least 1 (1: generate once, never refill)")
        if self.prompts_per_step is not None and self.prompts_per_step < 1:
            raise JudgeError("field 'prompts_per_step' must be at least 1")
        if not 0.0 < self.alarm_answer_share <= 1.0:
            raise JudgeError(f"field 'alarm_answer_share' must be in (0, 1], got {self.alarm_answer_share}")
        if not 0.0 <= self.alarm_zero_std_frac <= 1.0:
            raise JudgeError(f"field 'alarm_zero_std_frac' must be in [0, 1], got {self.alarm_zero_std_frac}")
        if self.alarm_zero_std_steps < 1:
            raise JudgeError("field 'alarm_zero_std_steps' must be at least 1")
        for name in ("val_every", "val_max_examples", "val_batch_size", "val_max_new_tokens"):
            if getattr(self, name) < (0 if name == "val_every" else 1):
                raise JudgeError(f"field {name!r} must be {'non-negative' if name == 'val_every' else 'positive'}")


@dataclass
class Recipe:
    """A parsed, validated recipe: our arguments, TRL's config, and where it came from."""

    judge: JudgeArguments
    trl: GRPOConfig | SFTConfig
    path: Path
    values: dict  # the merged settings as given (YAML + overrides), saved beside the run
    source: str | None = None  # the recipe file the settings came from, when `path` is a run's recipe.yaml replayed

    @property
    def output_dir(self) -> Path:
        return Path(self.trl.output_dir)


class _Parser(HfArgumentParser):
    """HfArgumentParser whose errors raise instead of printing usage for hundreds of TRL fields."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise JudgeError(f"command line: {message}")


def _field_names(*classes) -> set[str]:
    return {f.name for cls in classes for f in dataclasses.fields(cls)}


def read_recipe_values(path: Path, _seen: tuple[Path, ...] = ()) -> dict:
    """The recipe's fields, with those of its `base:` recipe (a path relative to it) underneath.

    A base lets one recipe differ from another by a few lines (RL-Single is MT-RL-Judge with one
    task) instead of being a copy."""
    values = read_yaml(path, "recipe") or {}  # not UTF-8, not YAML, unreadable: one line naming the file
    if not isinstance(values, dict):
        raise JudgeError(f"{path}: a recipe is a mapping of field: value")
    base = values.pop("base", None)
    if base is None:
        return values
    base_path = (path.parent / str(base)).resolve()
    if base_path in _seen:
        raise JudgeError(f"{path}: field 'base' makes a cycle through {base_path}")
    return {**read_recipe_values(base_path, (*_seen, path.resolve())), **values}


RUN_RECORD_FIELDS = (SOURCE_KEY, "processes")  # what `train` adds to the recipe it saves in the run folder


def run_record(recipe: Recipe, processes: int) -> dict:
    """The run's own record of its settings (its recipe.yaml): the recipe with every override, the recipe file it
    came from, and on how many processes it ran. `load_recipe` leaves RUN_RECORD_FIELDS out, so it replays the run."""
    return {**recipe.values, SOURCE_KEY: recipe.source or str(recipe.path), "processes": processes}


def load_recipe(path: str | Path, overrides: list[str] | None = None, *, dry_run: bool = False) -> Recipe:
    """Parse and validate a recipe file with `--key value` overrides; nothing is loaded yet.

    dry_run: check a recipe meant for other hardware (a GPU recipe on a CPU machine): every field
    is validated, but TrainingArguments' hardware check is passed by forcing use_cpu where no GPU
    is present. `path` may also name a shipped recipe, e.g. "cpu/mt-rl-judge.yaml" (see
    mtrl_judge.recipes), so an installed copy needs no checkout."""
    path = Path(path)
    if not path.exists() and not path.is_absolute():
        from ..recipes import recipes_dir

        shipped = recipes_dir() / path
        if shipped.is_file():
            path = shipped
    # A run's recipe.yaml is a recipe too: its record of where it came from is left out, so it replays the run.
    values = read_recipe_values(path)
    source = values.get(SOURCE_KEY)
    values = {k: v for k, v in values.items() if k not in RUN_RECORD_FIELDS}
    overrides = list(overrides or [])

    # The method decides which TRL config the other fields belong to; it may itself be overridden.
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--method", default=values.get("method", "grpo"))
    method = peek.parse_known_args(overrides)[0].method
    if method not in METHODS:
        raise JudgeError(f"{path}: field 'method' is {method!r}; expected one of {', '.join(METHODS)}")
    trl_class = METHODS[method]
    known = _field_names(JudgeArguments, trl_class)
    for key in values:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            raise JudgeError(f"{path}: unknown field {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    values = dict(values)
    if dry_run:
        import torch

        if not torch.cuda.is_available():
            values["use_cpu"] = True
    values["method"] = method
    _check_trl_numbers(path, trl_class, values, overrides)
    _apply_prompts_per_step(path, values, overrides)
    # Relative paths in a recipe are relative to where the command runs (like every CLI path).
    parser = _Parser((JudgeArguments, trl_class))
    parser.set_defaults(**values)
    try:
        judge, trl_args, rest = parser.parse_args_into_dataclasses(args=overrides, return_remaining_strings=True)
    except JudgeError as e:
        raise JudgeError(f"{path}: {e}") from None
    except (ValueError, TypeError) as e:  # TRL's own __post_init__ checks
        raise JudgeError(f"{path}: {str(e).splitlines()[0]}") from None
    if rest:
        hint = [difflib.get_close_matches(a.lstrip("-"), known, n=1) for a in rest if a.startswith("--")]
        raise JudgeError(f"command line: unknown option(s) {' '.join(rest)}"
                         + (f" (did you mean --{hint[0][0]}?)" if hint and hint[0] else ""))
    for name in ("model", "data"):
        if not getattr(judge, name):
            raise JudgeError(f"{path}: field {name!r} is required")
    if judge.prompts_per_step is not None:
        completions = trl_args.per_device_train_batch_size * trl_args.world_size * trl_args.gradient_accumulation_steps
        if completions != judge.prompts_per_step * trl_args.num_generations:
            raise JudgeError(
                f"{path}: field 'prompts_per_step' ({judge.prompts_per_step}) x num_generations ({trl_args.num_generations}) "
                f"does not match the {completions} completions per step of {trl_args.world_size} process(es)"
            )
    if trl_args.warmup_steps and SchedulerType(trl_args.lr_scheduler_type) == SchedulerType.CONSTANT:
        # transformers' constant schedule ignores warmup_steps: the run would start at the peak learning rate.
        raise JudgeError(f"{path}: field 'warmup_steps' is {trl_args.warmup_steps:g} but lr_scheduler_type 'constant' has "
                         "no warm-up; use constant_with_warmup")
    overridden = [arg[2:].split("=", 1)[0] for arg in overrides if arg.startswith("--")]
    if method == "grpo":
        if (trl_args.num_iterations == 1 and trl_args.steps_per_generation == trl_args.gradient_accumulation_steps
                and {"epsilon", "epsilon_high"} & (set(values) | set(overridden))):
            # One optimizer step per generation batch: the policy ratio is exactly 1, so the clip never binds.
            logger.warning("%s: epsilon / epsilon_high have no effect here: each generation batch is used for one "
                           "optimizer step (num_iterations 1, steps_per_generation = gradient_accumulation_steps), so the "
                           "policy ratio is 1 and nothing is clipped", path)
        n_rewards = len(judge.rewards)
        if trl_args.reward_weights is not None and len(trl_args.reward_weights) != n_rewards:
            raise JudgeError(
                f"{path}: field 'reward_weights' has {len(trl_args.reward_weights)} value(s) "
                f"for {n_rewards} reward(s) {judge.rewards}"
            )
    merged = {**values}
    for key in overridden:
        value = getattr(judge, key, getattr(trl_args, key, None))
        merged[key] = value.value if isinstance(value, enum.Enum) else value  # e.g. lr_scheduler_type: plain YAML
    if TASK_PLACEHOLDER in trl_args.output_dir:
        trl_args.output_dir = merged["output_dir"] = trl_args.output_dir.replace(TASK_PLACEHOLDER, "+".join(judge.tasks))
    return Recipe(judge=judge, trl=trl_args, path=path, values=merged, source=source)


# `{task}` in output_dir stands for the recipe's tasks (joined by "+"), so that a single-task recipe run with
# `--tasks agin-tech` writes to runs/rl-single-agin-tech without a matching --output_dir.
TASK_PLACEHOLDER = "{task}"

# TRL's numeric fields that TRL itself leaves unchecked (or checks with a message that does not name the field):
# (field, kind, smallest allowed value). kind: "int" (an integer >= smallest), "positive" (a finite number > 0),
# "non-negative" (a finite number >= 0). A field a config class does not have is skipped; None is allowed where
# the field's default is None (unset).
_TRL_NUMBERS = [
    ("per_device_train_batch_size", "int", 1), ("per_device_eval_batch_size", "int", 1),
    ("gradient_accumulation_steps", "int", 1), ("save_total_limit", "int", 1), ("max_length", "int", 1),
    ("num_generations", "int", 2), ("max_completion_length", "int", 1), ("num_iterations", "int", 1),
    ("steps_per_generation", "int", 1), ("generation_batch_size", "int", 1),
    ("learning_rate", "positive", 0), ("save_steps", "positive", 0), ("logging_steps", "positive", 0),
    ("eval_steps", "positive", 0), ("temperature", "positive", 0), ("top_p", "positive", 0), ("epsilon", "positive", 0),
    ("epsilon_high", "positive", 0),
    ("weight_decay", "non-negative", 0), ("max_grad_norm", "non-negative", 0), ("warmup_steps", "non-negative", 0),
    ("beta", "non-negative", 0),
]


def _check_trl_numbers(path: Path, trl_class, values: dict, overrides: list[str]) -> None:
    """Fail naming the field when one of TRL's numeric settings (YAML or command line) is out of range: a negative
    batch size, a NaN or negative learning rate, zero steps, fewer than 2 generations per GRPO group, ...

    Runs before TrainingArguments parses the values: a value that is not a number at all is left to that parser,
    whose error names the option."""
    defaults = {f.name: f.default for f in dataclasses.fields(trl_class)}
    names = [name for name, _, _ in _TRL_NUMBERS if name in defaults] + ["max_steps", "num_train_epochs"]
    peek = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for name in names:
        peek.add_argument(f"--{name}", default=None)
    try:
        given = vars(peek.parse_known_args(overrides)[0])
    except argparse.ArgumentError:
        return

    def number(name: str) -> float | None:
        raw = given[name] if given[name] is not None else values.get(name, defaults[name])
        if raw is None or isinstance(raw, bool):
            return None
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None  # not a number: the full parser reports it

    for name, kind, smallest in _TRL_NUMBERS:
        if name not in defaults or (value := number(name)) is None:
            continue
        if kind == "int" and not (math.isfinite(value) and value >= smallest):
            raise JudgeError(f"{path}: field {name!r} must be an integer of at least {smallest}, got {value:g}")
        if kind == "positive" and not (math.isfinite(value) and value > 0):
            raise JudgeError(f"{path}: field {name!r} must be a positive finite number, got {value:g}")
        if kind == "non-negative" and not (math.isfinite(value) and value >= 0):
            raise JudgeError(f"{path}: field {name!r} must be a finite number of at least 0, got {value:g}")
    max_steps = number("max_steps")
    if max_steps is not None and max_steps != -1 and not (math.isfinite(max_steps) and max_steps >= 1):
        raise JudgeError(f"{path}: field 'max_steps' must be at least 1 (or -1: train for num_train_epochs), got {max_steps:g}")
    epochs = number("num_train_epochs")
    if max_steps in (None, -1) and epochs is not None and not (math.isfinite(epochs) and epochs > 0):
        raise JudgeError(f"{path}: field 'num_train_epochs' must be a positive finite number (max_steps is unset), "
                         f"got {epochs:g}")


def _apply_prompts_per_step(path: Path, values: dict, overrides: list[str]) -> None:
    """Derive per_device_train_batch_size from prompts_per_step (YAML or command line), before TRL checks it.

    TRL counts its batch in completions per device; a GRPO step is easier to reason about in prompts.
    The number of processes is the launcher's WORLD_SIZE (accelerate launch / torchrun set it)."""
    peek = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    peek.add_argument("--prompts_per_step", type=int, default=values.get("prompts_per_step"))
    peek.add_argument("--num_generations", type=int, default=values.get("num_generations", 8))
    peek.add_argument("--gradient_accumulation_steps", type=int, default=values.get("gradient_accumulation_steps", 1))
    peek.add_argument("--per_device_train_batch_size", type=int, default=None)
    try:
        known = peek.parse_known_args(overrides)[0]
    except argparse.ArgumentError:  # a malformed value: the full parser reports it with the field's name
        return
    if known.prompts_per_step is None or known.prompts_per_step < 1:
        return  # unset, or invalid: JudgeArguments reports the latter
    if known.per_device_train_batch_size is not None:
        raise JudgeError("command line: give prompts_per_step or per_device_train_batch_size, not both")
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    completions = known.prompts_per_step * known.num_generations
    per_step = known.gradient_accumulation_steps * processes
    if completions % per_step:
        raise JudgeError(
            f"{path}: field 'prompts_per_step': {known.prompts_per_step} prompts x {known.num_generations} generations = "
            f"{completions} completions, not divisible by gradient_accumulation_steps x processes = {per_step}"
        )
    values["per_device_train_batch_size"] = completions // per_step


def check_inputs(recipe: Recipe) -> None:
    """Check the model folder and the data (every task's train and validation split) up front."""
    from ..backbone.load import check_model_dir
    from ..data.dataset import load_task_split

    try:
        check_model_dir(recipe.judge.model)
    except JudgeError as e:
        raise JudgeError(f"{recipe.path}: field 'model': {e}") from None
    for task in recipe.judge.tasks:
        for split in ("train", recipe.judge.val_split):
            try:
                load_task_split(recipe.judge.data, task, split)
            except JudgeError as e:
                raise JudgeError(f"{recipe.path}: field 'data': {e}") from None


