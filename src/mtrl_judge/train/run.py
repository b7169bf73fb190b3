"""Assemble and run TRL's SFTTrainer or GRPOTrainer from a recipe.

What we add on top of TRL: the multi-task mixture, the rewards (routed by task), per-task
training accuracy, validation macro-F1 with best-checkpoint selection, metrics.jsonl, a rich
progress bar, resume after a kill, DAPO dynamic sampling, and a collapse alarm. Everything else
(the GRPO loss, generation, optimisation, accelerate / DeepSpeed / FSDP, vLLM rollouts) is TRL's.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import yaml
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from trl import GRPOTrainer, SFTTrainer

from ..backbone.load import load_backbone, vision_tower
from ..errors import JudgeError
from ..io import atomic_file
from ..judge_config import JUDGE_CONFIG_FILE
from ..rewards import get_reward, paper_reward_weights, task_accuracy_reward
from .callbacks import (
    FINAL_DIR,
    CollapseAlarmCallback,
    JudgeConfigCallback,
    MetricsJsonlCallback,
    TrainingProgressCallback,
    ValidationCallback,
    judge_config_of,
    save_model_dir,
)
from .card import RunCardCallback, write_run_card
from .checkpoints import (
    RECIPE_FILE,
    checkpoints,
    drop_optimizer_states,
    has_optimizer_state,
    is_our_run,
    latest_complete_checkpoint,
    partial_checkpoints,
    remove_temporary,
)
from .config import Recipe, check_inputs, run_record
from .data import build_mixture, to_grpo, to_sft
from .dynamic_sampling import DynamicSamplingGRPOTrainer, DynamicSamplingSharedGRPOTrainer
from .fast_grpo import GroupSharedGRPOTrainer, shared_prompt_supported

logger = logging.getLogger(__name__)


def _reward_setup(recipe: Recipe) -> tuple[list, list[float]]:
    """Reward functions and weights: the recipe's rewards (by default the paper's lambda-weighted
    format + accuracy), plus zero-weight per-task accuracies for logging."""
    judge = recipe.judge
    funcs = [get_reward(name) for name in judge.rewards]
    if recipe.trl.reward_weights is not None:
        weights = list(recipe.trl.reward_weights)
    elif judge.rewards == ["format", "accuracy"]:
        weights = paper_reward_weights(judge.format_weight)
    else:
        weights = [1.0] * len(funcs)
    if judge.log_task_accuracy and len(judge.tasks) > 1:
        funcs += [task_accuracy_reward(task) for task in judge.tasks]
        weights += [0.0] * len(judge.tasks)
    return funcs, weights


def _peft_config(recipe: Recipe):
    if not recipe.judge.use_lora:
        return None
    from peft import LoraConfig

    j = recipe.judge
    return LoraConfig(r=j.lora_r, lora_alpha=j.lora_alpha, target_modules=j.lora_target_modules, task_type="CAUSAL_LM")


def build_trainer(recipe: Recipe, *, model=None, processor=None):
    """The TRL trainer for `recipe`, with our callbacks attached (nothing trained yet). The recipe's inputs are
    checked first by `check_inputs` (train does)."""
    judge, args = recipe.judge, recipe.trl
    if model is None:
        model, processor = load_backbone(judge.model, dtype="bfloat16" if args.bf16 else "float32")
    if judge.freeze_vision_tower:
        vision_tower(model).requires_grad_(False)  # before any PEFT wrapping; the optimiser skips frozen parameters
    if judge.image_max_pixels is not None:
        size = processor.image_processor.size
        processor.image_processor.size = {"shortest_edge": size["shortest_edge"], "longest_edge": judge.image_max_pixels}
    train = build_mixture(judge, "train", seed=args.seed)
    validation = ValidationCallback(judge, processor, args.output_dir)
    callbacks = [MetricsJsonlCallback(args.output_dir)]
    if judge.method == "grpo":
        funcs, weights = _reward_setup(recipe)
        args.reward_weights = weights
        extra = {}
        share_prompt = judge.share_prompt
        if share_prompt:
            share_prompt, why = shared_prompt_supported()
            if not share_prompt:
                logger.warning("share_prompt is off: %s; training with TRL's own GRPOTrainer (same results, slower)", why)
        if judge.dynamic_sampling:
            trainer_class = DynamicSamplingSharedGRPOTrainer if share_prompt else DynamicSamplingGRPOTrainer
            extra = {"dynamic_sampling": True, "dynamic_sampling_max_tries": judge.dynamic_sampling_max_tries,
                     "dynamic_sampling_mask_fill": judge.dynamic_sampling_mask_fill}
        else:
            trainer_class = GroupSharedGRPOTrainer if share_prompt else GRPOTrainer
        trainer = trainer_class(model=model, processing_class=processor, reward_funcs=funcs, args=args,
                                train_dataset=to_grpo(train, judge.style), callbacks=callbacks, peft_config=_peft_config(recipe),
                                **extra)
    else:
        args.max_length = None  # SFTTrainer's default max_length would cut image tokens
        trainer = SFTTrainer(model=model, processing_class=processor, args=args, train_dataset=to_sft(train, judge.style),
                             callbacks=callbacks, peft_config=_peft_config(recipe))
    validation.trainer = trainer
    trainer.callback_handler.callbacks.insert(0, validation)  # first, so its metrics reach every reporter
    if judge.collapse_alarm:  # right after validation: it reads validation's metrics and adds its own flags
        trainer.callback_handler.callbacks.insert(1, CollapseAlarmCallback(judge, args.output_dir))
    trainer.add_callback(JudgeConfigCallback(judge))
    trainer.add_callback(RunCardCallback(args.output_dir))
    # transformers prints every log dict to the terminal (PrinterCallback, or ProgressCallback's tqdm.write), which
    # one `disable_tqdm` decides (and transformers' log level flips it). Those dicts belong in metrics.jsonl and the
    # reporters; the terminal gets one bar, unless the recipe itself asks for none (disable_tqdm: true).
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if recipe.values.get("disable_tqdm") is not True:
        trainer.add_callback(TrainingProgressCallback(f"{judge.method.upper()} {Path(args.output_dir).name}"))
    return trainer


def check_output_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse an output folder that is not ours, or that holds an earlier run when neither --resume nor --overwrite
    says what to do with it. Changes nothing."""
    if out.exists() and not out.is_dir():
        raise JudgeError(f"{out}: output_dir is a file, not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not is_our_run(out):
        raise JudgeError(f"{out}: output_dir is not empty and holds no mtrl-judge run (no {RECIPE_FILE} of ours); "
                         "choose another output_dir or empty it")
    if (checkpoints(out) or (out / FINAL_DIR).is_dir()) and not resume and not overwrite:
        raise JudgeError(f"{out}: holds checkpoints of an earlier run; "
                         "pass --resume to continue it or --overwrite to start again")


def _env_flag(name: str) -> bool:
    """Whether accelerate's launcher set the environment variable `name` to true ("true", "True" or "1")."""
    return os.environ.get(name, "").lower() in ("1", "true")


def one_process_from_accelerate_cpu() -> bool:
    """Whether `accelerate launch --cpu --num_processes N` (or a `distributed_type: MULTI_CPU` config) started this
    lone process. accelerate 1.15 starts several CPU processes only through MPI (`--mpirun_hostfile`); without it
    it runs the script once, with no error, setting MASTER_PORT (for N > 1) but no WORLD_SIZE."""
    env = os.environ
    return _env_flag("ACCELERATE_USE_CPU") and "MASTER_PORT" in env and "WORLD_SIZE" not in env


def sharding_not_applied(trainer) -> str | None:
    """The sharding an accelerate config asked for (FSDP, DeepSpeed) that this trainer does not use, or None.

    accelerate 1.15 drops FSDP without a word when the processes train on the CPU (`use_cpu`; seen with
    recipes/accelerate/fsdp.yaml and two CPU processes): it runs plain DDP, every process holding the whole
    model and optimizer, which is what sharding was asked to avoid. DeepSpeed is checked the same way (not
    tried on a CPU here)."""
    for name, variable, enabled in (("FSDP", "ACCELERATE_USE_FSDP", trainer.is_fsdp_enabled),
                                    ("DeepSpeed", "ACCELERATE_USE_DEEPSPEED", trainer.is_deepspeed_enabled)):
        if _env_flag(variable) and not enabled:
            return name
    return None


def train(recipe: Recipe, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Train per `recipe`; returns the output folder holding best/, final/ and metrics.jsonl.

    A run killed part-way continues with resume=True from its newest complete checkpoint, losing at most
    the steps since the last save (`save_steps`). overwrite=True deletes an earlier run of ours in the
    output folder, once the recipe's inputs are checked; a folder that is not a run of ours is never deleted.
    A finished run drops its checkpoints' optimizer states unless the recipe keeps them (`keep_checkpoints`).
    """
    out = recipe.output_dir
    args = recipe.trl
    # Launched with several processes (torchrun, accelerate launch), every process runs this function; the
    # launcher's process group already exists (TrainingArguments joined it when the recipe was parsed).
    processes, main = args.world_size, args.process_index == 0
    # Everything the run needs is checked before the output folder is touched: a mistyped data folder must not
    # cost the earlier run that --overwrite would delete.
    check_inputs(recipe)
    check_output_dir(out, resume=resume, overwrite=overwrite)
    last = latest_complete_checkpoint(out, warn=main) if resume else None
    if last is not None and not args.save_only_model and not has_optimizer_state(last):
        raise JudgeError(f"{last}: holds no optimizer state (the run finished and dropped it; keep_checkpoints keeps it): "
                         "start again with --overwrite")
    if processes > 1:
        args.distributed_state.wait_for_everyone()  # every process has looked at the folder before it changes
    # The output folder is cleared and prepared by the main process alone; the others wait (each deleting it
    # while another writes into it would lose files or fail).
    if main:
        if overwrite and not resume and out.is_dir():
            shutil.rmtree(out)  # a run of ours, or empty: check_output_dir refused anything else
        remove_temporary(out)
        for partial in partial_checkpoints(out) if resume else []:
            shutil.rmtree(partial)  # its steps are redone; left, it would be mistaken for a save of them
        out.mkdir(parents=True, exist_ok=True)
    record = run_record(recipe, processes)
    if main:
        with atomic_file(out / RECIPE_FILE) as f:
            yaml.safe_dump(record, f, sort_keys=False)
    if processes == 1 and one_process_from_accelerate_cpu():
        logger.warning("accelerate launch --cpu started one process, not several (it needs MPI for that): launch with "
                       "--multi_gpu, or --config_file recipes/accelerate/cpu-2proc.yaml, or torchrun (docs/training.md)")
    if processes > 1:
        logger.info("process %d of %d (%s) ready", args.process_index, processes, args.distributed_state.backend)
        if not main:  # one copy of every info line, from the main process (transformers' log_level_replica does this for its own)
            logging.getLogger("mtrl_judge").setLevel(logging.WARNING)
        args.distributed_state.wait_for_everyone()
    trainer = build_trainer(recipe)
    dropped = sharding_not_applied(trainer)
    if dropped and main:
        logger.warning("the accelerate config asks for %s, but the trainer runs without it (on the CPU, use_cpu, accelerate "
                       "runs plain DDP instead): every process holds the whole model (docs/gpu.md)", dropped)
    if last:
        logger.info("resuming from %s", last)
    try:
        trainer.train(resume_from_checkpoint=str(last) if last else None)
    finally:  # a killed run must not leave the bar's live display running
        for callback in trainer.callback_handler.callbacks:
            if isinstance(callback, TrainingProgressCallback):
                callback.close()
    # every process: the save is collective under ZeRO-3 / FSDP
    save_model_dir(trainer, out / FINAL_DIR, {JUDGE_CONFIG_FILE: judge_config_of(recipe.judge)})
    if main:
        write_run_card(out, record, trainer.state.global_step, trainer.state.max_steps, finished=True)
    if main and not recipe.judge.keep_checkpoints:
        # Only now: until final/ is written the run may be resumed, which needs these states.
        freed = drop_optimizer_states(out)
        if freed:
            logger.info("dropped the checkpoints' optimizer states (%.1f MB; keep_checkpoints keeps them)", freed / 1e6)
    if processes > 1:
        # Leave the launcher's process group before the interpreter exits. Left to exit-time cleanup, gloo now and
        # then aborted a process of a finished run ("terminate called without an active exception", exit -6),
        # so the launcher reported the run as failed.
        trainer.accelerator.end_training()
    logger.info("finished: %s (best: %s)", out / FINAL_DIR, out / "best")
    return out
