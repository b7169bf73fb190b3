"""The collapse alarm: both triggers on synthetic logs, the flags it adds to the log, alarms.jsonl."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from mtrl_judge.train.callbacks import ALARMS_FILE, CollapseAlarmCallback, answer_shares, validation_roc_auc
from mtrl_judge.train.config import JudgeArguments


def test_validation_roc_auc_ranks_whatever_the_verdicts():
    gold = ["yes", "no", "yes", "no"]
    # Every greedy verdict "yes" (P(yes) above 0.5 throughout), yet positives ranked above negatives: AUC 1.
    assert validation_roc_auc(gold, [0.9, 0.6, 0.8, 0.55], "yes") == 1.0
    assert validation_roc_auc(gold, [0.6, 0.9, 0.55, 0.8], "yes") == 0.0  # ranked backwards
    assert validation_roc_auc(gold, [0.6, 0.6, 0.6, 0.6], "yes") == 0.5  # no signal
    assert validation_roc_auc(["1", "2", "1"], [0.7, 0.2, 0.6], "1") == 1.0  # pairwise: P(image 1 better)
    assert validation_roc_auc(["yes", "yes"], [0.9, 0.6], "yes") is None  # one class
    assert validation_roc_auc(gold, [0.9, None, 0.8, 0.55], "yes") == 1.0  # a row without a score is left out
    assert validation_roc_auc(gold, [None, 0.6, None, 0.55], "yes") is None  # what is left holds one class
    assert validation_roc_auc(gold, [None] * 4, "yes") is None


def _alarm(tmp_path, **fields):
    args = JudgeArguments(tasks=["seetrue", "agin-tech"], **fields)
    return CollapseAlarmCallback(args, tmp_path)


def _log(alarm, step, logs):
    state = SimpleNamespace(global_step=step, is_world_process_zero=True)
    alarm.on_log(None, state, None, logs=logs)
    return logs


def _events(tmp_path):
    path = tmp_path / ALARMS_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_answer_shares_count_unparseable_as_one_answer():
    shares = answer_shares(["no", "no", None, "yes"], ("yes", "no"), prefix="val/seetrue")
    assert shares == {"val/seetrue/answer_share/yes": 0.25, "val/seetrue/answer_share/no": 0.5,
                      "val/seetrue/answer_share/invalid": 0.25}  # fmt: skip


def test_answer_collapse_at_validation(tmp_path, caplog):
    alarm = _alarm(tmp_path)
    val = {**answer_shares(["no"] * 19 + ["yes"], ("yes", "no"), "val/seetrue"),  # 95% "no": collapsed
           **answer_shares(["no"] * 18 + ["yes"] * 2, ("yes", "no"), "val/agin-tech")}  # 90%: fine
    with caplog.at_level(logging.WARNING, logger="mtrl_judge.train.callbacks"):
        logs = _log(alarm, 50, {"loss": 0.1, **val})
    assert logs["alarm/answer_collapse"] == 1.0
    [event] = _events(tmp_path)
    assert event["alarm"] == "answer_collapse" and event["step"] == 50
    assert (event["task"], event["answer"], event["share"]) == ("seetrue", "no", 0.95)
    assert "95% of seetrue's verdicts are 'no'" in caplog.text
    assert "alarm/answer_collapse" not in _log(alarm, 51, {"loss": 0.1}), "no validation, no answer alarm"


def test_zero_std_alarm_after_consecutive_flat_steps(tmp_path):
    alarm = _alarm(tmp_path, alarm_zero_std_frac=0.8, alarm_zero_std_steps=50)
    flags = {}
    step = 0
    # 49 flat steps, one below the threshold (the count starts again), then 60 flat steps in a row.
    for frac in [0.9] * 49 + [0.5] + [0.8] * 60:
        step += 1
        logs = _log(alarm, step, {"frac_reward_zero_std": frac})
        if "alarm/zero_std" in logs:
            flags[step] = logs["alarm/zero_std"]
    assert flags == {100: 1.0}, "once, at the 50th consecutive flat step (steps 51-100)"
    [event] = _events(tmp_path)
    assert event["alarm"] == "zero_std" and event["first_step"] == 51 and event["logged_steps"] == 50
    assert event["mean_frac_reward_zero_std"] == pytest.approx(0.8)
    # Logs without the metric (e.g. validation-only lines) neither count nor break the run of flat steps.
    _log(alarm, 200, {"val/mean_macro_f1": 0.5})
    assert len(alarm.streak) == 60


def test_resume_drops_later_alarms(tmp_path):
    (tmp_path / ALARMS_FILE).write_text('{"step": 10, "alarm": "zero_std"}\n{"step": 30, "alarm": "zero_std"}\n')
    alarm = _alarm(tmp_path)
    alarm.on_train_begin(None, SimpleNamespace(global_step=20, is_world_process_zero=True), None)
    assert [e["step"] for e in _events(tmp_path)] == [10]
