"""Trainer callbacks: validation macro-F1 per task with best-checkpoint selection, metrics.jsonl, the
collapse alarm (alarms.jsonl), judge_config.json in every checkpoint, and the training progress bar."""

from __future__ import annotations

import json
import logging
import math
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

from accelerate.utils import broadcast_object_list
from transformers import TrainerCallback

from ..data.dataset import load_task_split
from ..evaluate.metrics import classification_metrics, roc_auc
from ..io import atomic_dir, write_json
from ..judge import Judge, JudgeRequest
from ..judge_config import JUDGE_CONFIG_FILE, judge_config, write_judge_config
from ..progress import progress_bar
from ..tasks import get_task
from .config import JudgeArguments
from .data import drop_unusable_rows

logger = logging.getLogger(__name__)

BEST_DIR = "best"
FINAL_DIR = "final"
SCORE_FILE = "score.json"
METRICS_FILE = "metrics.jsonl"
ALARMS_FILE = "alarms.jsonl"
INVALID = "invalid"  # the answer name of unparseable verdicts in answer shares


def judge_config_of(args: JudgeArguments) -> dict:
    """The judge_config.json of this run's checkpoints: the style and budget they are meant to be asked with."""
    return judge_config(method=args.method, style=args.style, tasks=args.tasks, max_new_tokens=args.val_max_new_tokens)


def answer_shares(pred: list[str | None], choices, prefix: str) -> dict[str, float]:
    """Share of each answer among `pred` as `PREFIX/answer_share/<choice>`, unparseable verdicts as one answer
    (`invalid`): a judge that gives one answer to everything shows a share near 1."""
    names = [p if p in choices else INVALID for p in pred]
    return {f"{prefix}/answer_share/{c}": names.count(c) / max(len(names), 1) for c in [*choices, INVALID]}


def _drop_lines_after(path: Path, step: int) -> None:
    """Keep the JSON lines of `path` whose step is at most `step` (a resumed run redoes the later ones)."""
    if path.is_file():
        keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= step]
        path.write_text("".join(line + "\n" for line in keep))


@contextmanager
def _full_state_dict(trainer):
    """FSDP with sharded checkpoints (src/mtrl_judge/recipes/accelerate/fsdp.yaml): transformers' Trainer.save_model
    writes weights only for FULL_STATE_DICT, so best/ and final/ would hold no weights. Gather them whole for this save only
    (TRL's scripts do the same before their final save); checkpoint-N stay sharded. Not run here (no GPUs)."""
    plugin = getattr(trainer.accelerator.state, "fsdp_plugin", None) if trainer.is_fsdp_enabled else None
    if plugin is None or "FULL_STATE_DICT" in str(plugin.state_dict_type):
        yield
        return
    previous = plugin.state_dict_type
    plugin.set_state_dict_type("FULL_STATE_DICT")
    try:
        yield
    finally:
        plugin.state_dict_type = previous


def save_model_dir(trainer, path: str | Path, json_files: dict[str, dict] | None = None) -> None:
    """trainer.save_model into `path`, replacing it whole (a killed save leaves the old folder), plus `json_files`
    (name -> object). Every process must call it, at the same point.

    With several processes trainer.save_model is collective under DeepSpeed ZeRO-3 (it gathers the sharded weights)
    and FSDP, and only the main process writes. So every process saves into one temporary folder: the main
    process's (atomic_dir's mkdtemp gives each process a different name, and a process with an empty folder could
    rename it over the saved one), whose name the others receive; the main process alone renames it into place."""
    main = trainer.is_world_process_zero()
    with atomic_dir(path, overwrite=True) if main else nullcontext() as tmp:
        tmp = Path(broadcast_object_list([str(tmp) if main else None])[0])
        with _full_state_dict(trainer):
            trainer.save_model(str(tmp))
        if main:
            for name, obj in (json_files or {}).items():
                write_json(tmp / name, obj)
        trainer.accelerator.wait_for_everyone()  # every process done writing before the folder is renamed
    trainer.accelerator.wait_for_everyone()  # and no process goes on before it is in place


