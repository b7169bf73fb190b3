"""`mtrl-judge reproduce --budget smoke`: every stage end to end on the tiny preset, then a rerun that skips them."""

import json
import logging

import pytest

from mtrl_judge.reproduce.budgets import BUDGETS
from mtrl_judge.reproduce.paper import METHODS, TRAINED_METHODS
from mtrl_judge.reproduce.pipeline import TRAINING_ORDER, plan, reproduce
from mtrl_judge.tasks import HELDOUT_TASKS, PAPER_TASKS


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    report = reproduce(out, BUDGETS["smoke"], seed=0)
    return out, report


@pytest.mark.parametrize("budget", ["smoke", "demo", "full"])
def test_plan_trains_the_budgets_judges_and_finds_its_recipes_and_base(tmp_path, budget):
    """The reproduction's wiring without its minutes: the shipped recipes and the base are found, every judge of
    the budget is trained and evaluated, and no other (the smoke run itself is marked slow)."""
    b = BUDGETS[budget]
    stages, evals = plan(tmp_path, b, seed=0, device="cpu")
    names = [s.name for s in stages.stages]
    assert names[:2] == ["world", "base"]
    expected = {f"{m}-{t}" if m in ("sft-single", "rl-single") else m for m in b.methods
                for t in PAPER_TASKS}
    assert {n.removeprefix("train ") for n in names if n.startswith("train ")} == expected
    assert set(evals) == expected | {"off-the-shelf"}
    assert set(HELDOUT_TASKS) <= set(evals["off-the-shelf"][1])
    if "mt-rl-judge" in b.methods:
        assert set(HELDOUT_TASKS) <= set(evals["mt-rl-judge"][1])
    assert not any(stage.done() for stage in stages.stages)
    assert names[2] == "eval off-the-shelf"
    for i, name in enumerate(names):  # each judge is evaluated as soon as it is trained
        if name.startswith("train "):
            assert names[i + 1] == "eval " + name.removeprefix("train ")
    # the paper's comparison is trained before the single-task baselines, so a run stopped partway holds it
    trains = [n.removeprefix("train ") for n in names if n.startswith("train ")]
    multi = [i for i, n in enumerate(trains) if n in ("sft-unified", "mt-rl-judge")]
    single = [i for i, n in enumerate(trains) if n.startswith(("sft-single-", "rl-single-"))]
    assert not multi or not single or max(multi) < min(single)
    assert sorted(TRAINING_ORDER) == sorted(TRAINED_METHODS)


