"""Evaluation: metrics against sklearn, the pairwise both-orders logic, the eval command."""

import json
import random

import pytest
from PIL import Image
from sklearn.metrics import accuracy_score, f1_score

from mtrl_judge import Judge, JudgeError
from mtrl_judge.cli import main
from mtrl_judge.evaluate.metrics import accuracy, confusion, macro_f1, parse_failure_rate
from mtrl_judge.evaluate.runner import RESULTS_FILE, EvalSettings, evaluate, run_eval
from mtrl_judge.judge import JudgeRequest
from mtrl_judge.requests import RequestLimits, prepare_request


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


class FakeTokenizer:
    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": text.split()}


class FakeJudge(Judge):
    """Answers a fixed completion (or a function of the request), without a model."""

    def __init__(self, answer):
        from types import SimpleNamespace

        super().__init__(SimpleNamespace(config=None), SimpleNamespace(tokenizer=FakeTokenizer()), max_new_tokens=8, batch_size=4,
                         max_pixels=10**7, name="fake")
        self.answer = answer

    def prepare(self, request, where=""):  # the request check without a tokenizer
        return prepare_request(request, RequestLimits(max_pixels=10**7), where)

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
    assert main(["eval", "--model", str(tiny_model_dir), "--data", str(tiny_data_dir), "--out", str(out),
                 "--max-new-tokens", "4"]) == 0
    results = json.loads((out / RESULTS_FILE).read_text())
    assert set(results["tasks"]) == {"seetrue", "agin-tech", "mjbench-alignment"}
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 4 + 4 + 2 * 4 and all("completion" in json.loads(x) for x in lines)
    assert main(["eval", "--model", str(tiny_model_dir), "--data", str(tiny_data_dir), "--out", str(out), "--tasks", "nope"]) == 2


