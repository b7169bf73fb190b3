"""Benchmarks the base's story rests on: the base probe decides whether a base ships (docs/base.md), by its gate and its
reading of presence questions; chain_learnability --save makes a base folder that `pretrain --init` continues."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

from mtrl_judge.backbone import load_backbone
from mtrl_judge.pretrain.corpus import QUESTION_KINDS, examples


def _load(name: str):
    """A benchmark script as a module (benchmarks/ is a folder of scripts, not a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


base_probe = _load("base_probe")


def test_the_gate_takes_each_kinds_better_style_and_needs_every_gated_kind():
    passing = {k: {"reason": 0.2, "direct": bar} for k, bar in base_probe.GATE.items()}
    gate = base_probe.gate_of(passing | {"shape": {"reason": 0.0, "direct": 0.0}})  # ungated kinds do not count
    assert set(gate) == set(base_probe.GATE)
    assert base_probe.gate_passed(gate)
    # one kind a hair under its bar in both styles fails the gate
    short = passing | {"symbol": {"reason": 0.89, "direct": 0.5}}
    assert not base_probe.gate_passed(base_probe.gate_of(short))
    assert base_probe.gate_of(short)["symbol"] == {"best": 0.89, "needs": 0.9, "passed": False}
    # a probe that asked only some kinds never passes, however well they were answered
    some = {k: {"reason": 1.0} for k in ("count", "exists")}
    assert set(base_probe.gate_of(some)) == {"count", "exists"}
    assert not base_probe.gate_passed(base_probe.gate_of(some))


def test_presence_questions_are_sorted_by_what_makes_them_false():
    weights = {k: int(k == "exists") for k in QUESTION_KINDS}
    cases = {}
    for ex, _ in examples(240, seed=7, curriculum=False, weights=weights):
        case = base_probe.exists_case(ex)
        colour = re.fullmatch(r"Is there an? (\w+) \w+ in the image\?", ex.question)[1]
        described = base_probe._description(ex.reasoning)
        # read independently of exists_case: a false question whose colour is nowhere in the scene's description
        # is rejected by the colour alone
        colour_seen = re.search(rf"\b{colour}\b", described) is not None
        expected = "present" if ex.answer == "yes" else ("other shape" if colour_seen else "other colour")
        assert case == expected, (ex.question, described)
        cases[case] = cases.get(case, 0) + 1
    assert set(cases) == set(base_probe.EXISTS_CASES), cases  # the corpus asks all three


def test_exists_case_refuses_a_question_that_is_not_a_presence_question():
    count = next(ex for ex, _ in examples(40, seed=7, curriculum=False) if ex.kind == "count")
    with pytest.raises(ValueError, match="not a presence question"):
        base_probe.exists_case(dataclasses.replace(count, answer="no"))


def test_probe_reports_every_asked_kind_and_style_on_a_tiny_base(tiny_model_dir):
    result = base_probe.probe(str(tiny_model_dir), n=8, seed=3, batch_size=8, kinds=("exists", "count"))
    assert set(result["kinds"]) == {"exists", "count"}
    assert all(set(cells) == {"reason", "direct"} and all(0 <= v <= 1 for v in cells.values())
               for cells in result["kinds"].values())
    assert set(result["gate"]) == {"exists", "count"} and result["gate_passed"] is False
    assert set(result["yes_share"]) == {"exists"}


def test_chain_learnability_saves_its_fine_tuned_copy_as_a_base_that_loads(tiny_model_dir, tmp_path):
    chain = _load("chain_learnability")
    result = chain.run("scan", str(tiny_model_dir), steps=2, batch_size=2, lr=5e-4, n_eval=4, seed=0,
                       save=str(tmp_path / "text-copy"))
    assert result["steps"] == 2 and 0 <= result["after"]["accuracy"] <= 1
    record = json.loads((tmp_path / "text-copy" / "pretrain.json").read_text())
    assert record["init"]["model"] == str(tiny_model_dir)  # the lineage `pretrain --init` continues
    assert record["text_only"] == {"kind": "exists", "format": "scan", "steps": 2, "batch_size": 2, "learning_rate": 5e-4}
    model, _ = load_backbone(tmp_path / "text-copy", device="cpu")
    original, _ = load_backbone(tiny_model_dir, device="cpu")
    changed = [n for (n, p), (_, q) in zip(model.named_parameters(), original.named_parameters(), strict=True)
               if not torch.equal(p, q)]
    assert changed, "two optimiser steps changed no weight: the saved copy is not the fine-tuned one"
