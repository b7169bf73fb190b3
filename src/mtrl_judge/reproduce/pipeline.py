"""`mtrl-judge reproduce`: the paper's five judges trained and evaluated on JudgeWorld, and a report.

Stages, each writing its own folder under OUT, complete or absent (a rerun skips what is done and
resumes a killed training run from its last checkpoint):

    world/                      JudgeWorld at the budget's size
    base/                       the off-the-shelf base (committed models/base-<preset>, or pretrained here)
    runs/<method>[-<task>]/     SFT-Single and RL-Single per task, SFT-Unified, MT-RL-Judge (TRL)
    eval/<method>[-<task>]/     results.json + predictions.jsonl on the test splits
    report.md, *.png            Tables 2 and 3 beside the paper's, correlations, charts
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
from ..tasks import HELDOUT_TASKS, PAPER_TASKS
from .budgets import Budget
from .paper import TABLE3_METHODS

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]
RECIPES = REPO / "recipes" / "cpu"
COMMITTED_BASES = REPO / "models"


@dataclass
class Stage:
    name: str
    weight: float  # expected cost, in rough seconds, for the time-left estimate
    run: object  # a callable doing the work
    done: object  # a callable: is the output complete?


@dataclass
class Plan:
    stages: list[Stage] = field(default_factory=list)

    def add(self, name, weight, run, done) -> None:
        self.stages.append(Stage(name, weight, run, done))


def _train_stage(recipe_file: Path, out_dir: Path, overrides: list[str]):
    def run():
        from ..train.config import load_recipe
        from ..train.run import train

        train(load_recipe(recipe_file, [*overrides, "--output_dir", str(out_dir)]), resume=True)

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


def plan(out: Path, budget: Budget, seed: int = 0, *, device: str | torch.device = "auto",
         dtype: str | torch.dtype = "auto") -> tuple[Plan, dict]:
    """The stages of a reproduction, and where each method's results land.

    `device` and `dtype` (mtrl_judge.devices) apply to the training and evaluation stages; the
    base stage, when the budget pretrains one, runs `mtrl-judge pretrain`, which chooses its device itself."""
    torch_device, torch_dtype = resolve_device_and_dtype(device, dtype)
    placement = training_overrides(torch_device, torch_dtype)
    world, base = out / "world", out / "base"
    p = Plan()

    def world_run():
        from ..data.world import generate_world

        generate_world(world, size=budget.world_size, seed=seed, overwrite=True, progress=True, version=budget.world_version)

    p.add("world", 30, world_run, lambda: (world / "world.json").is_file())

    committed = COMMITTED_BASES / f"base-{budget.preset}"
    if budget.pretrain_steps == 0 and not (committed / "config.json").is_file():
        raise JudgeError(f"no committed base at {committed}; run `mtrl-judge pretrain` or choose a budget that pretrains")

    def base_run():
        if budget.pretrain_steps:
            from ..pretrain import pretrain

            pretrain(world, base, preset=budget.preset, max_steps=budget.pretrain_steps, seed=seed, overwrite=True)
        else:
            tmp = base.with_name(".base.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(committed, tmp)
            tmp.rename(base)

    p.add("base", 10 + budget.pretrain_steps, base_run, lambda: (base / "config.json").is_file())

    common = ["--model", str(base), "--data", str(world), "--seed", str(seed), "--val_every", str(budget.val_every),
              "--val_max_examples", str(budget.val_max_examples), "--per_device_train_batch_size", str(budget.per_device_train_batch_size),
              "--save_steps", str(max(budget.val_every, 10)), "--report_to", "none"]
    grpo = ["--num_generations", str(budget.num_generations), "--max_completion_length", str(budget.max_completion_length),
            "--val_max_new_tokens", str(budget.max_completion_length)]
    runs: dict[str, tuple[str, list[str], str]] = {}  # run -> (method, tasks, style)
    for task in PAPER_TASKS:
        runs[f"sft-single-{task}"] = ("sft-single", [task], "direct")
    runs["sft-unified"] = ("sft-unified", list(PAPER_TASKS), "direct")
    for task in PAPER_TASKS:
        runs[f"rl-single-{task}"] = ("rl-single", [task], "reason")
    runs["mt-rl-judge"] = ("mt-rl-judge", list(PAPER_TASKS), "reason")
    steps = {"sft-single": budget.sft_single_steps, "sft-unified": budget.sft_steps, "rl-single": budget.rl_single_steps,
             "mt-rl-judge": budget.grpo_steps}
    for run_name, (method, tasks, _) in runs.items():
        run_dir = out / "runs" / run_name
        is_grpo = method in ("rl-single", "mt-rl-judge")
        overrides = [*common, *placement, "--tasks", *tasks, "--max_steps", str(steps[method]), *(grpo if is_grpo else [])]
        cost = steps[method] * (0.75 if is_grpo else 0.5)  # seconds per step of the small base on 2 cores (demo run)
        p.add(f"train {run_name}", cost, _train_stage(RECIPES / f"{method}.yaml", run_dir, overrides),
              lambda d=run_dir: (d / "final" / "config.json").is_file())

    # Evaluation: every judge on its own tasks; the multi-task judges and the base also on the held-out pairwise tasks.
    evals: dict[str, tuple[str, list[str]]] = {"off-the-shelf": ("off-the-shelf", [*PAPER_TASKS, *HELDOUT_TASKS])}
    for run_name, (method, tasks, style) in runs.items():
        evals[run_name] = (method, [*tasks, *(HELDOUT_TASKS if method in TABLE3_METHODS else ())])
    n_eval = budget.eval_max_examples or 400
    for run_name, (method, tasks) in evals.items():
        style = "reason" if method in ("off-the-shelf", "rl-single", "mt-rl-judge") else "direct"
        eval_dir = out / "eval" / run_name
        model = base if run_name == "off-the-shelf" else None
        model_fn = (lambda d=out / "runs" / run_name: _model_of(d))
        stage = _eval_stage(model, model_fn, world, eval_dir, tasks, style, budget, torch_device, torch_dtype)
        p.add(f"eval {run_name}", len(tasks) * n_eval / 30, stage,
              lambda d=eval_dir: (d / "results.json").is_file())
    return p, evals


def collect(out: Path, evals: dict) -> dict:
    """method -> task -> metrics, merging the single-task runs into one row per method."""
    results: dict[str, dict] = {}
    for run_name, (method, tasks) in evals.items():
        path = out / "eval" / run_name / "results.json"
        if path.is_file():
            for task, metrics in json.loads(path.read_text())["tasks"].items():
                if task in tasks:
                    results.setdefault(method, {})[task] = metrics
    return results


def reproduce(out: str | Path, budget: Budget, *, seed: int = 0, device: str | torch.device = "auto",
              dtype: str | torch.dtype = "auto") -> Path:
    """Run (or finish) every stage, then write the report. Returns report.md's path.

    device, dtype: where training and evaluation run ("auto": a CUDA GPU in bfloat16 when there is
    one, else the CPU in float32; see mtrl_judge.devices)."""
    from .report import write_report

    torch_device, torch_dtype = resolve_device_and_dtype(device, dtype)  # a missing GPU fails before any stage runs
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stages, evals = plan(out, budget, seed, device=torch_device, dtype=torch_dtype)
    total = sum(s.weight for s in stages.stages)
    done_weight = spent = 0.0
    started = time.perf_counter()
    for i, stage in enumerate(stages.stages, start=1):
        if stage.done():
            logger.info("[%d/%d] %s: done earlier, skipped", i, len(stages.stages), stage.name)
            total -= stage.weight
            continue
        remaining = total - done_weight
        eta = f", about {remaining * spent / done_weight / 60:.1f} min left" if done_weight else ""
        logger.info("[%d/%d] %s (%.1f min so far%s)", i, len(stages.stages), stage.name, (time.perf_counter() - started) / 60, eta)
        t0 = time.perf_counter()
        stage.run()
        spent += time.perf_counter() - t0
        done_weight += stage.weight
    results = collect(out, evals)
    runs = {name: out / "runs" / name / "metrics.jsonl" for name in ("sft-unified", "mt-rl-judge")}
    header = (f"# MT-RL-Judge reproduced on JudgeWorld (budget: {budget.name})\n\n"
              f"Backbone: the `{budget.preset}` Qwen3-VL preset, pretrained here as the off-the-shelf base; "
              f"JudgeWorld v{budget.world_version}, size `{budget.world_size}`, seed {seed}. Steps: SFT-Single {budget.sft_single_steps}/task, "
              f"SFT-Unified {budget.sft_steps}, RL-Single {budget.rl_single_steps}/task, MT-RL-Judge {budget.grpo_steps}. "
              f"Test examples per task: {budget.eval_max_examples or 'all'}. "
              f"Device: {torch_device}, {dtype_name(torch_dtype)}. Wall time: {(time.perf_counter() - started) / 60:.1f} min "
              "(this run only; skipped stages not counted).")
    with open(out / "results.json", "w") as f:
        json.dump(results, f, indent=1)
    return write_report(out, results, runs, header=header, notes=findings(results) + alarm_notes(out / "runs"))


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
    """Plain statements comparing our numbers with the paper's claims, whichever way they come out."""
    from .paper import METHOD_NAMES

    notes = []

    def mean(method, tasks):
        vals = [results.get(method, {}).get(t, {}).get("macro_f1") for t in tasks]
        vals = [v for v in vals if isinstance(v, (int, float))]
        return sum(vals) / len(vals) if len(vals) == len(tasks) else None

    pw = list(PAPER_TASKS)
    base, mt = mean("off-the-shelf", pw), mean("mt-rl-judge", pw)
    if base is not None and mt is not None:
        verb = "raises" if mt > base else "does not raise"
        notes.append(f"MT-RL-Judge {verb} mean pointwise macro-F1 over the off-the-shelf base ({100 * base:.2f} -> {100 * mt:.2f}).")
    for other in ("sft-single", "sft-unified", "rl-single"):
        o = mean(other, pw)
        if o is not None and mt is not None:
            rel = "above" if mt > o else "below"
            notes.append(f"MT-RL-Judge is {rel} {METHOD_NAMES[other]} on mean pointwise macro-F1 ({100 * mt:.2f} vs {100 * o:.2f}); "
                         f"the paper has it {'above' if other != 'sft-single' else 'above on 4 of 6 tasks'}.")
    held = list(HELDOUT_TASKS)
    mt_h, sft_h = mean("mt-rl-judge", held), mean("sft-unified", held)
    if mt_h is not None and sft_h is not None:
        agrees = "agrees with" if mt_h > sft_h else "disagrees with"
        notes.append(f"On the held-out pairwise format, MT-RL-Judge scores {100 * mt_h:.2f} vs SFT-Unified {100 * sft_h:.2f} "
                     f"mean macro-F1: this {agrees} the paper's claim that RL generalises to the unseen format better than SFT.")
    return notes + degenerate_judges(results)


