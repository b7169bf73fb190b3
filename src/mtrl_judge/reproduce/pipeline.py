"""`mtrl-judge reproduce`: the paper's five judges trained and evaluated on JudgeWorld, and a report.

Stages, each writing its own folder under OUT, complete or absent (a rerun skips what is done and
resumes a killed training run from its last checkpoint):

    world/                      JudgeWorld at the budget's size
    base/                       the off-the-shelf base (a committed one under models/, or pretrained here)
    runs/<method>[-<task>]/     SFT-Single and RL-Single per task, SFT-Unified, MT-RL-Judge (TRL)
    eval/<method>[-<task>]/     results.json + predictions.jsonl on the test splits
    report.md, *.png            Tables 2 and 3 beside the paper's, correlations, charts
    stage_times.json            seconds per finished stage, so that a rerun's report keeps their wall time

Each judge is evaluated as soon as it is trained, so finished judges' results survive a run that is stopped
later. A judge whose evaluation is done needs no weights any more: its training stage counts as done too.
That is what the *record* relies on (`record=` / `--record DIR`): the evaluated judges' results and predictions,
their training logs and best checkpoint's score, the stage times and the report (a few MB; no weights, resume
checkpoints, world or base), copied to DIR after every stage and copied back into an OUT that lacks it. The
full budget takes longer than one sitting on 2 CPU cores; with a committed record a later machine continues it
where the last one stopped (the world and the committed base are reproduced byte for byte from the seed).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..devices import dtype_name, resolve_device_and_dtype
from ..errors import JudgeError
from ..io import atomic_file, write_json
from ..recipes import recipe_file
from ..tasks import HELDOUT_TASKS, PAPER_TASKS
from .budgets import Budget
from .paper import METHOD_NAMES, TABLE3_METHODS, TRAINED_METHODS

logger = logging.getLogger(__name__)

SINGLE_TASK_METHODS = ("sft-single", "rl-single")  # trained once per task; the others once on all six
GRPO_METHODS = ("rl-single", "mt-rl-judge")  # trained with GRPO (reasoning first); the others with SFT
# The order judges are trained in: the paper's comparison (MT-RL-Judge against SFT-Unified, pointwise and held out)
# first, the single-task baselines (six runs each) after, so that a reproduction stopped partway holds the
# comparison it is about. The full budget takes about 7 hours of 2 cores; the report keeps the paper's order.
TRAINING_ORDER = ("sft-unified", "mt-rl-judge", "sft-single", "rl-single")

# The committed bases (about 40 MB each) are part of the source checkout, not of the wheel: they are looked up
# in the checkout this module runs from. The recipes ship in the package (mtrl_judge.recipes).
COMMITTED_BASES = Path(__file__).resolve().parents[3] / "models"


def committed_base_name(budget: Budget) -> str:
    """The folder under models/ that a budget starts from when it does not pretrain."""
    return budget.base or f"base-{budget.preset}"


@dataclass
class Stage:
    name: str
    weight: float  # expected seconds on 2 CPU cores (demo run); only their proportions matter (time-left estimate)
    run: object  # a callable doing the work
    done: object  # a callable: is the output complete?


@dataclass
class Plan:
    stages: list[Stage] = field(default_factory=list)

    def add(self, name, weight, run, done) -> None:
        self.stages.append(Stage(name, weight, run, done))


def _train_stage(recipe: Path, out_dir: Path, overrides: list[str]):
    def run():
        from ..train.config import load_recipe
        from ..train.run import train

        train(load_recipe(recipe, [*overrides, "--output_dir", str(out_dir)]), resume=True)

    return run


def _model_of(run_dir: Path) -> Path:
    """The checkpoint a run is evaluated with: best by validation (the paper's selection), else final."""
    return run_dir / "best" if (run_dir / "best" / "config.json").is_file() else run_dir / "final"


def _eval_stage(model: Path | None, model_fn, data: Path, out: Path, tasks: list[str], style: str, budget: Budget,
                device: torch.device, dtype: torch.dtype):
    def run():
        from ..evaluate.runner import EvalSettings, run_eval
        from ..judge import Judge

        judge = Judge.from_pretrained(model or model_fn(), device=device, dtype=dtype, style=style,
                                      max_new_tokens=budget.eval_max_new_tokens, batch_size=budget.eval_batch_size)
        run_eval(judge, data, out, EvalSettings(tasks=tasks, max_examples=budget.eval_max_examples))

    return run


def _evaluated(eval_dir: Path) -> bool:
    return (eval_dir / "results.json").is_file()


# What a record leaves out: the world and the base (reproduced from the seed and the checkout), and of each
# training run everything but its own files (metrics.jsonl, alarms.jsonl, recipe.yaml, README.md) and best/'s score.json
# and config.json (which say that the best checkpoint was the one evaluated, and at which step): no weights, no resume
# checkpoints.
RECORD_SKIP_DIRS = ("world", "base")


def _record_files(root: Path) -> list[Path]:
    """The files of a reproduction folder (or of a record) that belong in its record, relative to `root`: those
    of the judges evaluated so far (a training run still under way needs its checkpoints, which a record leaves
    out, so none of it is kept) and the top-level files (stage times, report, results)."""
    from ..train.callbacks import BEST_DIR, SCORE_FILE

    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or rel.parts[0] in RECORD_SKIP_DIRS or any(part.startswith(".") for part in rel.parts):
            continue
        if rel.parts[0] in ("runs", "eval"):
            if len(rel.parts) < 3 or not _evaluated(root / "eval" / rel.parts[1]):
                continue
            kept_best = ((BEST_DIR, SCORE_FILE), (BEST_DIR, "config.json"))
            if rel.parts[0] == "runs" and len(rel.parts) > 3 and rel.parts[2:] not in kept_best:
                continue
        files.append(rel)
    return files


def _copy_file(source: Path, target: Path) -> None:
    """Copy `source` to `target` atomically (io.atomic_file): a copy cut short never looks finished, in a record or
    in an OUT restored from one (a partial results.json would mark a judge as evaluated)."""
    with atomic_file(target, "wb") as f, source.open("rb") as src:
        shutil.copyfileobj(src, f)


def save_record(out: Path, record: Path) -> int:
    """Copy OUT's record (module docstring) to `record`; returns the number of files copied (new or changed)."""
    copied = 0
    for rel in _record_files(out):
        source, target = out / rel, record / rel
        if target.is_file() and target.stat().st_size == source.stat().st_size and target.read_bytes() == source.read_bytes():
            continue
        _copy_file(source, target)
        copied += 1
    return copied


def restore_record(record: Path, out: Path) -> int:
    """Copy the files of `record` that OUT lacks into OUT; returns how many. Files OUT has are never overwritten."""
    restored = 0
    for rel in _record_files(record):
        if not (out / rel).exists():
            _copy_file(record / rel, out / rel)
            restored += 1
    return restored


def training_overrides(device: torch.device, dtype: torch.dtype) -> list[str]:
    """TRL settings that put the training stages on `device` (resolved) in `dtype`.

    TRL trains on the current GPU of a single process, so a GPU other than the current one is
    refused here rather than silently ignored."""
    if device.type == "cpu":
        # as train/config.py does for CPU machines: no gradient checkpointing, it only costs time there
        return ["--use_cpu", "true", "--bf16", str(dtype == torch.bfloat16).lower(), "--fp16", "false",
                "--gradient_checkpointing", "false"]
    current = torch.cuda.current_device()
    if device.index is not None and device.index != current:
        raise JudgeError(f"device {str(device)!r}: reproduce trains with TRL on the current GPU (cuda:{current}); "
                         f"choose GPU {device.index} with CUDA_VISIBLE_DEVICES={device.index} and device 'cuda'")
    return ["--use_cpu", "false", "--bf16", str(dtype == torch.bfloat16).lower(), "--fp16", str(dtype == torch.float16).lower()]


# Seconds on 2 CPU cores, from the demo run (small-p8 base), for the time-left estimate: 160 test rows of a task took
# about 5 s answered directly and 15-90 s with reasoning first (as long as the judge's reasoning, up to
# eval_max_new_tokens); a pairwise task is judged in both orders. Loading a model and saving results: about 15 s a stage.
DIRECT_S_PER_ROW = 5 / 160
REASON_S_PER_ROW = 25 / 160
STAGE_OVERHEAD_S = 15


def plan(out: Path, budget: Budget, seed: int = 0, *, device: str | torch.device = "auto",
         dtype: str | torch.dtype = "auto", base_model: str | Path | None = None) -> tuple[Plan, dict]:
    """The stages of a reproduction, and where each method's results land.

    base_model: the off-the-shelf base to start from when the budget does not pretrain one; default:
    the budget's committed base under models/ of the source checkout (an installed wheel has none: pass it).

    `device` and `dtype` (mtrl_judge.devices) apply to the training and evaluation stages; the
    base stage, when the budget pretrains one, runs `mtrl-judge pretrain`, which chooses its device itself."""
    torch_device, torch_dtype = resolve_device_and_dtype(device, dtype)
    placement = training_overrides(torch_device, torch_dtype)
    world, base = out / "world", out / "base"
    p = Plan()

    def world_run():
        from ..data.world import generate_world

        generate_world(world, size=budget.world_size, seed=seed, overwrite=True, progress=True, version=budget.world_version)

    p.add("world", 70, world_run, lambda: (world / "world.json").is_file())

    committed = Path(base_model) if base_model is not None else COMMITTED_BASES / committed_base_name(budget)
    if budget.pretrain_steps == 0 and not (committed / "config.json").is_file():
        raise JudgeError(f"no base model at {committed}; pass --base MODEL_DIR (e.g. a checkout's "
                         f"models/{committed_base_name(budget)}, "
                         "or one made by `mtrl-judge pretrain`) or choose a budget that pretrains")

    def base_run():
        if budget.pretrain_steps:
            from ..pretrain import pretrain

            pretrain(world, base, preset=budget.preset, max_steps=budget.pretrain_steps, seed=seed, overwrite=True)
        else:
            tmp = base.with_name(".base.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(committed, tmp)
            tmp.rename(base)

    p.add("base", 2 + 5 * budget.pretrain_steps, base_run, lambda: (base / "config.json").is_file())

    common = ["--model", str(base), "--data", str(world), "--seed", str(seed), "--val_every", str(budget.val_every),
              "--val_max_examples", str(budget.val_max_examples),
              "--save_steps", str(max(budget.val_every, 10)), "--report_to", "none"]
    sft = ["--per_device_train_batch_size", str(budget.per_device_train_batch_size)]
    # prompts_per_step: the recipe's own conversion into TRL's completions per device (and per process, if several)
    grpo = ["--prompts_per_step", str(budget.grpo_prompts_per_step),
            "--num_generations", str(budget.num_generations), "--learning_rate", str(budget.grpo_learning_rate),
            "--beta", str(budget.grpo_beta),
            "--max_completion_length", str(budget.max_completion_length),
            "--val_max_new_tokens", str(budget.max_completion_length)]
    runs: dict[str, tuple[str, list[str]]] = {}  # run -> (method, tasks); each method's recipe sets its prompt style
    for method in (m for m in TRAINING_ORDER if m in budget.methods):
        if method in SINGLE_TASK_METHODS:
            runs.update({f"{method}-{task}": (method, [task]) for task in PAPER_TASKS})
        else:
            runs[method] = (method, list(PAPER_TASKS))
    # Evaluation: every judge on its own tasks; the multi-task judges and the base also on the held-out pairwise tasks.
    evals: dict[str, tuple[str, list[str]]] = {"off-the-shelf": ("off-the-shelf", [*PAPER_TASKS, *HELDOUT_TASKS])}
    for run_name, (method, tasks) in runs.items():
        evals[run_name] = (method, [*tasks, *(HELDOUT_TASKS if method in TABLE3_METHODS else ())])
    n_eval = budget.eval_max_examples or 400

    def add_eval(run_name: str) -> None:
        method, tasks = evals[run_name]
        style = "reason" if method == "off-the-shelf" or method in GRPO_METHODS else "direct"
        eval_dir = out / "eval" / run_name
        model = base if run_name == "off-the-shelf" else None

        def model_fn(d=out / "runs" / run_name):
            return _model_of(d)

        stage = _eval_stage(model, model_fn, world, eval_dir, tasks, style, budget, torch_device, torch_dtype)
        per_row = REASON_S_PER_ROW if style == "reason" else DIRECT_S_PER_ROW
        rows = sum(n_eval * (2 if task in HELDOUT_TASKS else 1) for task in tasks)
        p.add(f"eval {run_name}", STAGE_OVERHEAD_S + rows * per_row, stage, lambda d=eval_dir: _evaluated(d))

    add_eval("off-the-shelf")
    for run_name, (method, tasks) in runs.items():
        run_dir = out / "runs" / run_name
        is_grpo = method in GRPO_METHODS
        steps = budget.steps_of(method)
        overrides = [*common, *placement, "--tasks", *tasks, "--max_steps", str(steps), *(grpo if is_grpo else sft)]
        # Stage weights only set the time-left estimate's proportions. Measured on the demo run (small-p8 base, 2 cores):
        # an SFT step of 16 examples about 1.5 s, a GRPO step of 2 prompts x 8 completions about 1.9 s (16 x 4: about 7 s,
        # so scaled by the completions); on top, each validation (as fast per row as the evaluation below) and about
        # 15 s per stage of loading and saving. Without those the weights summed to 46 of the demo's 61 minutes and the
        # estimate ran a quarter short.
        validations = (steps // budget.val_every if budget.val_every else 0) + 1
        val_rows = validations * budget.val_max_examples * len(tasks)
        val_s_per_row = REASON_S_PER_ROW if is_grpo else DIRECT_S_PER_ROW
        step_s = 1.9 * budget.grpo_prompts_per_step * budget.num_generations / 16 if is_grpo else 1.5
        cost = STAGE_OVERHEAD_S + steps * step_s + val_rows * val_s_per_row
        eval_dir = out / "eval" / run_name
        # Trained when its final checkpoint is there, or when it has been evaluated (a restored record has no weights).
        p.add(f"train {run_name}", cost, _train_stage(recipe_file(f"cpu/{method}.yaml"), run_dir, overrides),
              lambda d=run_dir, e=eval_dir: (d / "final" / "config.json").is_file() or _evaluated(e))
        add_eval(run_name)
    return p, evals


def collect(out: Path, evals: dict) -> dict:
    """method -> task -> metrics, merging the single-task runs into one row per method.

    Evaluations made before macro-F1 carried a bootstrap interval and the majority baseline get both
    from their predictions.jsonl, with the function the evaluation itself uses."""
    from ..evaluate.runner import PREDICTIONS_FILE, prediction_interval_metrics
    from ..tasks import get_task

    results: dict[str, dict] = {}
    for run_name, (method, tasks) in evals.items():
        path = out / "eval" / run_name / "results.json"
        if not path.is_file():
            continue
        task_metrics = json.loads(path.read_text())["tasks"]
        predictions_file = path.parent / PREDICTIONS_FILE
        if any("macro_f1/ci95_low" not in m for m in task_metrics.values()) and predictions_file.is_file():
            predictions = [json.loads(line) for line in predictions_file.read_text().splitlines() if line.strip()]
            for task, metrics in task_metrics.items():
                if "macro_f1/ci95_low" not in metrics:
                    of_task = [p for p in predictions if p["task"] == task]
                    metrics.update(prediction_interval_metrics(of_task, get_task(task).choices))
        for task, metrics in task_metrics.items():
            if task in tasks:
                results.setdefault(method, {})[task] = metrics
    return results


def checkpoint_info(run_dir: Path) -> dict:
    """Which checkpoint of a training run is evaluated (as _model_of picks it), at which step of how many,
    and the validation it was picked on (rows per task, mean macro-F1), from best/score.json and metrics.jsonl."""
    from ..train.callbacks import BEST_DIR, METRICS_FILE, SCORE_FILE
    from .report import read_metrics

    steps = [row["step"] for row in read_metrics(run_dir / METRICS_FILE) if isinstance(row.get("step"), int)]
    info: dict = {"checkpoint": _model_of(run_dir).name, "step": None, "last_step": max(steps, default=None), "val_rows": {},
                  "val_mean_macro_f1": None}
    score_file = run_dir / BEST_DIR / SCORE_FILE
    if info["checkpoint"] == BEST_DIR and score_file.is_file():
        score = json.loads(score_file.read_text())
        info["step"] = score.get("step")
        info["val_mean_macro_f1"] = score.get("val/mean_macro_f1")
        info["val_rows"] = {k.split("/")[1]: v for k, v in score.items() if k.startswith("val/") and k.endswith("/n")}
    elif info["checkpoint"] != BEST_DIR:
        info["step"] = info["last_step"]
    return info


STAGE_TIMES_FILE = "stage_times.json"  # stage name -> seconds it took, kept across reruns


def _wall_time_text(times: dict[str, float], stage_names: list[str], this_run: float) -> str:
    """The reproduction's wall time as the sum of every stage's recorded time, so that a rerun that skips
    finished stages still reports what they cost."""
    unrecorded = [name for name in stage_names if name not in times]
    if len(unrecorded) == len(stage_names):
        return f"Wall time: not recorded (every stage ran before stage times were kept; this run: {this_run / 60:.1f} min)."
    total = sum(times.get(name, 0.0) for name in stage_names)
    text = f"Wall time: {total / 60:.1f} min, the sum of the stages' recorded times (this run: {this_run / 60:.1f} min)"
    if unrecorded:
        text += f"; {len(unrecorded)} stage(s) finished before times were recorded are not counted"
    return text + "."


def _base_text(budget: Budget, base_model: str | Path | None) -> str:
    """The report header's words for the off-the-shelf base: which model, and where it came from."""
    if budget.pretrain_steps:
        return f"the `{budget.preset}` Qwen3-VL preset, pretrained here for {budget.pretrain_steps} steps"
    where = str(base_model) if base_model is not None else f"models/{committed_base_name(budget)}"
    return (f"`{where}` (the `{budget.preset}` Qwen3-VL preset, pretrained on general grounded questions, never on the "
            "judge tasks)")


def _training_text(budget: Budget) -> str:
    """The report header's sentence on what was trained, for how many steps, and which judges were not."""
    trained = [m for m in TRAINED_METHODS if m in budget.methods]
    text = "Steps: " + ", ".join(f"{METHOD_NAMES[m]} {budget.steps_of(m)}{'/task' if m in SINGLE_TASK_METHODS else ''}"
                                 for m in trained)
    untrained = [METHOD_NAMES[m] for m in TRAINED_METHODS if m not in budget.methods]
    if untrained:
        text += f" (not trained at this budget: {', '.join(untrained)}; the full budget trains every judge)"
    if set(GRPO_METHODS) & set(trained):
        text += (f"; a GRPO step {budget.grpo_prompts_per_step} prompts x {budget.num_generations} completions at lr "
                 f"{budget.grpo_learning_rate:g}, KL beta {budget.grpo_beta:g}")
    return text + "."


def reproduce(out: str | Path, budget: Budget, *, seed: int = 0, device: str | torch.device = "auto",
              dtype: str | torch.dtype = "auto", base_model: str | Path | None = None, record: str | Path | None = None) -> Path:
    """Run (or finish) every stage, then write the report. Returns report.md's path.

    device, dtype: where training and evaluation run ("auto": a CUDA GPU in bfloat16 when there is
    one, else the CPU in float32; see mtrl_judge.devices).
    record: a folder that keeps the reproduction's weight-free record (module docstring): restored into OUT
    first, brought up to date after every stage and at the end."""
    from .report import write_report

    torch_device, torch_dtype = resolve_device_and_dtype(device, dtype)  # a missing GPU fails before any stage runs
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if record is not None:
        record = Path(record)
        if record.resolve() == out.resolve() or out.resolve() in record.resolve().parents:
            raise JudgeError(f"--record {record}: must lie outside the output folder {out}")
        if record.is_dir():
            logger.info("record %s: %d file(s) restored into %s", record, restore_record(record, out), out)
    stages, evals = plan(out, budget, seed, device=torch_device, dtype=torch_dtype, base_model=base_model)
    total = sum(s.weight for s in stages.stages)
    done_weight = spent = 0.0
    started = time.perf_counter()
    times_file = out / STAGE_TIMES_FILE
    times: dict[str, float] = json.loads(times_file.read_text()) if times_file.is_file() else {}
    for i, stage in enumerate(stages.stages, start=1):
        if stage.done():
            logger.info("[%d/%d] %s: done earlier, skipped", i, len(stages.stages), stage.name)
            total -= stage.weight
            continue
        remaining = total - done_weight
        eta = f", about {remaining * spent / done_weight / 60:.1f} min left" if done_weight else ""
        logger.info("[%d/%d] %s (%.1f min so far%s)", i, len(stages.stages), stage.name, (time.perf_counter() - started) / 60,
                    eta)
        t0 = time.perf_counter()
        stage.run()
        spent += time.perf_counter() - t0
        done_weight += stage.weight
        times[stage.name] = time.perf_counter() - t0
        write_json(times_file, times)
        if record is not None:
            save_record(out, record)
    results = collect(out, evals)
    runs = {name: out / "runs" / name / "metrics.jsonl" for name in ("sft-unified", "mt-rl-judge") if name in budget.methods}
    header = (f"# MT-RL-Judge reproduced on JudgeWorld (budget: {budget.name})\n\n"
              f"Off-the-shelf base: {_base_text(budget, base_model)}; "
              f"JudgeWorld v{budget.world_version}, size `{budget.world_size}`, seed {seed}. {_training_text(budget)} "
              f"Test examples per task: {budget.eval_max_examples or 'all'}. "
              f"Device: {torch_device}, {dtype_name(torch_dtype)}. "
              + _wall_time_text(times, [s.name for s in stages.stages], time.perf_counter() - started))
    write_json(out / "results.json", results)
    trained = sorted({name for name in evals if name != "off-the-shelf"})
    checkpoints = {name: checkpoint_info(out / "runs" / name) for name in trained if (out / "runs" / name).is_dir()}
    grpo_runs = {name: out / "runs" / name / "metrics.jsonl" for name in trained
                 if evals[name][0] in GRPO_METHODS}
    report = write_report(out, results, runs, header=header, notes=findings(results) + alarm_notes(out / "runs"),
                          checkpoints=checkpoints, grpo_runs=grpo_runs)
    if record is not None:
        save_record(out, record)
    return report


def alarm_notes(runs_dir: Path) -> list[str]:
    """One report note per training run whose collapse alarm fired (its alarms.jsonl)."""
    from ..train.callbacks import ALARMS_FILE

    notes = []
    for path in sorted(runs_dir.glob(f"*/{ALARMS_FILE}")):
        events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if events:
            kinds = sorted({e["alarm"] for e in events})
            notes.append(f"collapse alarm in `{path.parent.name}`: {len(events)} event(s) ({', '.join(kinds)}), "
                         f"first at step {events[0]['step']}: {events[0]['message']}")
    return notes


def findings(results: dict) -> list[str]:
    """Plain statements comparing our numbers with each other, with the majority baseline and with the
    paper's, whichever way they come out. An ordering (and so an agreement or a disagreement with the
    paper) is claimed only where the two 95% intervals do not overlap; otherwise the note says the
    difference is within them. Cells that are a constant answer or mostly unparseable are named."""
    from .paper import METHOD_NAMES, TABLE2, TABLE3, TASK_NAMES
    from .report import (
        PAPER_LEVEL,
        cell_estimate,
        degenerate_kind,
        has_intervals,
        majority_baseline,
        mean_estimate,
        ordering,
        paper_claim,
    )

    notes = []

    def estimate(method, tasks):
        return mean_estimate([cell_estimate(results.get(method, {}).get(t)) for t in tasks])

    def degenerate(method, tasks):
        return sum(degenerate_kind(results.get(method, {}).get(t)) is not None for t in tasks)

    def paper_mean(table, method, tasks):
        return sum(table[method][t] for t in tasks) / len(tasks)

    def caveat(methods, tasks):
        counts = [(m, degenerate(m, tasks)) for m in methods]
        named = [f"{n} of {METHOD_NAMES[m]}'s {len(tasks)}" for m, n in counts if n]
        if not named:
            return ""
        return f" Caution: {' and '.join(named)} cells are a constant answer or mostly unparseable (named below)."

    def compare(a, b, tasks, table, what):
        ea, eb = estimate(a, tasks), estimate(b, tasks)
        if ea is None or eb is None:
            return None
        paper_a, paper_b = paper_mean(table, a, tasks), paper_mean(table, b, tasks)
        baselines = [majority_baseline(results, t) for t in tasks]
        baseline = sum(baselines) / len(baselines) if None not in baselines else None
        relation, verdict = paper_claim(ea, eb, paper_a, paper_b, baseline)
        where = f"{what} ({100 * ea.value:.2f} ± {100 * ea.half_width:.1f} vs {100 * eb.value:.2f} ± {100 * eb.half_width:.1f})"
        paper = f"the paper's table, which has it {'above' if paper_a > paper_b else 'below'} ({paper_a:.2f} vs {paper_b:.2f})"
        name_a, name_b = METHOD_NAMES[a], METHOD_NAMES[b]
        if verdict == "within":
            text = (f"{name_a} and {name_b} do not differ beyond the 95% intervals on {where}: no ordering is "
                    f"claimed, so neither agreement nor disagreement with {paper}.")
        elif verdict == "baseline":
            text = (f"{name_a} is {relation} {name_b} beyond the 95% intervals on {where}, but the higher of the two is not "
                    f"above always answering the majority label ({100 * baseline:.2f} mean) beyond its interval: no "
                    f"evidence of judgment, so not counted as agreement or disagreement with {paper}.")
        elif verdict == "paper level":
            text = (f"{name_a} is {relation} {name_b} beyond the 95% intervals on {where}; the paper's table has the two "
                    f"less than {PAPER_LEVEL:.0f} point apart ({paper_a:.2f} vs {paper_b:.2f}): no ordering there to agree "
                    "or disagree with.")
        else:
            text = f"{name_a} is {relation} {name_b} beyond the 95% intervals on {where}; this {verdict} with {paper}."
        pairs = [(cell_estimate(results[a].get(t)), cell_estimate(results[b].get(t))) for t in tasks]
        per_task = [ordering(x, y) for x, y in pairs if x is not None and y is not None]
        if len(tasks) > 1:
            text += (f" Per task: above on {per_task.count('above')}, below on {per_task.count('below')}, within the "
                     f"intervals on {per_task.count('within')}.")
        return text + caveat((a, b), tasks)

    pw, held = list(PAPER_TASKS), list(HELDOUT_TASKS)
    if any(cell_estimate(m) is not None and not has_intervals(m) for row in results.values() for m in row.values()):
        notes.append("Some cells have no bootstrap interval (evaluated without predictions to resample): for them no "
                     "difference is tested, every ordering below is as if their interval were a point.")
    for other in ("off-the-shelf", "sft-single", "sft-unified", "rl-single"):
        note = compare("mt-rl-judge", other, pw, TABLE2, "mean pointwise macro-F1")
        if note:
            notes.append(note)
    note = compare("mt-rl-judge", "sft-unified", held, TABLE3, "the held-out pairwise format's mean macro-F1")
    if note:
        notes.append(note + " (The paper's claim here: RL generalises to the unseen format better than SFT.)")
    above = []
    for method, row in results.items():
        tasks = [t for t in row if majority_baseline(results, t) is not None and cell_estimate(row[t]) is not None]
        if tasks:
            beyond = [t for t in tasks if cell_estimate(row[t]).low > majority_baseline(results, t)]
            above.append(f"{METHOD_NAMES.get(method, method)} {len(beyond)} of {len(tasks)}"
                         + (f" ({', '.join(TASK_NAMES.get(t, t) for t in beyond)})" if 0 < len(beyond) < len(tasks) else ""))
    if above:
        notes.append("Above the majority-answer baseline beyond the 95% interval (the interval's lower bound above it), "
                     "tasks per judge: " + "; ".join(above) + ".")
    return notes + degenerate_judges(results)


def degenerate_judges(results: dict) -> list[str]:
    """Judges whose macro-F1 is not judgment: one constant answer, or mostly unparseable output.

    A constant "no" on a task with 30% positives scores about 41 macro-F1, which reads like a weak
    judge in a table; these notes name such cells so that nobody mistakes them for learning."""
    from .paper import METHOD_NAMES, TASK_NAMES
    from .report import CONSTANT_SHARE, degenerate_kind

    constant, unparseable = [], []
    for method, tasks in results.items():  # collect() keeps the paper's method order
        for task, metrics in tasks.items():
            kind = degenerate_kind(metrics)
            where = f"{METHOD_NAMES.get(method, method)} on {TASK_NAMES.get(task, task)}"
            if kind and kind[0] == "unparseable":
                unparseable.append(f"{where} ({100 * kind[2]:.0f}%)")
            elif kind:
                constant.append(f"{where} ('{kind[1]}')")
    notes = []
    if constant:
        notes.append(f"One constant answer for at least {100 * CONSTANT_SHARE:.0f}% of the test examples (a macro-F1 of a "
                     f"constant classifier, not judgment; marked † in the tables), {len(constant)} cells: "
                     + ", ".join(constant) + ".")
    if unparseable:
        notes.append(f"Mostly unparseable answers (marked ‡ in the tables), {len(unparseable)} cells: "
                     + ", ".join(unparseable) + ".")
    return notes
