"""`mtrl-judge pretrain`: train the off-the-shelf base from scratch on the general corpus (TRL SFT)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

from transformers import TrainerCallback

from ..errors import JudgeError
from ..io import atomic_dir, refuse_nonempty_folder, write_json
from .corpus import DEFAULT_VERSION, STYLES

# --lr-schedule: the Trainer's scheduler for each. Cosine decays through the run; constant keeps the peak after the
# warm-up, for drills whose skill is learned in a late jump (docs/base.md: the text comparison needs ~500 updates at
# full rate, and a cosine schedule of that length has decayed by then).
LR_SCHEDULES = {"cosine": "cosine", "constant": "constant_with_warmup"}

logger = logging.getLogger(__name__)


class ThroughputCallback(TrainerCallback):
    """Adds `examples_per_second` (since the previous log) to every training log line."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.last: tuple[float, int] | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        now = time.perf_counter()
        if logs is not None and self.last is not None and state.global_step > self.last[1]:
            speed = round((state.global_step - self.last[1]) * self.batch_size / (now - self.last[0]), 1)
            logs["examples_per_second"] = speed  # for the callbacks after this one (metrics.jsonl)
            if state.log_history and state.log_history[-1].get("step") == state.global_step:
                state.log_history[-1]["examples_per_second"] = speed  # the trainer stored its own copy first
        self.last = (now, state.global_step)


class TimeLimitCallback(TrainerCallback):
    """Ends training once `minutes` of training have passed, with a checkpoint of the step it stopped at:
    a budget per call on a lent machine. The step count still sets the learning-rate schedule, so a
    stop cuts its tail unless the run is called again to go on."""

    def __init__(self, minutes: float) -> None:
        self.deadline = time.perf_counter() + 60 * minutes

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() > self.deadline:
            logger.warning("time limit reached at step %d: stopping and saving", state.global_step)
            control.should_training_stop = True
            control.should_save = True  # a checkpoint here, so that going on loses no step


def check_run_options(positive_ints: dict[str, int], learning_rate: float, time_limit: float | None) -> None:
    """The options every pretraining stage shares, each refused in one line naming it: counts (option -> value)
    that must be positive integers, a positive finite learning rate, and a positive time limit when given."""
    for name, value in positive_ints.items():
        if not isinstance(value, int) or value < 1:
            raise JudgeError(f"{name} must be a positive integer, got {value!r}")
    if not learning_rate > 0 or learning_rate != learning_rate:
        raise JudgeError(f"--learning-rate must be a positive number, got {learning_rate!r}")
    if time_limit is not None and not time_limit > 0:
        raise JudgeError(f"--time-limit must be a positive number of minutes, got {time_limit!r}")


def check_init(init: str | Path) -> None:
    """--init must name a model folder (the base a stage starts from)."""
    if not (Path(init) / "config.json").is_file():
        raise JudgeError(f"--init: {init} is not a model folder (no config.json)")


