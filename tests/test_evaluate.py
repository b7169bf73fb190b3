"""Evaluation: metrics against sklearn, the pairwise both-orders logic, the eval command."""

import json
import random

import pytest
from sklearn.metrics import accuracy_score, f1_score

from mtrl_judge import Judge, JudgeError
from mtrl_judge.cli import main
from mtrl_judge.evaluate.metrics import accuracy, confusion, macro_f1, parse_failure_rate
from mtrl_judge.evaluate.runner import RESULTS_FILE, EvalSettings, evaluate, run_eval


@pytest.mark.parametrize("seed", range(20))
def test_macro_f1_matches_sklearn_on_random_data(seed):
    rng = random.Random(seed)
    choices = ("yes", "no") if seed % 2 else ("1", "2")
    n = rng.randint(1, 60)
    gold = [rng.choice(choices) for _ in range(n)]
    pred = [rng.choice([*choices, None]) for _ in range(n)]
    # sklearn: an unparseable verdict is a label outside `choices`, scored over `choices` only
    sk_pred = [p if p is not None else "invalid" for p in pred]
    expected = f1_score(gold, sk_pred, labels=list(choices), average="macro", zero_division=0)
    assert macro_f1(gold, pred, choices) == pytest.approx(expected)
    assert accuracy(gold, pred) == pytest.approx(accuracy_score(gold, sk_pred))


def test_unparseable_verdicts_count_as_wrong_not_dropped():
    gold = ["yes", "yes", "no", "no"]
    assert macro_f1(gold, ["yes", "yes", "no", "no"], ("yes", "no")) == 1.0
    assert macro_f1(gold, ["yes", None, "no", None], ("yes", "no")) == pytest.approx(2 / 3)
    assert parse_failure_rate(["yes", None, "maybe", "no"], ("yes", "no")) == 0.5
    assert confusion(gold, ["yes", None, "yes", "no"], ("yes", "no")) == {
        "yes": {"yes": 1, "no": 0, "invalid": 1}, "no": {"yes": 1, "no": 1, "invalid": 0}}


class FakeJudge(Judge):
    """Answers a fixed completion (or a function of the request), without a model."""

    def __init__(self, answer):
        self.answer = answer
        self.style, self.name, self.batch_size, self.max_pixels, self.max_new_tokens = "reason", "fake", 4, 10**7, 8

    def generate_scored(self, batch, **kwargs):
        texts = [self.answer(r) if callable(self.answer) else self.answer for r in batch]
        return [(t, 0.9 if "<answer>yes" in t or "<answer>1" in t else 0.1) for t in texts]


def test_pairwise_judge_always_answering_1(tiny_data_dir):
    results, predictions = evaluate(FakeJudge("<think>first</think><answer>1</answer>"), tiny_data_dir,
                                    EvalSettings(tasks=["mjbench-alignment"]), progress=False)
    m = results["tasks"]["mjbench-alignment"]
    assert m["accuracy"] == pytest.approx(0.5) and m["position_consistency"] == 0.0
    assert {p["order"] for p in predictions} == {"original", "swapped"} and len(predictions) == 2 * int(m["n"])


def test_pairwise_judge_that_reads_the_images(tiny_data_dir):
    """Picks the red image (the fixture's better one): right in both orders, perfectly consistent."""

    def pick_red(request):
        red = [i for i, img in enumerate(request.images) if img.getpixel((0, 0)) == (255, 0, 0)][0]
        return f"<think>red</think><answer>{red + 1}</answer>"

    results, _ = evaluate(FakeJudge(pick_red), tiny_data_dir, EvalSettings(tasks=["mjbench-alignment"]), progress=False)
    m = results["tasks"]["mjbench-alignment"]
    assert m["accuracy"] == 1.0 and m["position_consistency"] == 1.0 and m["macro_f1"] == 1.0


def test_pointwise_metrics_and_self_consistency(tiny_data_dir):
    def red_is_yes(request):
        return "<think>x</think><answer>" + ("yes" if request.images[0].getpixel((0, 0)) == (255, 0, 0) else "no") + "</answer>"

    results, _ = evaluate(FakeJudge(red_is_yes), tiny_data_dir, EvalSettings(tasks=["seetrue", "agin-tech"], self_consistency=3),
                          progress=False)
    for task in ("seetrue", "agin-tech"):
        m = results["tasks"][task]
        assert m["macro_f1"] == 1.0 and m["parse_failure_rate"] == 0.0
        assert m["self_consistency/agreement"] == 1.0 and m["self_consistency/majority_macro_f1"] == 1.0
    assert results["schema_version"] == 1 and results["mean_macro_f1"] == 1.0


