"""The evaluation runner: generate -> parse (the shared parser) -> metrics -> results.json.

Pointwise tasks are judged once per example. Pairwise tasks are judged in both image orders
(MJ-Bench's labels lean toward the first image, so one order would reward a position bias):
accuracy is averaged over the two orders, macro-F1 pools both, and position consistency is the
share of pairs whose verdict flips when the images swap.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..data.dataset import load_task_split
from ..errors import JudgeError
from ..io import write_json, write_jsonl
from ..judge import Judge, JudgeRequest
from ..progress import progress_bar
from ..prompts import Verdict
from ..tasks import get_task
from .metrics import accuracy, classification_metrics, confusion, macro_f1, score_metrics

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
    """

    tasks: list[str] | None = None
    split: str = "test"
    max_examples: int | None = None
    self_consistency: int = 0
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.max_examples is not None and self.max_examples < 1:
            raise JudgeError("max_examples must be at least 1")
        if self.self_consistency < 0 or self.self_consistency == 1:
            raise JudgeError("self_consistency is the number of samples per example: 0 (off) or at least 2")
        if self.temperature <= 0:
            raise JudgeError("temperature must be positive")


def _requests(rows, task_name: str, swap: bool) -> list[JudgeRequest]:
    return [JudgeRequest(task=task_name, images=list(r["images"])[::-1] if swap else list(r["images"]), text=r["text"]) for r in rows]


def _judge(judge: Judge, requests: list[JudgeRequest], advance, **generation_kwargs) -> list[Verdict]:
    """Verdicts in batches, advancing the progress bar per batch."""
    out: list[Verdict] = []
    for start in range(0, len(requests), judge.batch_size):
        batch = [judge.prepare(r) for r in requests[start : start + judge.batch_size]]
        completions = judge.generate_scored(batch, **generation_kwargs)
        out += [Verdict.from_completion(c, get_task(r.task).choices, r.task, score=s) for r, (c, s) in zip(batch, completions)]
        advance(len(batch))
    return out


def _mjbench_protocols(gold: list[str], first: list[str | None], consistent: list[bool]) -> dict[str, float | None]:
    """MJ-Bench's two accuracies for a pairwise judge asked in both image orders. A pair whose verdict
    changes when the images are swapped (or is unparseable in either order) is a tie: counted wrong by
    `accuracy/ties_wrong`, left out by `accuracy/no_ties` (None when every pair is a tie)."""
    decided = [g == p for g, p, c in zip(gold, first, consistent) if c]
    return {"accuracy/ties_wrong": sum(decided) / len(gold), "accuracy/no_ties": sum(decided) / len(decided) if decided else None,
            "tie_rate": 1 - len(decided) / len(gold)}


def _self_consistency(judge, requests, gold, choices, k, temperature, advance) -> dict[str, float]:
    samples = [_judge(judge, requests, advance, do_sample=True, temperature=temperature) for _ in range(k)]
    majority, agreement = [], []
    for i in range(len(requests)):
        votes = Counter(s[i].choice for s in samples)
        choice, count = votes.most_common(1)[0]
        majority.append(choice)
        agreement.append(count / k)
    return {"self_consistency/k": float(k), "self_consistency/agreement": sum(agreement) / len(agreement),
            "self_consistency/majority_macro_f1": macro_f1(gold, majority, choices)}


def evaluate(judge: Judge, data_dir: str | Path, settings: EvalSettings, *, progress: bool = True) -> tuple[dict, list[dict]]:
    """(results, predictions) for `judge` on `settings.split` of each task under `data_dir`.

    Every task and split is loaded and checked before any generation starts, so a missing split,
    an unknown task or a label outside the task's choices fails at once, naming them.
    """
    from ..data.dataset import available_tasks

    task_names = settings.tasks or available_tasks(data_dir)
    if not task_names:
        raise JudgeError(f"{data_dir}: no task datasets found")
    loaded = {}
    for name in task_names:
        ds = load_task_split(data_dir, name, settings.split)
        if settings.max_examples is not None:
            ds = ds.select(range(min(settings.max_examples, len(ds))))
        if len(ds) == 0:
            raise JudgeError(f"{data_dir}: task {name!r} split {settings.split!r} is empty")
        loaded[name] = ds
    orders = {name: (2 if get_task(name).format == "pairwise" else 1) for name in task_names}
    total = sum(len(ds) * orders[n] * (1 + (settings.self_consistency if orders[n] == 1 else 0)) for n, ds in loaded.items())

    results: dict = {"schema_version": SCHEMA_VERSION, "model": judge.name, "data": str(data_dir), "split": settings.split,
                     "style": judge.style, "tasks": {}}
    predictions: list[dict] = []
    with progress_bar(f"evaluating {judge.name}", total=total, enabled=progress) as advance:
        for name, ds in loaded.items():
            task = get_task(name)
            rows = list(ds.select_columns([c for c in ("id", "images", "text", "label", "score") if c in ds.column_names]))
            human = [r.get("score") for r in rows]
            gold = [r["label"] for r in rows]
            if task.format == "pointwise":
                requests = _requests(rows, name, swap=False)
                verdicts = _judge(judge, requests, advance)
                preds = [v.choice for v in verdicts]
                metrics = classification_metrics(gold, preds, task.choices)
                metrics["confusion"] = confusion(gold, preds, task.choices)
                metrics.update(score_metrics(gold, [v.score for v in verdicts], human, task.positive))
                if settings.self_consistency:
                    metrics.update(_self_consistency(judge, requests, gold, task.choices, settings.self_consistency,
                                                     settings.temperature, advance))
                for r, v in zip(rows, verdicts):
                    predictions.append({"task": name, "id": r["id"], "order": "original", "label": r["label"], **_pred(v)})
            else:
                first = _judge(judge, _requests(rows, name, swap=False), advance)
                second = _judge(judge, _requests(rows, name, swap=True), advance)
                gold_swapped = [FLIP[g] for g in gold]
                p1, p2 = [v.choice for v in first], [v.choice for v in second]
                metrics = classification_metrics(gold + gold_swapped, p1 + p2, task.choices)
                metrics["accuracy"] = (accuracy(gold, p1) + accuracy(gold_swapped, p2)) / 2
                metrics["accuracy/original_order"] = accuracy(gold, p1)
                metrics["accuracy/swapped_order"] = accuracy(gold_swapped, p2)
                consistent = [a is not None and b is not None and FLIP.get(a) == b for a, b in zip(p1, p2)]
                metrics["position_consistency"] = sum(consistent) / len(consistent)
                metrics.update(_mjbench_protocols(gold, p1, consistent))
                metrics["n"] = float(len(rows))
                metrics["confusion"] = confusion(gold + gold_swapped, p1 + p2, task.choices)
                # P(image 1 is better) averaged over both orders cancels a position bias from the score
                pair_scores = [None if a.score is None or b.score is None else (a.score + 1.0 - b.score) / 2 for a, b in zip(first, second)]
                metrics.update(score_metrics(gold, pair_scores, human, task.positive))
                for order, label_list, verdicts in (("original", gold, first), ("swapped", gold_swapped, second)):
                    for r, g, v in zip(rows, label_list, verdicts):
                        predictions.append({"task": name, "id": r["id"], "order": order, "label": g, **_pred(v)})
            results["tasks"][name] = metrics
            logger.info("%s: macro-F1 %.4f, accuracy %.4f, unparseable %.1f%%", name, metrics["macro_f1"], metrics["accuracy"],
                        100 * metrics["parse_failure_rate"])
    pointwise = [results["tasks"][n]["macro_f1"] for n in task_names if orders[n] == 1]
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
