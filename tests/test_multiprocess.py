"""Several processes: the recipes train unchanged under `torchrun` and `accelerate launch`, here with two CPU
processes (gloo) on the tiny backbone. Both processes train (the main process records the world size, and each
process writes its own rng_state_N.pth into every checkpoint); metrics.jsonl has one line per step, written by
the main process only; validation, best/ and final/ are done once; a killed run continues with --resume."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mtrl_judge.recipes import recipe_file
from mtrl_judge.train.callbacks import BEST_DIR, FINAL_DIR, METRICS_FILE, SCORE_FILE

REPO = Path(__file__).parents[1]
ACCELERATE_CPU = recipe_file("accelerate/cpu-2proc.yaml")
STEPS = 4


def _launch(launcher: str, recipe: Path, *extra: str) -> str:
    """Run `mtrl-judge train RECIPE EXTRA` in two processes; returns their (shared) stderr."""
    if launcher == "torchrun":  # --standalone: a free port, never a clash with another run on the machine
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    else:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ACCELERATE_CPU)]
    cmd += ["-m", "mtrl_judge.cli", "train", str(recipe), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread per process: two processes share two cores
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc.stderr


def _recipe(tmp_path: Path, model: Path, data: Path, method: str) -> Path:
    fields = {
        "method": method, "model": str(model), "data": str(data), "tasks": ["seetrue", "agin-tech"],
        "output_dir": str(tmp_path / "run"), "max_steps": STEPS, "learning_rate": 1e-2, "val_every": 1,
        "val_max_examples": 2, "val_max_new_tokens": 4, "save_steps": 2, "report_to": "none", "disable_tqdm": True,
        "use_cpu": True, "bf16": False, "activation_checkpointing": False, "logging_steps": 1,
        "keep_checkpoints": True,  # the kill below is simulated on a finished run: its checkpoints must keep their states
    }  # fmt: skip
    if method == "grpo":
        # 4 completions per process = one group of 4 each; dynamic sampling decides from rewards gathered across
        # both processes, so this also checks that both leave its loop after the same round.
        # beta as the CPU recipes: a reference model in every process.
        fields.update(per_device_train_batch_size=4, num_generations=4, max_completion_length=4,
                      dynamic_sampling=True, dynamic_sampling_max_tries=2, beta=0.04)
    else:
        fields.update(per_device_train_batch_size=2)
    path = tmp_path / "recipe.yaml"
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in fields.items()))
    return path


def _check_run(out: Path, stderr: str) -> list[dict]:
    # Both processes ran: the main process saw a world of 2, and each process saved its own rng state.
    assert yaml.safe_load((out / "recipe.yaml").read_text())["processes"] == 2
    assert "process 0 of 2 (gloo) ready" in stderr and "process 1 of 2 (gloo) ready" in stderr, stderr[-3000:]
    for step in (2, STEPS):
        assert {p.name for p in (out / f"checkpoint-{step}").glob("rng_state_*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}
    # Written once, by the main process: one training line and one validation per step, not one per process.
    rows = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, STEPS + 1))
    assert [r["step"] for r in rows if "val/mean_macro_f1" in r] == list(range(1, STEPS + 1))
    assert sum("val/seetrue/macro_f1" in r for r in rows) == STEPS
    best = json.loads((out / BEST_DIR / SCORE_FILE).read_text())
    assert best["val/mean_macro_f1"] == max(r["val/mean_macro_f1"] for r in rows if "val/mean_macro_f1" in r)
    assert (out / BEST_DIR / "model.safetensors").is_file() and (out / FINAL_DIR / "model.safetensors").is_file()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "a temporary folder was left behind"
    assert stderr.count("step 3: validation mean macro-F1") == 1, "info lines come from the main process only"
    return rows


# GRPO under torchrun (the main job's trainer, the saves, validation and best checkpoint coordinated across ranks)
# runs by default; SFT and the accelerate launcher go through the same coordination code and take 35-50 s each.
@pytest.mark.parametrize("method, launcher", [
    pytest.param("sft", "torchrun", marks=pytest.mark.slow),
    ("grpo", "torchrun"),
    pytest.param("grpo", "accelerate", marks=pytest.mark.slow),
])
def test_two_processes_train_and_resume(tmp_path, tiny_model_dir, tiny_data_dir, method, launcher):
    recipe = _recipe(tmp_path, tiny_model_dir, tiny_data_dir, method)
    out = tmp_path / "run"
    rows = _check_run(out, _launch(launcher, recipe))
    if method == "sft":
        from safetensors.torch import load_file

        before = load_file(str(tiny_model_dir / "model.safetensors"))
        after = load_file(str(out / FINAL_DIR / "model.safetensors"))
        assert any(not (before[k] == after[k]).all() for k in before), "no parameter changed"
    if method == "grpo":
        assert all(r["dynamic_sampling/tries"] >= 1 for r in rows if "loss" in r)
        assert all(r["kl"] >= 0 for r in rows if "loss" in r)  # the KL to the reference was computed and logged

    # Killed after step 3: checkpoint-4 and final/ never written; metrics.jsonl holds lines of steps 3-4.
    shutil.rmtree(out / f"checkpoint-{STEPS}")
    shutil.rmtree(out / FINAL_DIR)
    stderr = _launch(launcher, recipe, "--resume")
    assert f"resumingfrom{out / 'checkpoint-2'}" in "".join(stderr.split()), stderr[-3000:]  # rich wraps long paths
    _check_run(out, stderr)  # steps 3-4 redone once, their old lines dropped
    state = json.loads((out / f"checkpoint-{STEPS}" / "trainer_state.json").read_text())
    assert state["global_step"] == STEPS


@pytest.mark.parametrize(
    "env, lone",
    [
        ({"ACCELERATE_USE_CPU": "True", "MASTER_PORT": "29500"}, True),  # accelerate launch --cpu --num_processes 2
        ({"ACCELERATE_USE_CPU": "True"}, False),  # accelerate launch --cpu (one process asked for)
        ({"ACCELERATE_USE_CPU": "True", "MASTER_PORT": "29500", "WORLD_SIZE": "2"}, False),  # a real process group
        ({"MASTER_PORT": "29500"}, False),
    ],
)
def test_accelerate_cpu_single_process_is_detected(monkeypatch, env, lone):
    from mtrl_judge.train.run import one_process_from_accelerate_cpu

    for name in ("ACCELERATE_USE_CPU", "MASTER_PORT", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert one_process_from_accelerate_cpu() is lone


@pytest.mark.parametrize(
    "env, fsdp, deepspeed, dropped",
    [
        ({"ACCELERATE_USE_FSDP": "true"}, False, False, "FSDP"),  # an FSDP config launched with use_cpu: DDP runs
        ({"ACCELERATE_USE_FSDP": "true"}, True, False, None),
        ({"ACCELERATE_USE_DEEPSPEED": "true"}, False, False, "DeepSpeed"),
        ({"ACCELERATE_USE_DEEPSPEED": "true"}, False, True, None),
        ({}, False, False, None),
    ],
)
def test_sharding_dropped_on_cpu_is_detected(monkeypatch, env, fsdp, deepspeed, dropped):
    from types import SimpleNamespace

    from mtrl_judge.train.run import sharding_not_applied

    for name in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert sharding_not_applied(SimpleNamespace(is_fsdp_enabled=fsdp, is_deepspeed_enabled=deepspeed)) == dropped
