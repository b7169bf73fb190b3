"""--device / --dtype: one resolver (mtrl_judge/devices.py) for the CLI, Judge, the service and reproduce.

CPU-only and fast; a GPU is imitated by patching torch.cuda where a rule depends on one.
tests/test_gpu.py runs the real thing on CUDA."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from PIL import Image

from mtrl_judge import Judge, JudgeError
from mtrl_judge.cli import main
from mtrl_judge.devices import resolve_device, resolve_device_and_dtype, resolve_dtype
from mtrl_judge.reproduce.pipeline import training_overrides

CPU = torch.device("cpu")
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the errors of a machine without CUDA")


@pytest.fixture()
def fake_gpus(monkeypatch):
    """Pretend torch sees `count` GPUs of compute capability `major`.0 (nothing is allocated)."""

    def install(count: int = 1, major: int = 9):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, 0))
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: f"fake sm_{major}0")
        monkeypatch.setattr(torch.version, "hip", None)

    return install


def test_auto_is_cuda_in_bfloat16_when_there_is_a_gpu_else_cpu_in_float32():
    device, dtype = resolve_device_and_dtype("auto", "auto")
    if torch.cuda.is_available():
        assert device.type == "cuda"
    else:
        assert (device, dtype) == (CPU, torch.float32)
    assert resolve_device_and_dtype(None, None) == (device, dtype)


def test_auto_with_a_gpu(fake_gpus):
    fake_gpus(count=2, major=9)
    assert resolve_device_and_dtype("auto", "auto") == (torch.device("cuda", 0), torch.bfloat16)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("CUDA:1") == torch.device("cuda", 1)
    assert resolve_dtype("float16", torch.device("cuda", 1)) == torch.float16


def test_auto_avoids_emulated_bfloat16_on_old_gpus(fake_gpus, caplog):
    fake_gpus(count=1, major=7)  # Volta/Turing: no bfloat16 in hardware
    assert resolve_dtype("auto", torch.device("cuda", 0)) == torch.float32
    assert resolve_dtype("bfloat16", torch.device("cuda", 0)) == torch.bfloat16  # asked for: allowed, with a warning
    assert "no native bfloat16" in caplog.text


def test_a_gpu_index_that_is_not_there(fake_gpus):
    fake_gpus(count=1)
    with pytest.raises(JudgeError, match=r"device 'cuda:3': no such GPU; 1 CUDA device\(s\) visible \(cuda:0\)"):
        resolve_device("cuda:3")


@NO_CUDA
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3", torch.device("cuda", 0)])
def test_cuda_without_cuda_is_one_clear_error(device):
    with pytest.raises(JudgeError) as info:
        resolve_device(device)
    message = str(info.value)
    assert "CUDA is not available" in message and "use 'cpu' or 'auto'" in message and "\n" not in message


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:-1", "cuda:x", "mps", "", "cpu:0 ", 0])
def test_garbage_devices_are_refused_naming_the_choices(device):
    with pytest.raises(JudgeError, match="device .*expected one of auto, cpu, cuda, cuda:N|device must be a string"):
        resolve_device(device)


def test_dtypes_on_the_cpu():
    assert resolve_dtype("auto", CPU) == torch.float32
    assert resolve_dtype("float32", CPU) == torch.float32
    assert resolve_dtype(torch.float32, CPU) == torch.float32
    assert resolve_dtype("bfloat16", CPU) == torch.bfloat16  # allowed: halves memory; fast only on CPUs with bf16 instructions
    with pytest.raises(JudgeError, match="dtype 'float16' is not supported on the CPU"):
        resolve_dtype("float16", CPU)
    for bad in ("fp32", "half", "int8", torch.int8, 3):
        with pytest.raises(JudgeError, match="expected one of auto, float32, bfloat16, float16"):
            resolve_dtype(bad, CPU)


def test_error_messages_name_the_option():
    with pytest.raises(JudgeError, match="^--device 'nope' is not a device"):
        resolve_device_and_dtype("nope", "auto", options=("--device", "--dtype"))
    with pytest.raises(JudgeError, match="^--dtype 'float16' is not supported on the CPU"):
        resolve_device_and_dtype("cpu", "float16", options=("--device", "--dtype"))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_judge_loads_on_the_cpu_in_the_given_dtype_and_judges(tiny_model_dir, dtype):
    judge = Judge.from_pretrained(tiny_model_dir, device="cpu", dtype=dtype, max_new_tokens=6)
    assert judge.device == CPU and judge.model.dtype == getattr(torch, dtype)
    verdict = judge.judge(images=[Image.new("RGB", (64, 64), "red")], text="a red square", task="seetrue")
    assert verdict.task == "seetrue" and verdict.score is not None and 0.0 <= verdict.score <= 1.0


def test_judge_default_is_auto(tiny_judge):
    expected = resolve_device_and_dtype("auto", "auto")
    assert (tiny_judge.device, tiny_judge.model.dtype) == expected


def test_judge_refuses_a_missing_gpu_before_loading(tmp_path):
    # the folder does not exist: the device error must come first, without touching it
    with pytest.raises(JudgeError, match="device 'cuda:99'"):
        Judge.from_pretrained(tmp_path / "absent", device="cuda:99")


@pytest.mark.parametrize(
    "command, placement, message",
    [
        (["judge", "--task", "agin-tech", "--image", "{red}"], ["--device", "cuda:99"], "--device 'cuda:99'"),
        (["judge", "--task", "agin-tech", "--image", "{red}"], ["--device", "tpu"], "--device 'tpu' is not a device"),
        (["judge", "--task", "agin-tech", "--image", "{red}"], ["--device", "cpu", "--dtype", "float16"],
         "--dtype 'float16' is not supported on the CPU"),
        (["judge", "--task", "agin-tech", "--image", "{red}"], ["--dtype", "fp8"], "--dtype 'fp8' is not a dtype"),
        (["rank", "--task", "agin-tech", "--image", "{red}"], ["--device", "cuda:99"], "--device 'cuda:99'"),
        (["eval", "--data", "{tmp}", "--out", "{tmp}/out"], ["--device", "cuda:99"], "--device 'cuda:99'"),
        (["serve"], ["--device", "cuda:99"], "--device 'cuda:99'"),
    ],
)
def test_cli_placement_errors_are_one_line(tiny_model_dir, image_files, tmp_path, capsys, command, placement, message):
    argv = [a.format(red=image_files["red"], tmp=tmp_path) for a in command] + ["--model", str(tiny_model_dir), *placement]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mtrl-judge: error: {message}") and len(err.splitlines()) == 1, err


def test_cli_reproduce_refuses_a_missing_gpu_before_any_stage(tmp_path, capsys):
    assert main(["reproduce", "--out", str(tmp_path / "rep"), "--budget", "smoke", "--device", "cuda:99"]) == 2
    assert "--device 'cuda:99'" in capsys.readouterr().err
    assert not (tmp_path / "rep").exists()


def test_cli_device_error_has_no_traceback(tiny_model_dir, image_files):
    result = subprocess.run(
        [sys.executable, "-m", "mtrl_judge.cli", "judge", "--model", str(tiny_model_dir), "--task", "agin-tech",
         "--image", str(image_files["red"]), "--device", "cuda:99"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("mtrl-judge: error: --device 'cuda:99'")


def test_reproduce_puts_training_on_the_chosen_device(fake_gpus):
    assert training_overrides(CPU, torch.float32) == ["--use_cpu", "true", "--bf16", "false", "--fp16", "false",
                                                      "--gradient_checkpointing", "false"]
    fake_gpus(count=2)
    expected = ["--use_cpu", "false", "--bf16", "true", "--fp16", "false"]
    assert training_overrides(torch.device("cuda", 0), torch.bfloat16) == expected
    assert training_overrides(torch.device("cuda", 0), torch.float16)[-1] == "true"
    with pytest.raises(JudgeError, match="CUDA_VISIBLE_DEVICES=1"):
        training_overrides(torch.device("cuda", 1), torch.bfloat16)