def test_an_evaluated_judge_needs_no_weights_and_its_record_carries_over(tmp_path):
    """A judge whose evaluation is done counts as trained without its weights; the record keeps such judges'
    results, metrics and configs, never weights, checkpoints, the world, the base or a run still training, and
    restores them into an output folder that lacks them without overwriting what is there."""
    from mtrl_judge.errors import JudgeError
    from mtrl_judge.reproduce.pipeline import checkpoint_info, restore_record, save_record

    out = tmp_path / "out"
    files = {
        "stage_times.json": "{}", "world/world.json": "{}", "base/config.json": "{}",
        "runs/sft-unified/metrics.jsonl": "{}\n", "runs/sft-unified/best/score.json": "{}",
        "runs/sft-unified/best/config.json": "{}", "runs/sft-unified/best/model.safetensors": "w",
        "runs/sft-unified/best/tokenizer.json": "{}", "runs/sft-unified/final/config.json": "{}",
        "runs/sft-unified/final/model.safetensors": "w", "runs/sft-unified/checkpoint-50/optimizer.pt": "o",
        "eval/sft-unified/results.json": "{}", "eval/sft-unified/predictions.jsonl": "{}\n",
        "runs/mt-rl-judge/metrics.jsonl": "{}\n", "runs/mt-rl-judge/checkpoint-50/model.safetensors": "w",
    }  # fmt: skip
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    stages, _ = plan(out, BUDGETS["demo"], seed=0, device="cpu")
    done = {s.name for s in stages.stages if s.done()}
    assert {"world", "base", "train sft-unified", "eval sft-unified"} == done

    record = tmp_path / "record"
    assert save_record(out, record) == 6
    kept = sorted(str(p.relative_to(record)) for p in record.rglob("*") if p.is_file())
    assert kept == ["eval/sft-unified/predictions.jsonl", "eval/sft-unified/results.json",
                    "runs/sft-unified/best/config.json", "runs/sft-unified/best/score.json",
                    "runs/sft-unified/metrics.jsonl", "stage_times.json"]
    assert save_record(out, record) == 0, "unchanged files are not copied again"

    fresh = tmp_path / "fresh"
    (fresh / "runs" / "sft-unified").mkdir(parents=True)
    (fresh / "runs" / "sft-unified" / "metrics.jsonl").write_text('{"step": 7}\n')
    assert restore_record(record, fresh) == 5
    assert (fresh / "runs" / "sft-unified" / "metrics.jsonl").read_text() == '{"step": 7}\n'
    assert checkpoint_info(fresh / "runs" / "sft-unified")["checkpoint"] == "best"
    stages, _ = plan(fresh, BUDGETS["demo"], seed=0, device="cpu")
    assert {"train sft-unified", "eval sft-unified"} <= {s.name for s in stages.stages if s.done()}

    with pytest.raises(JudgeError, match="must lie outside the output folder"):
        reproduce(out, BUDGETS["demo"], device="cpu", record=out / "record")


def test_smoke_and_full_train_every_judge_and_a_budget_refuses_an_unknown_one():
    from mtrl_judge.errors import JudgeError
    from mtrl_judge.reproduce.budgets import Budget

    assert BUDGETS["smoke"].methods == BUDGETS["full"].methods == tuple(METHODS[1:])
    with pytest.raises(JudgeError, match="methods must be some of"):
        Budget(name="x", methods=("sft-unified", "rl-unified"))


def test_the_report_names_the_base_it_started_from():
    from mtrl_judge.reproduce.pipeline import COMMITTED_BASES, _base_text, committed_base_name

    for name in ("demo", "full"):
        assert (COMMITTED_BASES / committed_base_name(BUDGETS[name]) / "config.json").is_file()
        assert _base_text(BUDGETS[name], None).startswith(f"`models/{BUDGETS[name].base}`")
    assert _base_text(BUDGETS["demo"], "/data/my-base").startswith("`/data/my-base`")
    assert _base_text(BUDGETS["smoke"], None) == "the `tiny` Qwen3-VL preset, pretrained here for 4 steps"


def test_the_recipes_and_the_budgets_start_from_the_one_default_base():
    from mtrl_judge.recipes import recipe_file
    from mtrl_judge.reproduce.budgets import DEFAULT_BASE
    from mtrl_judge.train.config import load_recipe

    assert BUDGETS["demo"].base == BUDGETS["full"].base == DEFAULT_BASE
    for method in TRAINED_METHODS:
        assert load_recipe(recipe_file(f"cpu/{method}.yaml"), []).judge.model == f"models/{DEFAULT_BASE}", method


def test_a_budget_without_some_judges_leaves_their_rows_out_of_the_report(tmp_path):
    import dataclasses

    from mtrl_judge.reproduce.pipeline import _training_text
    from mtrl_judge.reproduce.report import write_report

    results = {m: row for m, row in _synthetic_results().items() if m in ("off-the-shelf", "mt-rl-judge")}
    text = write_report(tmp_path, results, {}, header="# synthetic", notes=[]).read_text()
    assert "| MT-RL-Judge |" in text and "| Off-the-shelf |" in text
    assert "| SFT-Single |" not in text and "| SFT-Unified |" not in text and "| RL-Single |" not in text
    budget = dataclasses.replace(BUDGETS["full"], methods=("sft-unified", "mt-rl-judge"))
    sentence = _training_text(budget)
    assert sentence.startswith("Steps: SFT-Unified 1500, MT-RL-Judge 900 (not trained at this budget: SFT-Single, RL-Single")
    assert "GRPO step" in sentence and "GRPO step" not in _training_text(dataclasses.replace(budget, methods=("sft-single",)))


