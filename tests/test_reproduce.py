"""`mtrl-judge reproduce --budget smoke`: every stage end to end on the tiny preset, then a rerun that skips them."""

import json
import logging

import pytest

from mtrl_judge.reproduce.budgets import BUDGETS
from mtrl_judge.reproduce.paper import METHODS
from mtrl_judge.reproduce.pipeline import plan, reproduce
from mtrl_judge.tasks import HELDOUT_TASKS, PAPER_TASKS


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    report = reproduce(out, BUDGETS["smoke"], seed=0)
    return out, report


def test_report_has_the_papers_tables(smoke):
    out, report = smoke
    text = report.read_text()
    assert "## Table 2" in text and "## Table 3" in text
    for name in ("Off-the-shelf", "SFT-Single", "SFT-Unified", "RL-Single", "MT-RL-Judge"):
        assert f"| {name} |" in text
    assert "(83.67)" in text and "(82.23)" in text  # the paper's numbers beside ours
    for png in ("bars.png", "curves.png", "calibration.png"):
        assert (out / png).stat().st_size > 1000


def test_every_method_is_evaluated_on_its_tasks(smoke):
    out, _ = smoke
    results = json.loads((out / "results.json").read_text())
    assert set(results) == set(METHODS)
    for method in METHODS:
        assert set(PAPER_TASKS) <= set(results[method])
    for method in ("off-the-shelf", "sft-unified", "mt-rl-judge"):
        assert set(HELDOUT_TASKS) <= set(results[method])
        assert "position_consistency" in results[method]["mjbench-safety"]
    assert "scores/roc_auc" in results["mt-rl-judge"]["seetrue"]


def test_rerun_skips_finished_stages(smoke, caplog):
    out, _ = smoke
    stages, _ = plan(out, BUDGETS["smoke"], seed=0)
    assert all(stage.done() for stage in stages.stages)
    with caplog.at_level(logging.INFO, logger="mtrl_judge.reproduce.pipeline"):
        reproduce(out, BUDGETS["smoke"], seed=0)
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == len(stages.stages)


def test_a_missing_stage_output_is_redone(smoke):
    import shutil

    out, _ = smoke
    shutil.rmtree(out / "eval" / "sft-unified")
    stages, _ = plan(out, BUDGETS["smoke"], seed=0)
    assert [s.name for s in stages.stages if not s.done()] == ["eval sft-unified"]
    reproduce(out, BUDGETS["smoke"], seed=0)
    assert (out / "eval" / "sft-unified" / "results.json").is_file()


def test_findings_name_constant_and_unparseable_judges():
    from mtrl_judge.reproduce.pipeline import answer_shares, degenerate_judges

    constant = {"confusion": {"yes": {"yes": 0, "no": 30, "invalid": 0}, "no": {"yes": 1, "no": 69, "invalid": 0}}}
    judging = {"confusion": {"yes": {"yes": 25, "no": 5, "invalid": 0}, "no": {"yes": 10, "no": 60, "invalid": 0}}}
    broken = {"confusion": {"1": {"1": 5, "2": 0, "invalid": 45}, "2": {"1": 0, "2": 5, "invalid": 45}}}
    assert answer_shares(constant) == {"yes": 0.01, "no": 0.99, "invalid": 0.0}
    results = {"sft-unified": {"seetrue": constant, "agin-nat": judging}, "mt-rl-judge": {"mjbench-safety": broken}}
    notes = degenerate_judges(results)
    assert len(notes) == 2
    assert "SFT-Unified on SeeTRUE ('no')" in notes[0] and "AGIN-Nat." not in notes[0]
    assert "MT-RL-Judge on Safety Judge (90%)" in notes[1]
    assert degenerate_judges({"sft-unified": {"agin-nat": judging}}) == []


def test_rolling_mean_smooths_over_the_last_window():
    from mtrl_judge.reproduce.report import rolling_mean

    assert rolling_mean([(1, 0.0), (2, 1.0), (3, 1.0), (4, 0.0)], 2) == [(1, 0.0), (2, 0.5), (3, 1.0), (4, 0.5)]
    assert rolling_mean([], 3) == []


def test_alarm_notes_name_the_run_and_first_event(tmp_path):
    import json

    from mtrl_judge.reproduce.pipeline import alarm_notes

    run = tmp_path / "runs" / "mt-rl-judge"
    run.mkdir(parents=True)
    events = [{"step": 50, "alarm": "answer_collapse", "message": "validation: 97% of seetrue's verdicts are 'no'"},
              {"step": 100, "alarm": "zero_std", "message": "flat"}]
    (run / "alarms.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (tmp_path / "runs" / "sft-unified").mkdir()
    notes = alarm_notes(tmp_path / "runs")
    assert len(notes) == 1 and "mt-rl-judge" in notes[0] and "2 event(s)" in notes[0] and "step 50" in notes[0]
