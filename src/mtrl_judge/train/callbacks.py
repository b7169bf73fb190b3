"""Trainer callbacks: validation macro-F1 per task with best-checkpoint selection, and metrics.jsonl."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from transformers import TrainerCallback

from ..data.dataset import load_task_split
from ..evaluate.metrics import classification_metrics
from ..io import atomic_dir, write_json
from ..judge import Judge, JudgeRequest
from ..tasks import get_task
from .config import JudgeArguments

logger = logging.getLogger(__name__)

BEST_DIR = "best"
FINAL_DIR = "final"
SCORE_FILE = "score.json"
METRICS_FILE = "metrics.jsonl"


class ValidationCallback(TrainerCallback):
    """Every `val_every` steps and at the end: greedy verdicts on the validation split of each task,
    parsed by the shared parser, macro-F1 per task logged as `val/<task>/macro_f1` and their mean as
    `val/mean_macro_f1`. The checkpoint with the best mean is saved to OUTPUT/best (the paper selects
    by validation). `trainer` must be set before training starts."""

    def __init__(self, args: JudgeArguments, processor, output_dir: str | Path) -> None:
        self.args = args
        self.processor = processor
        self.output_dir = Path(output_dir)
        self.trainer = None
        self.sets: dict[str, tuple[list[JudgeRequest], list[str]]] = {}
        for task in args.tasks:
            ds = load_task_split(args.data, task, args.val_split)
            ds = ds.select(range(min(args.val_max_examples, len(ds))))
            self.sets[task] = (
                [JudgeRequest(task=task, images=row["images"], text=row["text"]) for row in ds],
                list(ds["label"]),
            )
        self.best = self._read_best()
        self.last_step = -1
        self.pending: dict[str, float] | None = None

    def _read_best(self) -> float:
        score_file = self.output_dir / BEST_DIR / SCORE_FILE
        if score_file.is_file():
            return float(json.loads(score_file.read_text())["val/mean_macro_f1"])
        return -math.inf

    def validate(self, model) -> dict[str, float]:
        """Validation metrics for `model` as it is now (switched to eval mode and back)."""
        was_training = model.training
        model.eval()
        judge = Judge(model, self.processor, style=self.args.style, max_new_tokens=self.args.val_max_new_tokens,
                      batch_size=self.args.val_batch_size)
        metrics: dict[str, float] = {}
        try:
            for task, (requests, gold) in self.sets.items():
                verdicts = judge.judge_many(requests)
                metrics.update(classification_metrics(gold, [v.choice for v in verdicts], get_task(task).choices, prefix=f"val/{task}"))
        finally:
            model.train(was_training)
        metrics["val/mean_macro_f1"] = sum(metrics[f"val/{t}/macro_f1"] for t in self.sets) / len(self.sets)
        return metrics

    def _validate_and_keep_best(self, state) -> dict[str, float] | None:
        if state.global_step == self.last_step or self.trainer is None:
            return None
        self.last_step = state.global_step
        metrics = self.validate(self.trainer.model)
        logger.info("step %d: validation mean macro-F1 %.4f (%s)", state.global_step, metrics["val/mean_macro_f1"],
                    ", ".join(f"{t} {metrics[f'val/{t}/macro_f1']:.3f}" for t in self.sets))
        if metrics["val/mean_macro_f1"] > self.best and state.is_world_process_zero:
            self.best = metrics["val/mean_macro_f1"]
            with atomic_dir(self.output_dir / BEST_DIR, overwrite=True) as tmp:
                self.trainer.save_model(str(tmp))
                write_json(tmp / SCORE_FILE, {"step": state.global_step, **metrics})
            logger.info("new best checkpoint (mean macro-F1 %.4f) saved to %s", self.best, self.output_dir / BEST_DIR)
        return metrics

    # Validation metrics join the trainer's own log of the same step: on_step_end asks for a log,
    # and on_log (this callback runs first) adds them before any reporter sees the dict. Calling
    # trainer.log here instead would reset should_log and drop that step's training loss.
    def on_step_end(self, args, state, control, **kwargs):
        if self.args.val_every and state.global_step % self.args.val_every == 0:
            self.pending = self._validate_and_keep_best(state)
            if self.pending:
                control.should_log = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.pending and logs is not None:
            logs.update(self.pending)
            self.pending = None
        return control

    def on_train_end(self, args, state, control, **kwargs):
        metrics = self._validate_and_keep_best(state)
        if metrics:
            self.trainer.log(metrics)
        return control


class MetricsJsonlCallback(TrainerCallback):
    """Appends every log (training and validation) as one JSON line to OUTPUT/metrics.jsonl.

    On resume, lines from steps after the checkpoint are dropped: they are about to be redone.
    """

    def __init__(self, output_dir: str | Path) -> None:
        self.path = Path(output_dir) / METRICS_FILE

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.path.is_file():
            keep = [line for line in self.path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= state.global_step]
            self.path.write_text("".join(line + "\n" for line in keep))
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return control
        self.path.parent.mkdir(parents=True, exist_ok=True)
        row = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, (int, float, str)) or v is None}}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        return control