def test_the_report_shows_what_each_judge_misses_by_cause(tmp_path):
    from mtrl_judge.reproduce.report import CAUSE_COLUMNS, write_report

    results = _synthetic_results()
    assert "by_cause" not in results["mt-rl-judge"]["seetrue"]
    text = write_report(tmp_path, results, {}, header="# synthetic", notes=[]).read_text()
    assert "What each judge misses" not in text  # rows that do not say their cause: no table
    causes = {f"c{i}": {"n": 100 - i, "accuracy": i / 10} for i in range(CAUSE_COLUMNS + 2)}
    results["mt-rl-judge"]["seetrue"]["by_cause"] = causes
    results["sft-unified"]["seetrue"]["by_cause"] = {"c1": {"n": 99, "accuracy": 0.25, "roc_auc": 0.5}}
    text = write_report(tmp_path, results, {}, header="# synthetic", notes=[]).read_text()
    table = text[text.index("What each judge misses"):].split("**SeeTRUE**")[1].split("\n\n")[1].splitlines()
    assert table[0] == "| Method | " + " | ".join(f"c{i} ({100 - i})" for i in range(CAUSE_COLUMNS)) + " |"
    assert "| MT-RL-Judge | 0 | 10 | 20 | 30 | 40 | 50 |" in table
    assert "| SFT-Unified | n/a | 25 (0.50) | n/a | n/a | n/a | n/a |" in table
    assert "**AGIN-Nat**" not in text


@pytest.mark.parametrize("budget", ["smoke", "demo", "full"])
def test_training_stages_get_the_budgets_batch_and_grpo_settings(tmp_path, budget, monkeypatch):
    """A budget, not the recipe, sets each stage's batch and GRPO settings: its report stays reproducible when the
    recipes' defaults move."""
    import mtrl_judge.train.run as train_run

    trained = {}
    monkeypatch.setattr(train_run, "train", lambda recipe, resume: trained.setdefault(recipe.judge.method, recipe.trl))
    b = BUDGETS[budget]
    stages, _ = plan(tmp_path, b, seed=0, device="cpu")
    by_name = {s.name: s for s in stages.stages}
    by_name["train sft-unified"].run()
    by_name["train mt-rl-judge"].run()
    sft, grpo = trained["sft"], trained["grpo"]
    assert sft.per_device_train_batch_size == b.per_device_train_batch_size
    assert grpo.per_device_train_batch_size == b.grpo_prompts_per_step * b.num_generations
    assert grpo.num_generations == b.num_generations and grpo.learning_rate == b.grpo_learning_rate
    assert grpo.beta == b.grpo_beta


@pytest.mark.slow  # the smoke run takes minutes; the plan test above covers its wiring by default
def test_report_has_the_papers_tables(smoke):
    out, report = smoke
    text = report.read_text()
    assert "## Table 2" in text and "## Table 3" in text
    for name in ("Off-the-shelf", "SFT-Single", "SFT-Unified", "RL-Single", "MT-RL-Judge"):
        assert f"| {name} |" in text
    assert "(83.67)" in text and "(82.23)" in text  # the paper's numbers beside ours
    for png in ("bars.png", "curves.png", "calibration.png"):
        assert (out / png).stat().st_size > 1000
    groups = text.split("## GRPO groups")[1].split("##")[0]  # every GRPO run, the single-task ones too, no SFT run
    assert "| mt-rl-judge |" in groups and "| rl-single-seetrue |" in groups and "sft-" not in groups


@pytest.mark.slow  # the smoke run takes minutes; the plan test above covers its wiring by default
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


