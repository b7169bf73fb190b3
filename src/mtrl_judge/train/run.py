"""Assemble and run TRL's SFTTrainer or GRPOTrainer from a recipe.

What we add on top of TRL: the multi-task mixture, the rewards (routed by task), per-task
training accuracy, validation macro-F1 with best-checkpoint selection, metrics.jsonl, a rich
progress bar, resume after a kill, DAPO dynamic sampling, and a collapse alarm. Everything else
(the GRPO loss, generation, optimisation, accelerate / DeepSpeed / FSDP, vLLM rollouts) is TRL's.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import get_last_checkpoint
from trl import GRPOTrainer, SFTTrainer
from trl.trainer.callbacks import RichProgressCallback

from ..backbone.load import load_backbone
from ..errors import JudgeError
from ..io import atomic_file
from ..rewards import get_reward, paper_reward_weights, task_accuracy_reward
from .callbacks import FINAL_DIR, CollapseAlarmCallback, MetricsJsonlCallback, ValidationCallback, save_model_dir
from .config import Recipe, check_inputs
from .data import build_mixture, to_grpo, to_sft
from .dynamic_sampling import DynamicSamplingGRPOTrainer, DynamicSamplingSharedGRPOTrainer
from .fast_grpo import GroupSharedGRPOTrainer

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
    """The TRL trainer for `recipe`, with our callbacks attached (nothing trained yet)."""
    check_inputs(recipe)
    judge, args = recipe.judge, recipe.trl
    if model is None:
        model, processor = load_backbone(judge.model, dtype="bfloat16" if args.bf16 else "float32")
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
        if judge.dynamic_sampling:
            trainer_class = DynamicSamplingSharedGRPOTrainer if judge.share_prompt else DynamicSamplingGRPOTrainer
            extra = {"dynamic_sampling": True, "dynamic_sampling_max_tries": judge.dynamic_sampling_max_tries}
        else:
            trainer_class = GroupSharedGRPOTrainer if judge.share_prompt else GRPOTrainer
        trainer = trainer_class(model=model, processing_class=processor, reward_funcs=funcs, args=args,
                                train_dataset=to_grpo(train, judge.style), callbacks=callbacks, peft_config=_peft_config(recipe),
                                **extra)
    else:
        args.max_length = None  # never cut image tokens (cpu-recipe.md)
        trainer = SFTTrainer(model=model, processing_class=processor, args=args, train_dataset=to_sft(train, judge.style),
                             callbacks=callbacks, peft_config=_peft_config(recipe))
    validation.trainer = trainer
    trainer.callback_handler.callbacks.insert(0, validation)  # first, so its metrics reach every reporter
    if judge.collapse_alarm:  # right after validation: it reads validation's metrics and adds its own flags
        trainer.callback_handler.callbacks.insert(1, CollapseAlarmCallback(judge, args.output_dir))
    if not args.disable_tqdm:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(RichProgressCallback)
    return trainer


def one_process_from_accelerate_cpu() -> bool:
    """Whether `accelerate launch --cpu --num_processes N` (or a `distributed_type: MULTI_CPU` config) started this
    lone process. accelerate 1.15 starts several CPU processes only through MPI (`--mpirun_hostfile`); without it
    it runs the script once, with no error, setting MASTER_PORT (for N > 1) but no WORLD_SIZE."""
    env = os.environ
    return env.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true") and "MASTER_PORT" in env and "WORLD_SIZE" not in env


def train(recipe: Recipe, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Train per `recipe`; returns the output folder holding best/, final/ and metrics.jsonl.

    A run killed part-way continues with resume=True from its latest checkpoint, losing at most
    the steps since the last save (`save_steps`).
    """
    out = recipe.output_dir
    args = recipe.trl
    # Launched with several processes (torchrun, accelerate launch), every process runs this function; the
    # launcher's process group already exists (TrainingArguments joined it when the recipe was parsed).
    processes, main = args.world_size, args.process_index == 0
    last = get_last_checkpoint(str(out)) if out.is_dir() else None
    if last and not resume and not overwrite:
        raise JudgeError(f"{out}: holds checkpoints of an earlier run; pass --resume to continue it or --overwrite to start again")
    # The output folder is cleared and prepared by the main process alone; the others wait (each deleting it
    # while another writes into it would lose files or fail).
    if main:
        if overwrite and not resume and out.is_dir():
            import shutil

            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_file(out / "recipe.yaml") as f:
            yaml.safe_dump({**recipe.values, "recipe_file": str(recipe.path), "processes": processes}, f, sort_keys=False)
    if processes == 1 and one_process_from_accelerate_cpu():
        logger.warning("accelerate launch --cpu started one process, not several (it needs MPI for that): launch with "
                       "--multi_gpu, or --config_file recipes/accelerate/cpu-2proc.yaml, or torchrun (docs/training.md)")
    if processes > 1:
        logger.info("process %d of %d (%s) ready", args.process_index, processes, args.distributed_state.backend)
        if not main:  # one copy of every info line, from the main process (transformers' log_level_replica does this for its own)
            logging.getLogger("mtrl_judge").setLevel(logging.WARNING)
        args.distributed_state.wait_for_everyone()
    trainer = build_trainer(recipe)
    if resume and last:
        logger.info("resuming from %s", last)
    trainer.train(resume_from_checkpoint=last if resume and last else None)
    save_model_dir(trainer, out / FINAL_DIR)  # every process: the save is collective under ZeRO-3 / FSDP
    if processes > 1:
        # Leave the launcher's process group before the interpreter exits. Left to exit-time cleanup, gloo now and
        # then aborted a process of a finished run ("terminate called without an active exception", exit -6),
        # so the launcher reported the run as failed.
        trainer.accelerator.end_training()
    logger.info("finished: %s (best: %s)", out / FINAL_DIR, out / "best")
    return out