@pytest.mark.parametrize(
    "settings, message",
    [
        (EvalSettings(tasks=["seetrue"], split="dev"), "has no split 'dev'"),
        (EvalSettings(tasks=["unsafebench"]), "no dataset for task 'unsafebench'"),
        (EvalSettings(tasks=["nope"]), "unknown task 'nope'"),
    ],
)
def test_bad_data_fails_early(tiny_data_dir, settings, message):
    calls = []
    judge = FakeJudge(lambda r: calls.append(r) or "<answer>yes</answer>")
    with pytest.raises(JudgeError, match=message):
        evaluate(judge, tiny_data_dir, EvalSettings(tasks=["agin-tech", *settings.tasks], split=settings.split), progress=False)
    assert calls == [], "nothing is generated before every task and split is checked"


def test_labels_outside_the_choices_fail_naming_task_and_split(tmp_path):
    import datasets

    from conftest import write_data_folder

    root = write_data_folder(tmp_path / "data", tasks=("seetrue",))
    ds = datasets.load_from_disk(str(root / "seetrue"))
    ds["test"] = ds["test"].map(lambda r: {"label": "maybe"})
    ds.save_to_disk(str(tmp_path / "data2" / "seetrue"))
    with pytest.raises(JudgeError, match="task 'seetrue' split 'test' has label"):
        evaluate(FakeJudge("<answer>yes</answer>"), tmp_path / "data2", EvalSettings(), progress=False)


def test_killed_eval_leaves_no_results(tiny_data_dir, tmp_path):
    def boom(request):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_eval(FakeJudge(boom), tiny_data_dir, tmp_path / "out", EvalSettings(tasks=["seetrue"]), progress=False)
    assert not (tmp_path / "out" / RESULTS_FILE).exists()


def test_eval_cli_end_to_end(tiny_model_dir, tiny_data_dir, tmp_path):
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(tiny_model_dir), "--data", str(tiny_data_dir), "--out", str(out), "--max-new-tokens", "4"]) == 0
    results = json.loads((out / RESULTS_FILE).read_text())
    assert set(results["tasks"]) == {"seetrue", "agin-tech", "mjbench-alignment"}
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 4 + 4 + 2 * 4 and all("completion" in json.loads(x) for x in lines)
    assert main(["eval", "--model", str(tiny_model_dir), "--data", str(tiny_data_dir), "--out", str(out), "--tasks", "nope"]) == 2


@pytest.mark.parametrize("seed", range(10))
def test_correlations_and_auc_match_scipy_and_sklearn(seed):
    from scipy.stats import kendalltau, spearmanr
    from sklearn.metrics import roc_auc_score

    from mtrl_judge.evaluate.metrics import kendall_tau_b, roc_auc, spearman

    rng = random.Random(seed)
    n = rng.randint(5, 80)
    x = [rng.choice([0.1, 0.2, 0.5, 0.7, rng.random()]) for _ in range(n)]  # ties on purpose
    y = [rng.randint(1, 7) for _ in range(n)]
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic)
    assert kendall_tau_b(x, y) == pytest.approx(kendalltau(x, y).statistic)
    labels = [rng.random() < 0.4 for _ in range(n)]
    if 0 < sum(labels) < n:
        assert roc_auc(labels, x) == pytest.approx(roc_auc_score(labels, x))


def test_score_metrics_leave_out_missing_and_explain_undefined():
    from mtrl_judge.evaluate.metrics import expected_calibration_error, score_metrics

    m = score_metrics(["yes", "no", "yes", "no"], [0.9, 0.2, None, 0.4], [5.0, None, 3.0, 1.0], "yes")
    assert m["scores/missing_judge_score"] == 1 and m["scores/missing_human_score"] == 1
    assert m["scores/spearman"] == {"value": None, "undefined": "fewer than 3 examples carry a human score"}
    constant = score_metrics(["yes", "no", "yes"], [0.5, 0.5, 0.5], [1.0, 2.0, 3.0], "yes")
    assert constant["scores/kendall"]["undefined"] == "the judge scores are constant"
    assert score_metrics(["yes", "yes"], [0.9, 0.8], [1, 2], "yes")["scores/roc_auc"]["undefined"].startswith("only one class")
    assert expected_calibration_error([True, False], [1.0, 0.0]) == 0.0
    assert expected_calibration_error([True, True], [0.5, 0.5]) == pytest.approx(0.5)


def test_mjbench_protocols_count_swapped_disagreements_as_ties():
    from mtrl_judge.evaluate.runner import _mjbench_protocols

    gold = ["1", "2", "1", "2"]
    first = ["1", "1", "2", None]  # pair 0 right, pair 1 wrong, pair 2 a tie (flips when swapped), pair 3 unparseable
    consistent = [True, True, False, False]
    m = _mjbench_protocols(gold, first, consistent)
    assert m["accuracy/ties_wrong"] == 0.25 and m["accuracy/no_ties"] == 0.5 and m["tie_rate"] == 0.5
    assert _mjbench_protocols(["1"], ["1"], [False])["accuracy/no_ties"] is None