def train_resumably(trainer, work: Path, batch_size: int, time_limit: float | None, what: str) -> dict:
    """Train with the pretraining stages' callbacks (rich progress, examples/s, WORK/metrics.jsonl, the time limit),
    resuming from the last checkpoint under the trainer's output_dir; return the run's record for pretrain.json:
    steps done, median examples/s and the loss curve."""
    from transformers.trainer_callback import ProgressCallback
    from transformers.trainer_utils import get_last_checkpoint
    from trl.trainer.callbacks import RichProgressCallback

    from ..train.callbacks import MetricsJsonlCallback

    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(RichProgressCallback)
    trainer.add_callback(ThroughputCallback(batch_size))
    trainer.add_callback(MetricsJsonlCallback(work))  # loss curve, readable while it runs
    if time_limit:
        trainer.add_callback(TimeLimitCallback(time_limit))
    checkpoints = Path(trainer.args.output_dir)
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if last:
        logger.info("resuming %s from %s", what, last)
    trainer.train(resume_from_checkpoint=last)
    history = trainer.state.log_history
    speeds = sorted(h["examples_per_second"] for h in history if "examples_per_second" in h)
    return {"steps_done": trainer.state.global_step,
            "examples_per_second": round(speeds[len(speeds) // 2], 1) if speeds else None,
            "loss": [(h["step"], h["loss"]) for h in history if "loss" in h]}


def close_work(work: Path, out: Path, steps_done: int, max_steps: int, saved: str) -> None:
    """After the output is saved: a finished schedule removes its work folder; one stopped by --time-limit keeps it
    (cache, checkpoint) so that the same command with --overwrite goes on where it stopped."""
    if steps_done >= max_steps:
        shutil.rmtree(work, ignore_errors=True)
        logger.info("%s saved to %s", saved, out)
    else:
        logger.warning("%s saved to %s at step %d of %d; the same command with --overwrite continues the schedule from %s",
                       saved, out, steps_done, max_steps, work)


def pretrain(
    world: str | Path | None,
    out: str | Path,
    *,
    preset: str | None = None,
    max_steps: int = 3000,
    n_examples: int | None = None,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    overwrite: bool = False,
    zero_shot_examples: int = 100,
    workers: int | None = None,
    curriculum: bool = True,
    time_limit: float | None = None,
    init: str | Path | None = None,
    kind_weights: dict[str, int] | None = None,
    corpus_version: int = DEFAULT_VERSION,
    freeze_tower: bool = False,
    styles: tuple[str, ...] = STYLES,
    questions_per_image: int = 1,
    lr_schedule: str = "cosine",
) -> Path:
    """Build `preset` (default small-p8) with a tokenizer that covers the corpus, or start from the
    pretrained base `init` (its weights and tokenizer; a fresh optimiser and schedule), train it on the
    general corpus, save it to `out` (atomically) and, given a world, measure its zero-shot judge
    macro-F1 on the world's validation splits (out/zero_shot.json).

    `kind_weights` ({"symbol": 4, ...}) asks some question kinds more often than others
    (corpus.kind_cycle): a continuation can dwell on what a base has not learned yet. `corpus_version`
    3 reasons step by step on count, exists and statement questions (corpus.draw_example). `styles` are the answer
    styles taken in turn (both by default; ("direct",) for a continuation that drills short answers, whose examples
    are shorter and so cheaper). `questions_per_image` above 1 asks several questions of one image in one conversation
    (corpus.examples): each image's tokens, and on a CPU most of a direct-style step, then serve several answers; an
    example is then one image and its questions, and pretrain.json counts the questions apart (`questions`).

    `lr_schedule` is "cosine" (decaying to zero at `max_steps`) or "constant" (the peak after the warm-up).

    `freeze_tower` trains the language model alone and keeps the vision tower (its merger and deepstack mergers
    included) as `init` has it: the continuation after `pretrain-tower`, which would otherwise wear the warmed
    tokens down, at two thirds of the step's time on a CPU (benchmarks/pretrain_throughput.py).

    The corpus (`n_examples`, by default one per training example up to 200,000) is drawn once into a
    cache by `workers` processes and replayed in order (the curriculum), epoch after epoch if the steps
    outnumber it. On a CUDA machine training runs there in bf16 with data-loader workers; otherwise on
    the CPU in fp32. A killed run resumes from its cache and last checkpoint when called again with the
    same arguments; so does one stopped by `time_limit` (a budget per call on a lent machine): it saves
    the base so far and keeps its work folder, and the same call with `overwrite` goes on."""
    import torch
    from transformers import Trainer, TrainingArguments

    from ..backbone import PRESETS, build_backbone, load_backbone, vision_tower
    from .cache import CachedCorpus, PixelCollator, build_cache
    from .corpus import check_questions_per_image, check_styles, check_version, examples, to_messages

    check_run_options({"--steps": max_steps, "--batch-size": batch_size,
                       "--examples": 1 if n_examples is None else n_examples}, learning_rate, time_limit)
    if workers is not None and workers < 1:
        raise JudgeError(f"--workers must be a positive integer, got {workers!r}")
    if init is not None and preset is not None:
        raise JudgeError("--preset and --init exclude each other: a continuation keeps the shape of the base it starts from")
    if init is not None:
        check_init(init)
    if freeze_tower and init is None:
        raise JudgeError("--freeze-tower needs --init: a tower built from scratch has nothing to keep")
    if lr_schedule not in LR_SCHEDULES:
        raise JudgeError(f"--lr-schedule: unknown schedule {lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
    check_version(corpus_version)
    check_questions_per_image(questions_per_image)
    styles = tuple(styles)
    check_styles(styles)
    styles_option = None if styles == STYLES else ",".join(styles)  # spelled out only when not the default, like weights
    preset = preset or "small-p8"
    if preset not in PRESETS:
        raise JudgeError(f"--preset: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    out = refuse_nonempty_folder(out, overwrite=overwrite)
    work = out.with_name(f".{out.name}.pretrain")  # cache and checkpoints live beside the output until it is complete
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    n = n_examples or min(max_steps * batch_size, 200_000)
    start = work / "init"
    if init is not None and not (start / "config.json").is_file():
        shutil.copytree(init, start, dirs_exist_ok=True)
    elif not (start / "config.json").is_file():
        # The tokenizer learns the corpus' words too (byte-level, so nothing is ever unknown).
        sample = [to_messages(e, style) for e, style in examples(2000, seed, curriculum=False)]
        corpus_text = [c[0]["content"] for _, c in sample] + [p[0]["content"][-1]["text"] for p, _ in sample]
        build_backbone(preset, start, seed=seed, overwrite=True, extra_text=iter(corpus_text))
    cuda = torch.cuda.is_available()
    weights = ",".join(f"{k}={v}" for k, v in sorted(kind_weights.items())) if kind_weights else None
    variant = (f"{weights or ''}-v{corpus_version}" + (f"-{styles_option}" if styles_option else "")
               + (f"-q{questions_per_image}" if questions_per_image != 1 else ""))
    cache = work / f"cache-{n}-{seed}-{hashlib.sha1(variant.encode()).hexdigest()[:8]}"
    build_cache(cache, start, n, seed, workers=workers, curriculum=curriculum, weights=kind_weights, version=corpus_version,
                styles=styles, questions_per_image=questions_per_image)
    data = CachedCorpus(cache)
    questions = data.questions()
    model, processor = load_backbone(start)
    model.train()
    if freeze_tower:
        vision_tower(model).requires_grad_(False)  # the Trainer's optimiser takes only parameters that need grads
    loader_workers = min(8, max(0, (os.cpu_count() or 1) - 2)) if cuda else 0
    args = TrainingArguments(
        # A frozen tower's optimiser state holds fewer tensors, and a scheduler's state means nothing to another:
        # their checkpoints apart, so that no run resumes another's.
        output_dir=str(work / ("checkpoints" + ("-frozen-tower" if freeze_tower else "")
                               + ("" if lr_schedule == "cosine" else f"-{lr_schedule}-lr"))),
        max_steps=max_steps, per_device_train_batch_size=batch_size,
        learning_rate=learning_rate, lr_scheduler_type=LR_SCHEDULES[lr_schedule], warmup_steps=min(200, max_steps // 10),
        # a run shorter than 25 steps still logs its loss and rate (the loss curve in pretrain.json is never empty)
        weight_decay=0.0, use_cpu=not cuda, bf16=cuda, logging_steps=min(25, max_steps), save_steps=250, save_total_limit=1,
        report_to="none", seed=seed,
        dataloader_num_workers=loader_workers, dataloader_persistent_workers=loader_workers > 0,
        train_sampling_strategy="sequential",  # the cache is in curriculum order
        remove_unused_columns=False,
    )
    trainer = Trainer(model=model, args=args, train_dataset=data,
                      data_collator=PixelCollator.for_processor(processor))
    logger.info("pretraining %s on %s: %d steps x %d examples, corpus of %d (%d questions)", f"from {init}" if init else preset,
                "cuda (bf16)" if cuda else "cpu", max_steps, batch_size, n, questions)
    record = train_resumably(trainer, work, batch_size, time_limit, "pretraining")
    with atomic_dir(out, overwrite=True) as tmp:
        model = trainer.model.to(torch.float32)  # committed bases are fp32: CPU users load them as they are
        model.save_pretrained(tmp, safe_serialization=True)
        processor.save_pretrained(tmp)
        shutil.copy(work / "metrics.jsonl", tmp / "pretrain_metrics.jsonl")
        write_json(tmp / "pretrain.json", {
            "command": (f"mtrl-judge pretrain --out {out} " + (f"--init {init} " if init else f"--preset {preset} ")
                        + f"--steps {max_steps} --batch-size {batch_size} --examples {n} "
                        + f"--learning-rate {learning_rate} --seed {seed}"
                        + (f" --lr-schedule {lr_schedule}" if lr_schedule != "cosine" else "")
                        + (f" --kind-weights {weights}" if weights else "")
                        + (f" --corpus-version {corpus_version}" if corpus_version != DEFAULT_VERSION else "")
                        + (f" --styles {styles_option}" if styles_option else "")
                        + (f" --questions-per-image {questions_per_image}" if questions_per_image != 1 else "")
                        + ("" if curriculum else " --no-curriculum")
                        + (" --freeze-tower" if freeze_tower else "")
                        + (f" --workers {workers}" if workers else "")
                        + (f" --time-limit {time_limit:g}" if time_limit else "")),
            "device": torch.cuda.get_device_name(0) if cuda else "cpu", "preset": None if init else preset,
            "init": lineage(init), "kind_weights": kind_weights, "corpus_version": corpus_version, "styles": list(styles),
            "freeze_tower": freeze_tower, "max_steps": max_steps, "examples": n,
            "questions_per_image": questions_per_image, "questions": questions,
            "batch_size": batch_size, "learning_rate": learning_rate, "lr_schedule": lr_schedule, "seed": seed,
            "curriculum": curriculum,
            "minutes": round((time.perf_counter() - started) / 60, 1), **record,
            # examples/s counts images with their questions; this counts answers, comparable packed or not
            "questions_per_second": (round(record["examples_per_second"] * questions / n, 1)
                                     if record["examples_per_second"] else None),
        })
    close_work(work, out, record["steps_done"], max_steps, "pretrained base")
    if world is not None:
        zero_shot(out, world, max_examples=zero_shot_examples)
    return out


def lineage(init: str | Path | None) -> dict | None:
    """Where a continued base came from: the folder and, when it has one, the command that made it."""
    if init is None:
        return None
    record = Path(init) / "pretrain.json"
    made_by = json.loads(record.read_text()) if record.is_file() else {}
    return {"model": str(init), "command": made_by.get("command"), "init": made_by.get("init")}


def zero_shot(model_dir: str | Path, world: str | Path, *, max_examples: int = 100, split: str = "validation") -> dict:
    """The base's zero-shot macro-F1 per judge task (reason style), written to model_dir/zero_shot.json."""
    from ..data.dataset import available_tasks
    from ..evaluate.runner import EvalSettings, evaluate
    from ..judge import Judge

    judge = Judge.from_pretrained(model_dir, max_new_tokens=96, batch_size=32)
    results, _ = evaluate(judge, world, EvalSettings(tasks=available_tasks(world), split=split, max_examples=max_examples))
    summary = {"split": split, "max_examples": max_examples, "mean_macro_f1": results["mean_macro_f1"],
               "tasks": {t: {k: m[k] for k in ("macro_f1", "accuracy", "parse_failure_rate")}
                         for t, m in results["tasks"].items()}}
    write_json(Path(model_dir) / "zero_shot.json", summary)
    logger.info("zero-shot mean macro-F1 %.4f: %s", summary["mean_macro_f1"],
                ", ".join(f"{t} {m['macro_f1']:.3f}" for t, m in summary["tasks"].items()))
    return summary