def test_correlations_and_auc_pinned_by_hand():
    """scipy and sklearn compute these; the values are worked out by hand on small inputs."""
    from mtrl_judge.evaluate.metrics import kendall_tau_b, roc_auc, spearman

    # one swapped neighbour pair: rho = 1 - 6 * (0 + 1 + 1 + 0) / (4 * 15) = 0.8; tau = (5 - 1) / 6
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3)
    # ties: x ranks (1.5, 1.5, 3) against (1, 2, 3) give rho = 1.5 / sqrt(1.5 * 2); tau-b = 2 / sqrt(2 * 3)
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(3**0.5 / 2)
    assert kendall_tau_b([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / 6**0.5)
    assert spearman([1, 1, 1], [1, 2, 3]) is None and kendall_tau_b([1, 2, 3], [5, 5, 5]) is None
    # positives 0.9, 0.4, 0.5 against negatives 0.5, 0.1: 4 wins, 1 tie (counts half) and 1 loss of 6 pairs
    assert roc_auc([True, True, True, False, False], [0.9, 0.4, 0.5, 0.5, 0.1]) == pytest.approx(4.5 / 6)
    assert roc_auc([True, True], [0.2, 0.3]) is None


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


def test_majority_baseline_is_the_macro_f1_of_a_constant_answer():
    from mtrl_judge.evaluate.metrics import majority_macro_f1

    # always "yes" on 3 yes / 1 no: F1(yes) = 2*3 / (2*3 + 1) = 6/7, F1(no) = 0, mean 3/7
    assert majority_macro_f1(["yes", "yes", "no", "yes"], ("yes", "no")) == pytest.approx(3 / 7)
    # a tie goes to the first choice; both orders of a pairwise task pooled are balanced: 1/3
    assert majority_macro_f1(["1", "2"], ("1", "2")) == pytest.approx(1 / 3)


def test_bootstrap_interval_is_deterministic_and_matches_a_plain_loop():
    import numpy as np

    from mtrl_judge.evaluate.metrics import bootstrap_macro_f1

    rng = random.Random(3)
    gold = [rng.choice("yn") for _ in range(40)]
    pred = [g if rng.random() < 0.7 else rng.choice(["y", "n", None]) for g in gold]
    low, high = bootstrap_macro_f1(gold, pred, ("y", "n"), resamples=200, seed=7)
    assert (low, high) == bootstrap_macro_f1(gold, pred, ("y", "n"), resamples=200, seed=7)
    assert low < macro_f1(gold, pred, ("y", "n")) < high
    # the same draws, scored one by one with the hand-written macro_f1
    draws = np.random.default_rng(7).integers(0, 40, size=(200, 40))
    stats = [macro_f1([gold[i] for i in d], [pred[i] for i in d], ("y", "n")) for d in draws]
    assert (low, high) == pytest.approx(tuple(np.quantile(stats, [0.025, 0.975])))


def test_bootstrap_draws_both_orders_of_a_pair_together():
    import numpy as np

    from mtrl_judge.evaluate.metrics import bootstrap_macro_f1

    rng = random.Random(5)
    first_gold = [rng.choice("12") for _ in range(30)]
    gold = first_gold + [{"1": "2", "2": "1"}[g] for g in first_gold]  # the swapped order's labels
    pred = [rng.choice(["1", "1", "2", None]) for _ in gold]  # a position-biased judge
    rows = list(range(30)) * 2
    low, high = bootstrap_macro_f1(gold, pred, ("1", "2"), rows=rows, resamples=300, seed=1)
    draws = np.random.default_rng(1).integers(0, 30, size=(300, 30))
    picked = [[i + order for i in d for order in (0, 30)] for d in draws]  # each drawn pair brings both of its verdicts
    stats = [macro_f1([gold[i] for i in p], [pred[i] for i in p], ("1", "2")) for p in picked]
    assert (low, high) == pytest.approx(tuple(np.quantile(stats, [0.025, 0.975])))


def test_judge_orders_keeps_the_two_orders_apart_and_judge_many_averages_them(tiny_data_dir):
    from mtrl_judge.judge import both_orders_score

    judge = FakeJudge("<think>x</think><answer>1</answer>")
    images = [Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")]
    bad = JudgeRequest(task="mjbench-alignment", images=[b"not an image", images[1]], text="a red square")
    good = JudgeRequest(task="mjbench-alignment", images=images, text="a red square")
    point = JudgeRequest(task="seetrue", images=images[:1], text="a red square")
    invalid = []
    judged = judge.judge_orders([good, bad, point], on_invalid=lambda i, e: invalid.append((i, str(e))))
    assert judged[1] is None and invalid[0][0] == 1 and "not a readable image" in invalid[0][1]
    (given, swapped), (single, none) = judged[0], judged[2]
    assert given.choice == swapped.choice == "1" and none is None and single.choice is None
    [verdict] = judge.judge_many([good])
    assert verdict.choice == "1" and verdict.score == pytest.approx(both_orders_score(0.9, 0.9)) == pytest.approx(0.5)
    with pytest.raises(JudgeError, match="not a readable image"):
        judge.judge_orders([good, bad])


def test_an_unreadable_image_skips_its_row_only(tmp_path, caplog):
    import logging

    import datasets

    from mtrl_judge.data.schema import features

    rows = [{"id": f"r{i}", "task": "seetrue", "images": [{"bytes": image_bytes(colour), "path": None}], "text": "a red square",
             "label": "yes" if colour == "red" else "no", "source": "test", "score": None, "meta": "{}"}
            for i, colour in enumerate(["red", "blue", "red", "blue"])]
    rows[2]["images"] = [{"bytes": b"truncated", "path": "broken.png"}]
    split = datasets.Dataset.from_list(rows, features=features())
    datasets.DatasetDict({"test": split}).save_to_disk(str(tmp_path / "data" / "seetrue"))

    def red_is_yes(request):
        return "<think>x</think><answer>" + ("yes" if request.images[0].getpixel((0, 0)) == (255, 0, 0) else "no") + "</answer>"

    with caplog.at_level(logging.WARNING, logger="mtrl_judge.evaluate.runner"):
        results, predictions = evaluate(FakeJudge(red_is_yes), tmp_path / "data", EvalSettings(), progress=False)
    m = results["tasks"]["seetrue"]
    assert m["skipped"] == 1 and m["n"] == 3 and m["macro_f1"] == 1.0
    assert [p["id"] for p in predictions] == ["r0", "r1", "r3"]
    assert any("test/seetrue row r2 skipped" in r.getMessage() and "broken.png" in r.getMessage() for r in caplog.records)
    assert m["macro_f1/ci95_high"] == 1.0 and m["baseline/majority_macro_f1"] == pytest.approx(2 / 5)  # always "no": 2 of 3


def image_bytes(colour: str) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_cause_of_names_what_made_each_kind_of_row():
    from mtrl_judge.data.world.causes import cause_of

    shape = {"edits": [{"kind": "shape", "group": 0, "from": "star", "to": "square"}], "claim": {}}
    assert cause_of(json.dumps(shape)) == "shape"
    both = {"edits": [{"kind": "count"}], "perturbations": [{"kind": "blur", "radius": 1.8}]}
    assert cause_of(both) == "blur+count"
    assert cause_of({"edits": [], "perturbations": []}) == "none"
    assert cause_of({"perturbations": [{"kind": "sink"}], "severity": 0.5}) == "sink"
    assert cause_of({"symbols": ["leaf", "flame"], "hazards": ["flame"]}) == "flame+leaf"
    # rows that do not say: an imported benchmark's meta, broken JSON, a pairwise world row
    assert cause_of({"original_id": "x"}) is None and cause_of("not json") is None and cause_of(None) is None
    assert cause_of({"scenes": [{}, {}], "edits": [{"kind": "colour"}]}) is None


def test_accuracy_by_group_counts_each_group_and_leaves_out_rows_without_one():
    from mtrl_judge.evaluate.metrics import accuracy_by_group

    gold = ["no", "no", "no", "yes", "no", "yes"]
    pred = ["no", "yes", None, "yes", "no", "no"]
    groups = ["shape", "shape", "shape", "none", None, "none"]
    assert accuracy_by_group(gold, pred, groups) == {"shape": {"n": 3, "accuracy": pytest.approx(1 / 3)},
                                                     "none": {"n": 2, "accuracy": 0.5}}
    assert list(accuracy_by_group(gold, pred, groups)) == ["shape", "none"]  # largest group first


def test_by_cause_says_whether_the_scores_separate_a_cause_from_the_other_label():
    from mtrl_judge.evaluate.metrics import accuracy_by_group

    gold = ["yes", "yes", "no", "no", "no", "no", "no"]
    groups = ["none", "none", "colour", "colour", "shape", "shape", "relation"]
    scores = [0.9, 0.6, 0.1, 0.2, 0.6, 0.9, None]  # colour below every positive; shape level with them; one unscored
    pred = ["yes" if s is not None and s > 0.5 else "no" for s in scores]
    cells = accuracy_by_group(gold, pred, groups, scores, positive="yes")
    assert cells["colour"]["roc_auc"] == 1.0 and cells["shape"]["roc_auc"] == 0.5
    assert cells["none"]["roc_auc"] == 0.75  # 6 of its 8 pairs with a scored negative ordered right (ties half)
    assert "roc_auc" not in cells["relation"] and cells["relation"]["n"] == 1  # its one row has no score
    assert "roc_auc" not in accuracy_by_group(["yes", "no"], ["yes", "no"], ["a", "a"], [0.9, 0.1], positive="yes")["a"]
    assert "roc_auc" not in accuracy_by_group(gold, pred, groups)["colour"]  # no scores given


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    from mtrl_judge.data.world import generate_world

    return generate_world(tmp_path_factory.mktemp("world") / "w", size="tiny", seed=0)


def test_results_say_which_edits_a_judge_misses(tiny_world, tiny_data_dir):
    """A judge that always answers "no" on SeeTRUE catches every edited caption and accepts no true one."""
    results, _ = evaluate(FakeJudge("<think>x</think><answer>no</answer>"), tiny_world,
                          EvalSettings(tasks=["seetrue", "mjbench-alignment"]), progress=False)
    by_cause = results["tasks"]["seetrue"]["by_cause"]
    assert by_cause["none"]["accuracy"] == 0.0
    assert all(c["accuracy"] == 1.0 for name, c in by_cause.items() if name != "none")
    assert sum(c["n"] for c in by_cause.values()) == results["tasks"]["seetrue"]["n"]
    assert set(by_cause) - {"none"} <= {"+".join(sorted(k)) for k in
                                        [(a,) for a in ("colour", "count", "relation", "shape")] +
                                        [(a, b) for a in ("colour", "count", "relation", "shape")
                                         for b in ("colour", "count", "relation", "shape")]}
    assert "by_cause" not in results["tasks"]["mjbench-alignment"]  # pairwise: judged by order, not by cause
    plain, _ = evaluate(FakeJudge("<think>x</think><answer>no</answer>"), tiny_data_dir, EvalSettings(tasks=["seetrue"]),
                        progress=False)
    assert "by_cause" not in plain["tasks"]["seetrue"]  # rows whose meta says nothing about a cause