def answer_shares(metrics: dict) -> dict[str, float]:
    """Share of each predicted answer ('invalid' included) over all test verdicts, from the confusion matrix."""
    totals: dict[str, int] = {}
    for row in (metrics.get("confusion") or {}).values():
        for answer, count in row.items():
            totals[answer] = totals.get(answer, 0) + count
    n = sum(totals.values())
    return {answer: count / n for answer, count in totals.items()} if n else {}


def degenerate_judges(results: dict, share: float = 0.95) -> list[str]:
    """Judges whose macro-F1 is not judgment: one constant answer, or mostly unparseable output.

    A constant "no" on a task with 30% positives scores about 41 macro-F1, which reads like a weak
    judge in a table; these notes name such cells so that nobody mistakes them for learning."""
    from .paper import METHOD_NAMES, TASK_NAMES

    constant, unparseable = [], []
    for method, tasks in results.items():  # collect() keeps the paper's method order
        for task, metrics in tasks.items():
            shares = answer_shares(metrics)
            if not shares:
                continue
            top, top_share = max(shares.items(), key=lambda kv: kv[1])
            where = f"{METHOD_NAMES.get(method, method)} on {TASK_NAMES.get(task, task)}"
            if top == "invalid" and top_share >= 0.5:
                unparseable.append(f"{where} ({100 * top_share:.0f}%)")
            elif top != "invalid" and top_share >= share:
                constant.append(f"{where} ('{top}')")
    notes = []
    if constant:
        notes.append(f"One constant answer for at least {100 * share:.0f}% of the test examples (a macro-F1 of a constant "
                     f"classifier, not judgment), {len(constant)} cells: " + ", ".join(constant) + ".")
    if unparseable:
        notes.append(f"Mostly unparseable answers, {len(unparseable)} cells: " + ", ".join(unparseable) + ".")
    return notes