@pytest.mark.slow  # the smoke run takes minutes; the plan test above covers its wiring by default
def test_rerun_skips_finished_stages(smoke, caplog):
    out, _ = smoke
    stages, _ = plan(out, BUDGETS["smoke"], seed=0)
    assert all(stage.done() for stage in stages.stages)
    with caplog.at_level(logging.INFO, logger="mtrl_judge.reproduce.pipeline"):
        reproduce(out, BUDGETS["smoke"], seed=0)
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == len(stages.stages)


@pytest.mark.slow  # the smoke run takes minutes; the plan test above covers its wiring by default
def test_a_missing_stage_output_is_redone(smoke):
    import shutil

    out, _ = smoke
    shutil.rmtree(out / "eval" / "sft-unified")
    stages, _ = plan(out, BUDGETS["smoke"], seed=0)
    assert [s.name for s in stages.stages if not s.done()] == ["eval sft-unified"]
    reproduce(out, BUDGETS["smoke"], seed=0)
    assert (out / "eval" / "sft-unified" / "results.json").is_file()


def test_findings_name_constant_and_unparseable_judges():
    from mtrl_judge.reproduce.pipeline import degenerate_judges
    from mtrl_judge.reproduce.report import answer_shares

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


def _cell(macro_f1, low, high, baseline=0.35, answers=None, choices=("yes", "no")):
    """A task's metrics as evaluate() reports them, enough for the report."""
    answers = answers or {c: 40 for c in choices}
    return {"macro_f1": macro_f1, "macro_f1/ci95_low": low, "macro_f1/ci95_high": high, "baseline/majority_macro_f1": baseline,
            "accuracy": macro_f1, "position_consistency": 0.5, "accuracy/ties_wrong": 0.3, "accuracy/no_ties": 0.6,
            "confusion": {choices[0]: {**answers, "invalid": 0}, choices[1]: {c: 0 for c in [*choices, "invalid"]}},
            "scores/spearman": 0.1, "scores/roc_auc": 0.6,
            "scores/calibration_bins": [{"lo": i / 10, "hi": (i + 1) / 10, "count": i, "mean_prob": i / 10 + 0.05, "rate": 0.5}
                                        for i in range(10)]}


def _synthetic_results():
    from mtrl_judge.tasks import HELDOUT_TASKS, PAPER_TASKS

    results = {m: {t: _cell(0.40, 0.36, 0.44) for t in PAPER_TASKS} for m in METHODS}
    results["rl-single"] = {t: _cell(0.3996, 0.36, 0.44) for t in PAPER_TASKS}  # 0.06 points below MT-RL-Judge
    results["sft-single"] = {t: _cell(0.80, 0.76, 0.84) for t in PAPER_TASKS}
    results["off-the-shelf"]["seetrue"] = _cell(0.0, 0.0, 0.0, answers={"yes": 0, "no": 0})  # every verdict unparseable
    results["off-the-shelf"]["seetrue"]["confusion"]["yes"]["invalid"] = 80
    results["rl-single"]["agin-nat"] = _cell(0.35, 0.33, 0.37, answers={"yes": 80, "no": 0})  # one constant answer
    for m in ("off-the-shelf", "sft-unified", "mt-rl-judge"):
        for t in HELDOUT_TASKS:
            results[m][t] = _cell(0.5, 0.45, 0.55, baseline=1 / 3, choices=("1", "2"))
    return results