def validation_roc_auc(gold: list[str], scores: list[float | None], positive: str) -> float | None:
    """ROC-AUC of P(positive answer) against the labels: whether the judge still ranks positives above negatives,
    whatever its greedy verdicts say. Where a judge cannot tell a task's classes apart its P(yes) sits near 0.5, and a
    small shift of its bias turns every greedy verdict into one answer: macro-F1 and answer shares swing, AUC stays
    near 0.5. Rows without a score (no verdict to score) are left out, as `mtrl-judge eval` leaves them out of its
    scores/roc_auc; None when no row has a score or the scored rows hold one class."""
    scored = [(g == positive, s) for g, s in zip(gold, scores, strict=True) if s is not None]
    if not scored:
        return None
    return roc_auc([y for y, _ in scored], [s for _, s in scored])


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
            ds = drop_unusable_rows(ds, args.data, task, args.val_split)  # one bad row must not stop every validation
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
                pred = [v.choice for v in verdicts]
                metrics.update(classification_metrics(gold, pred, get_task(task).choices, prefix=f"val/{task}"))
                metrics.update(answer_shares(pred, get_task(task).choices, prefix=f"val/{task}"))
                auc = validation_roc_auc(gold, [v.score for v in verdicts], get_task(task).positive)
                if auc is not None:
                    metrics[f"val/{task}/roc_auc"] = auc
        finally:
            model.train(was_training)
        metrics["val/mean_macro_f1"] = sum(metrics[f"val/{t}/macro_f1"] for t in self.sets) / len(self.sets)
        aucs = [metrics[f"val/{t}/roc_auc"] for t in self.sets if f"val/{t}/roc_auc" in metrics]
        if aucs:
            metrics["val/mean_roc_auc"] = sum(aucs) / len(aucs)
        return metrics

    def _validate_and_keep_best(self, state) -> dict[str, float] | None:
        if state.global_step == self.last_step or self.trainer is None:
            return None
        self.last_step = state.global_step
        trainer = self.trainer
        # Several processes (torchrun, accelerate launch): under DDP every process holds the same weights, so the
        # main process validates alone and the others wait for its metrics (N copies of the same generation would
        # share the same cores). Sharded weights (DeepSpeed, FSDP) need every process in each forward, so there all
        # of them generate. Either way every process gets the main process's metrics, so all take the same
        # decision about best/, whose save is collective (save_model_dir): no process is left waiting.
        sharded = trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled
        metrics = self.validate(trainer.model) if sharded or state.is_world_process_zero else None
        metrics = broadcast_object_list([metrics])[0]
        auc = f"; mean ROC-AUC {metrics['val/mean_roc_auc']:.3f}" if "val/mean_roc_auc" in metrics else ""
        logger.info("step %d: validation mean macro-F1 %.4f (%s)%s", state.global_step, metrics["val/mean_macro_f1"],
                    ", ".join(f"{t} {metrics[f'val/{t}/macro_f1']:.3f}" for t in self.sets), auc)
        if metrics["val/mean_macro_f1"] > self.best:
            self.best = metrics["val/mean_macro_f1"]
            save_model_dir(trainer, self.output_dir / BEST_DIR, {SCORE_FILE: {"step": state.global_step, **metrics},
                                                                JUDGE_CONFIG_FILE: judge_config_of(self.args)})
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
        if state.is_world_process_zero:
            _drop_lines_after(self.path, state.global_step)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return control
        self.path.parent.mkdir(parents=True, exist_ok=True)
        row = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, (int, float, str)) or v is None}}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        return control


