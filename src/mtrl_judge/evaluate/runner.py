"""The evaluation runner: generate (Judge.judge_orders) -> parse (the shared parser) -> pure metric functions
-> results.json.

Pointwise tasks are judged once per example. Pairwise tasks are judged in both image orders
(MJ-Bench's labels lean toward the first image, so one order would reward a position bias):
accuracy is averaged over the two orders, macro-F1 pools both, and position consistency is the
share of pairs whose verdict flips when the images swap.

A row that cannot be judged (an unreadable image, a request the judge refuses) is skipped with a
warning naming the split, task and row, and counted as `skipped` in its task's metrics; the other
rows are still evaluated.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets

from ..data.dataset import load_task_split
from ..data.world.causes import cause_of
from ..errors import JudgeError
from ..io import write_json, write_jsonl
from ..judge import Judge, JudgeRequest, both_orders_score
from ..prompts import Verdict
from ..tasks import Task, get_task
from .metrics import accuracy, accuracy_by_group, classification_metrics, confusion, interval_metrics, macro_f1, score_metrics

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.jsonl"
FLIP = {"1": "2", "2": "1"}


@dataclass
class EvalSettings:
    """What to evaluate and how.

    Attributes:
        tasks: task names (default: every task folder in the data).
        split: which split to score.
        max_examples: at most this many rows per task (the first N), None for all.
        self_consistency: k > 1 samples k verdicts per example (temperature) and reports their
            agreement and majority-vote macro-F1, besides the greedy verdict.
        temperature: sampling temperature for self-consistency.
        bootstrap_resamples: resamples of the test rows for the 95% interval of macro-F1 (seed 0).
    """

    tasks: list[str] | None = None
    split: str = "test"
    max_examples: int | None = None
    self_consistency: int = 0
    temperature: float = 1.0
    bootstrap_resamples: int = 1000

    def __post_init__(self) -> None:
        if self.max_examples is not None and self.max_examples < 1:
            raise JudgeError("max_examples must be at least 1")
        if self.self_consistency < 0 or self.self_consistency == 1:
            raise JudgeError("self_consistency is the number of samples per example: 0 (off) or at least 2")
        if self.temperature <= 0:
            raise JudgeError("temperature must be positive")
        if self.bootstrap_resamples < 1:
            raise JudgeError("bootstrap_resamples must be at least 1")


# --- pure metric functions over one task's verdicts ---------------------------------------------


def pointwise_metrics(task: Task, gold: list[str], verdicts: list[Verdict], human: list[float | None]) -> dict:
    """Classification, confusion and score metrics of a pointwise task."""
    preds = [v.choice for v in verdicts]
    metrics = classification_metrics(gold, preds, task.choices)
    metrics["confusion"] = confusion(gold, preds, task.choices)
    metrics.update(score_metrics(gold, [v.score for v in verdicts], human, task.positive))
    return metrics


def pairwise_metrics(task: Task, gold: list[str], first: list[Verdict], swapped: list[Verdict],
                     human: list[float | None]) -> dict:
    """Metrics of a pairwise task judged in both image orders: macro-F1 pools both orders, accuracy is
    their mean, plus position consistency, MJ-Bench's protocols and the both-orders score's metrics."""
    gold_swapped = [FLIP[g] for g in gold]
    p1, p2 = [v.choice for v in first], [v.choice for v in swapped]
    metrics = classification_metrics(gold + gold_swapped, p1 + p2, task.choices)
    metrics["accuracy"] = (accuracy(gold, p1) + accuracy(gold_swapped, p2)) / 2
    metrics["accuracy/original_order"] = accuracy(gold, p1)
    metrics["accuracy/swapped_order"] = accuracy(gold_swapped, p2)
    consistent = [a is not None and b is not None and FLIP.get(a) == b for a, b in zip(p1, p2, strict=True)]
    metrics["position_consistency"] = sum(consistent) / len(consistent)
    metrics.update(_mjbench_protocols(gold, p1, consistent))
    metrics["n"] = float(len(gold))
    metrics["confusion"] = confusion(gold + gold_swapped, p1 + p2, task.choices)
    pair_scores = [both_orders_score(a.score, b.score) for a, b in zip(first, swapped, strict=True)]
    metrics.update(score_metrics(gold, pair_scores, human, task.positive))
    return metrics


def _mjbench_protocols(gold: list[str], first: list[str | None], consistent: list[bool]) -> dict[str, float | None]:
    """MJ-Bench's two accuracies for a pairwise judge asked in both image orders. A pair whose verdict
    changes when the images are swapped (or is unparseable in either order) is a tie: counted wrong by
    `accuracy/ties_wrong`, left out by `accuracy/no_ties` (None when every pair is a tie)."""
    decided = [g == p for g, p, c in zip(gold, first, consistent, strict=True) if c]
    return {"accuracy/ties_wrong": sum(decided) / len(gold), "accuracy/no_ties": sum(decided) / len(decided) if decided else None,
            "tie_rate": 1 - len(decided) / len(gold)}


def self_consistency_metrics(gold: list[str], samples: list[list[str | None]], choices: Sequence[str]) -> dict[str, float]:
    """Agreement of k sampled verdicts per example (samples[j][i]: sample j of example i) and the
    macro-F1 of their majority vote."""
    k = len(samples)
    majority, agreement = [], []
    for i in range(len(gold)):
        choice, count = Counter(s[i] for s in samples).most_common(1)[0]
        majority.append(choice)
        agreement.append(count / k)
    return {"self_consistency/k": float(k), "self_consistency/agreement": sum(agreement) / len(agreement),
            "self_consistency/majority_macro_f1": macro_f1(gold, majority, choices)}


def prediction_interval_metrics(predictions: list[dict], choices: Sequence[str], *, resamples: int = 1000) -> dict[str, float]:
    """interval_metrics of one task's prediction records (predictions.jsonl): a pairwise row's two
    orders share its id, so the bootstrap draws them together. Reports made from older evaluations
    compute the interval from their predictions with this same function."""
    return interval_metrics([p["label"] for p in predictions], [p["choice"] for p in predictions], choices,
                            rows=[p["id"] for p in predictions], resamples=resamples)


# --- the run -----------------------------------------------------------------------------------


def _load(data_dir, name: str, settings: EvalSettings) -> datasets.Dataset:
    ds = load_task_split(data_dir, name, settings.split)
    if settings.max_examples is not None:
        ds = ds.select(range(min(settings.max_examples, len(ds))))
    if len(ds) == 0:
        raise JudgeError(f"{data_dir}: task {name!r} split {settings.split!r} is empty")
    # Images stay undecoded here: one unreadable image then fails in Judge.prepare for its own row,
    # not while the whole split is read.
    return ds.cast_column("images", datasets.List(datasets.Image(decode=False)))


def _judge_task(judge: Judge, name: str, rows: list[dict], split: str, progress: bool):
    """(rows kept, their requests, their (verdict, swapped verdict) pairs); the rows the judge refuses are
    skipped with a warning naming the split, task, row id and reason."""
    skipped: list[int] = []

    def skip(i: int, error: JudgeError) -> None:
        logger.warning("%s/%s row %s skipped: %s", split, name, rows[i]["id"], error)
        skipped.append(i)

    requests = [JudgeRequest(task=name, images=list(r["images"]), text=r["text"]) for r in rows]
    judged = judge.judge_orders(requests, both_orders=True, progress=progress, description=f"{judge.name} {name}",
                                on_invalid=skip)
    if len(skipped) == len(rows):
        raise JudgeError(f"task {name!r} split {split!r}: every row was skipped (the first: {rows[0]['id']})")
    kept = [i for i, j in enumerate(judged) if j is not None]
    return [rows[i] for i in kept], [requests[i] for i in kept], [judged[i] for i in kept]


def evaluate(judge: Judge, data_dir: str | Path, settings: EvalSettings, *, progress: bool = True) -> tuple[dict, list[dict]]:
    """(results, predictions) for `judge` on `settings.split` of each task under `data_dir`.

    Every task and split is loaded and checked before any generation starts, so a missing split,
    an unknown task or a label outside the task's choices fails at once, naming them.
    """
    from ..data.dataset import available_tasks, register_folder_tasks

    register_folder_tasks(data_dir)  # the folder's own tasks (its tasks.yaml), once, before they are judged
    task_names = settings.tasks or available_tasks(data_dir)
    if not task_names:
        raise JudgeError(f"{data_dir}: no task datasets found")
    loaded = {name: _load(data_dir, name, settings) for name in task_names}

    results: dict = {"schema_version": SCHEMA_VERSION, "model": judge.name, "data": str(data_dir), "split": settings.split,
                     "style": judge.style, "tasks": {}}
    predictions: list[dict] = []
    for name, ds in loaded.items():
        task = get_task(name)
        columns = [c for c in ("id", "images", "text", "label", "score", "meta") if c in ds.column_names]
        all_rows = list(ds.select_columns(columns))
        rows, requests, judged = _judge_task(judge, name, all_rows, settings.split, progress)
        human = [r.get("score") for r in rows]
        gold = [r["label"] for r in rows]
        first = [given for given, _ in judged]
        records = [{"task": name, "id": r["id"], "order": "original", "label": r["label"], **_pred(v)}
                   for r, v in zip(rows, first, strict=True)]
        if task.format == "pointwise":
            metrics = pointwise_metrics(task, gold, first, human)
            # JudgeWorld rows say what made them (an edited shape, a blur): accuracy per cause shows what is missed
            causes = [cause_of(r.get("meta")) for r in rows]
            if any(c is not None for c in causes):
                metrics["by_cause"] = accuracy_by_group(gold, [v.choice for v in first], causes,
                                                        [v.score for v in first], task.positive)
            if settings.self_consistency:
                samples = [[v.choice for v, _ in judge.judge_orders(requests, both_orders=False, do_sample=True,
                                                                     temperature=settings.temperature, progress=progress,
                                                                     description=f"{judge.name} {name} sample {j + 1}")]
                           for j in range(settings.self_consistency)]
                metrics.update(self_consistency_metrics(gold, samples, task.choices))
        else:
            swapped = [s for _, s in judged]
            metrics = pairwise_metrics(task, gold, first, swapped, human)
            records += [{"task": name, "id": r["id"], "order": "swapped", "label": FLIP[r["label"]], **_pred(v)}
                        for r, v in zip(rows, swapped, strict=True)]
        metrics.update(prediction_interval_metrics(records, task.choices, resamples=settings.bootstrap_resamples))
        metrics["skipped"] = float(len(all_rows) - len(rows))
        predictions += records
        results["tasks"][name] = metrics
        consistency = (f", position consistency {metrics['position_consistency']:.3f}"
                       if "position_consistency" in metrics else "")
        logger.info("%s: macro-F1 %.4f [%.4f, %.4f], accuracy %.4f, unparseable %.1f%%, %d row(s) skipped%s", name,
                    metrics["macro_f1"], metrics["macro_f1/ci95_low"], metrics["macro_f1/ci95_high"], metrics["accuracy"],
                    100 * metrics["parse_failure_rate"], metrics["skipped"], consistency)
    pointwise = [results["tasks"][n]["macro_f1"] for n in task_names if get_task(n).format == "pointwise"]
    results["mean_macro_f1"] = sum(results["tasks"][n]["macro_f1"] for n in task_names) / len(task_names)
    if pointwise:
        results["mean_pointwise_macro_f1"] = sum(pointwise) / len(pointwise)
    return results, predictions


def _pred(v: Verdict) -> dict:
    return {"choice": v.choice, "score": v.score, "valid": v.valid, "completion": v.completion}


def run_eval(judge: Judge, data_dir: str | Path, out: str | Path, settings: EvalSettings, *, progress: bool = True) -> dict:
    """Evaluate and write OUT/results.json and OUT/predictions.jsonl, each atomically: a killed
    run leaves the previous files (or none), never a partial one."""
    results, predictions = evaluate(judge, data_dir, settings, progress=progress)
    out = Path(out)
    write_jsonl(out / PREDICTIONS_FILE, predictions)
    write_json(out / RESULTS_FILE, results)
    return results