def test_ordering_is_claimed_only_beyond_the_intervals():
    from mtrl_judge.reproduce.report import Estimate, mean_estimate, ordering, paper_claim

    a, b = Estimate(0.4002, 0.36, 0.44), Estimate(0.3996, 0.36, 0.44)
    assert ordering(a, b) == "within" and paper_claim(a, b, 80.0, 70.0, None) == ("within", "within")
    high = Estimate(0.80, 0.76, 0.84)
    assert ordering(high, a) == "above" and ordering(a, high) == "below"
    assert paper_claim(high, a, 80.0, 78.0, 0.35) == ("above", "agrees")
    assert paper_claim(a, high, 80.0, 78.0, 0.35) == ("below", "disagrees")
    # beyond the intervals, but the better one is no better than always answering the majority label
    assert paper_claim(a, Estimate(0.2, 0.18, 0.22), 80.0, 70.0, 0.38) == ("above", "baseline")
    # the paper's own numbers less than a point apart: no ordering there to agree with
    assert paper_claim(high, a, 79.74, 79.91, 0.35) == ("above", "paper level")
    # the mean's half-width: root of the summed squared half-widths over the number of tasks
    mean = mean_estimate([Estimate(0.5, 0.47, 0.53), Estimate(0.7, 0.66, 0.74)])
    assert mean.value == pytest.approx(0.6) and mean.half_width == pytest.approx((0.03**2 + 0.04**2) ** 0.5 / 2)
    assert mean_estimate([Estimate(0.5, 0.5, 0.5), None]) is None


def test_findings_refuse_to_order_within_the_intervals_and_flag_degenerate_judges():
    from mtrl_judge.reproduce.pipeline import findings

    notes = findings(_synthetic_results())
    rl = next(n for n in notes if "RL-Single" in n and "mean pointwise" in n)
    assert rl.startswith("MT-RL-Judge and RL-Single do not differ beyond the 95% intervals") and "no ordering is claimed" in rl
    assert "1 of RL-Single's 6 cells are a constant answer" in rl
    sft = next(n for n in notes if "SFT-Single" in n and "mean pointwise" in n)
    assert "MT-RL-Judge is below SFT-Single beyond the 95% intervals" in sft and "disagrees with the paper's table" in sft
    assert any("RL-Single on AGIN-Nat. ('yes')" in n for n in notes)
    assert any("Mostly unparseable" in n and "Off-the-shelf on SeeTRUE (100%)" in n for n in notes)


def test_report_renders_intervals_baseline_checkpoints_and_charts(tmp_path):
    import json as json_

    from mtrl_judge.reproduce.pipeline import findings
    from mtrl_judge.reproduce.report import write_report

    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json_.dumps(r) + "\n" for r in [
        {"step": 1, "reward": 0.5, "frac_reward_zero_std": 0.2}, {"step": 2, "reward": 0.6, "frac_reward_zero_std": 0.9},
        {"step": 2, "val/mean_macro_f1": 0.41}]))
    checkpoints = {
        "mt-rl-judge": {"checkpoint": "best", "step": 150, "last_step": 250, "val_rows": {"seetrue": 48.0, "agin-nat": 48.0},
                        "val_mean_macro_f1": 0.397},
        "rl-single-seetrue": {"checkpoint": "final", "step": 50, "last_step": 50, "val_rows": {}, "val_mean_macro_f1": None},
    }
    results = _synthetic_results()
    text = write_report(tmp_path, results, {"mt-rl-judge": metrics}, header="# synthetic", notes=findings(results),
                        checkpoints=checkpoints, grpo_runs={"mt-rl-judge": metrics}).read_text()
    assert "| mt-rl-judge | 2 | n/a | 0.20 -> 0.90 | n/a |" in text
    assert "| MT-RL-Judge | 40.00 ± 4.0 (81.63) |" in text
    assert "| RL-Single | 35.00 ± 2.0† (80.50) |" in text and "| Off-the-shelf | 40.00 ± 4.0 (67.99) | 40.00 ± 4.0 (63.24) | " \
           "40.00 ± 4.0 (64.77) | 0.00‡ (80.01) |" in text
    assert "| *Majority answer* | 35.00 | 35.00 |" in text and "| *Majority answer* | 33.33 | 33.33 | 33.33 |" in text
    assert ("| mt-rl-judge | best, step 150 of 250 | best validation mean macro-F1 (39.7) on 2 task(s) x 48 validation rows |"
            in text)
    assert "| rl-single-seetrue | final, step 50 of 50 | no validation checkpoint: the final weights |" in text
    assert "do not differ beyond the 95% intervals" in text
    for png in ("bars.png", "curves.png", "calibration.png"):
        assert (tmp_path / png).stat().st_size > 1000