class CollapseAlarmCallback(TrainerCallback):
    """Warns when training collapses, in three places: a logger warning, a flag in the step's log (so in
    metrics.jsonl and TensorBoard), and one JSON line per event in OUTPUT/alarms.jsonl for reports.

    - `answer_collapse`: at a validation, one answer (unparseable counted as one) takes at least
      `alarm_answer_share` of a task's verdicts (the `val/<task>/answer_share/<answer>` metrics). Raised at
      every validation where it holds, one event per task; flag `alarm/answer_collapse` = number of tasks.
    - `zero_std`: TRL's `frac_reward_zero_std` (share of GRPO groups whose completions all got the same
      reward, hence no gradient) stayed at or above `alarm_zero_std_frac` for `alarm_zero_std_steps`
      consecutive logged steps. Raised once per such run of steps; flag `alarm/zero_std` = 1.

    Must run after ValidationCallback (which adds the validation metrics to the log) and before the
    reporters. On resume, events after the checkpoint are dropped (they are redone) and the count of
    consecutive flat steps starts again from zero."""

    def __init__(self, args: JudgeArguments, output_dir: str | Path) -> None:
        self.answer_share = args.alarm_answer_share
        self.zero_std_frac = args.alarm_zero_std_frac
        self.zero_std_steps = args.alarm_zero_std_steps
        self.path = Path(output_dir) / ALARMS_FILE
        self.streak: list[tuple[int, float]] = []  # (step, frac_reward_zero_std) of the current run of flat logs
        self.events: list[dict] = []

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            _drop_lines_after(self.path, state.global_step)
        return control

    def check(self, step: int, logs: dict) -> list[dict]:
        """The alarm events `logs` (one logged step) raises; updates the flat-step count."""
        events = []
        for key, share in sorted(logs.items()):
            parts = key.split("/")
            if len(parts) == 4 and parts[0] == "val" and parts[2] == "answer_share" and isinstance(share, (int, float)):
                if share >= self.answer_share:
                    events.append({
                        "step": step, "alarm": "answer_collapse", "task": parts[1], "answer": parts[3], "share": share,
                        "threshold": self.answer_share,
                        "message": f"validation: {share:.0%} of {parts[1]}'s verdicts are {parts[3]!r}",
                    })  # fmt: skip
        frac = logs.get("frac_reward_zero_std")
        if isinstance(frac, (int, float)) and not math.isnan(frac):
            self.streak = [*self.streak, (step, frac)] if frac >= self.zero_std_frac else []
            if len(self.streak) == self.zero_std_steps:
                mean = sum(f for _, f in self.streak) / len(self.streak)
                events.append({
                    "step": step, "alarm": "zero_std", "first_step": self.streak[0][0], "logged_steps": len(self.streak),
                    "mean_frac_reward_zero_std": mean, "threshold": self.zero_std_frac,
                    "message": f"{len(self.streak)} logged steps in a row with at least {self.zero_std_frac:.0%} of GRPO "
                               f"groups flat (mean {mean:.0%}): almost no gradient",
                })  # fmt: skip
        return events

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs:
            return control
        events = self.check(state.global_step, logs)
        if not events:
            return control
        collapsed = [e for e in events if e["alarm"] == "answer_collapse"]
        if collapsed:
            logs["alarm/answer_collapse"] = float(len(collapsed))
        if any(e["alarm"] == "zero_std" for e in events):
            logs["alarm/zero_std"] = 1.0
        self.events.extend(events)
        if state.is_world_process_zero:
            for event in events:
                logger.warning("collapse alarm at step %d: %s", event["step"], event["message"])
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:  # whole lines appended: readable while training runs
                f.write("".join(json.dumps(event) + "\n" for event in events))
        return control


class JudgeConfigCallback(TrainerCallback):
    """Writes judge_config.json into each checkpoint-N TRL saves (best/ and final/ get theirs from save_model_dir), so
    that any checkpoint loads with the prompt style it was trained with. Runs after TRL's save (on_save)."""

    def __init__(self, args: JudgeArguments) -> None:
        self.config = judge_config_of(args)

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            write_judge_config(folder, self.config)
        return control


class TrainingProgressCallback(TrainerCallback):
    """One rich progress bar for the whole run (steps done of max_steps, elapsed, time left), on the main process.

    It replaces transformers' ProgressCallback (tqdm) and PrinterCallback, which print every log dict to the
    terminal: those dicts go to metrics.jsonl (and TensorBoard when report_to asks) only. The time left is
    the mean pace since the run (or the resumed part of it) began, validation pauses included, so it stays
    steady instead of following the last few steps."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.stack: ExitStack | None = None
        self.advance = None
        self.step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.stack is None:
            self.stack = ExitStack()
            self.step = state.global_step  # a resumed run starts part-way
            self.advance = self.stack.enter_context(progress_bar(
                self.description, total=state.max_steps, completed=self.step, speed_estimate_period=24 * 3600.0))
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if self.advance is not None and state.global_step > self.step:
            self.advance(state.global_step - self.step)
            self.step = state.global_step
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self.close()
        return control

    def close(self) -> None:
        """Stop the bar (also after a run killed part-way, which never reaches on_train_end)."""
        if self.stack is not None:
            self.stack.close()
            self.stack = self.advance = None