def test_report_tables_every_grpo_runs_groups_first_and_last(tmp_path):
    """The single-task GRPO runs are not in the curves chart; the groups table gives each run's learning signal at its
    start and end, so a run whose groups went flat reads as such."""
    import json as json_

    from mtrl_judge.reproduce.report import grpo_groups_table

    def log(path, rows):
        path.write_text("".join(json_.dumps(r) + "\n" for r in rows))
        return path

    flat = log(tmp_path / "flat.jsonl", [
        {"step": s, "frac_reward_zero_std": 0.2 if s <= 2 else 1.0, "dynamic_sampling/kept_frac": 0.8 if s <= 2 else 0.0,
         "rewards/accuracy/mean": 0.5} for s in range(1, 21)] + [{"step": 20, "val/mean_macro_f1": 0.3}])
    plain = log(tmp_path / "plain.jsonl", [{"step": 1, "frac_reward_zero_std": 0.5, "rewards/accuracy/mean": None},
                                           {"step": 2, "frac_reward_zero_std": 0.25}])
    lines = grpo_groups_table({"rl-single-seetrue": flat, "mt-rl-judge": plain, "missing": tmp_path / "none.jsonl"})
    assert lines[0].startswith("| Run | Steps | mixed groups")
    assert lines[2] == "| rl-single-seetrue | 20 | 0.80 -> 0.00 | 0.20 -> 1.00 | 0.50 -> 0.50 |"
    assert lines[3] == "| mt-rl-judge | 2 | n/a | 0.50 -> 0.25 | n/a |"  # no dynamic sampling; accuracy never logged
    assert len(lines) == 4 and grpo_groups_table({}) == []


def test_wall_time_keeps_the_recorded_times_of_skipped_stages():
    from mtrl_judge.reproduce.pipeline import _wall_time_text

    text = _wall_time_text({"world": 60.0, "train a": 540.0}, ["world", "train a"], this_run=0.5)
    assert text.startswith("Wall time: 10.0 min, the sum of the stages' recorded times (this run: 0.0 min)")
    assert "1 stage(s) finished before times were recorded" in _wall_time_text({"world": 60.0}, ["world", "eval b"], 0.0)
    assert _wall_time_text({}, ["world", "eval b"], 6.0).startswith("Wall time: not recorded")


@pytest.mark.slow  # needs the smoke run; test_wall_time_keeps_the_recorded_times_of_skipped_stages covers the sum by default
def test_rerun_report_keeps_the_wall_time(smoke):
    out, report = smoke
    times = json.loads((out / "stage_times.json").read_text())
    stages, _ = plan(out, BUDGETS["smoke"], seed=0)
    assert set(times) == {s.name for s in stages.stages} and all(v > 0 for v in times.values())
    assert f"Wall time: {sum(times.values()) / 60:.1f} min" in report.read_text()


def test_checkpoint_info_reads_the_best_checkpoints_step_and_validation(tmp_path):
    from mtrl_judge.reproduce.pipeline import checkpoint_info

    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    (run / "best" / "config.json").write_text("{}")
    (run / "best" / "score.json").write_text(json.dumps({"step": 100, "val/seetrue/n": 48.0, "val/seetrue/macro_f1": 0.6,
                                                         "val/mean_macro_f1": 0.6}))
    (run / "metrics.jsonl").write_text('{"step": 100}\n{"step": 250}\n')
    assert checkpoint_info(run) == {"checkpoint": "best", "step": 100, "last_step": 250, "val_rows": {"seetrue": 48.0},
                                    "val_mean_macro_f1": 0.6}
    (run / "best" / "config.json").unlink()
    assert checkpoint_info(run)["checkpoint"] == "final" and checkpoint_info(run)["step"] == 250
