"""Where a model runs and in which precision: one place that resolves and checks `device` and `dtype`.

Every loader goes through `resolve_device` and `resolve_dtype` (the CLI's `--device` / `--dtype`,
`Judge.from_pretrained(device=..., dtype=...)`, the service, evaluation and `reproduce`), so the
rules and the error messages are the same everywhere:

    device  auto      CUDA (the current GPU) when torch sees one, else the CPU
            cpu       the CPU
            cuda      the current CUDA GPU (cuda:0 unless torch.cuda.set_device chose another)
            cuda:N    GPU N; N must be below torch.cuda.device_count()
    dtype   auto      bfloat16 on a GPU that supports it natively, else float32
            float32   always allowed
            bfloat16  allowed on CPU and GPU (on CPU it halves memory; it is only fast where the
                      processor has bfloat16 instructions)
            float16   GPU only: refused on CPU, where half-precision kernels are missing or slow

A device that is not there (cuda on a machine without CUDA, cuda:3 with one GPU) or a value that
is none of the above raises JudgeError with one line naming the option, before any model loads.
"""

from __future__ import annotations

import logging
import re

import torch

from .errors import JudgeError

logger = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

_CUDA_INDEX = re.compile(r"cuda:(\d+)")


def _no_cuda_reason() -> str:
    """Why torch sees no GPU, in a few words, for the error message."""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    return "no CUDA GPU is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)"


def _bf16_native(device: torch.device) -> bool:
    """True when the GPU does bfloat16 in hardware (NVIDIA compute capability 8.0, Ampere, and
    newer; ROCm GPUs). Older GPUs would emulate it slowly, so `auto` does not pick it there."""
    if torch.version.hip is not None:
        return True
    return torch.cuda.get_device_capability(device)[0] >= 8


def resolve_device(device: str | torch.device | None = "auto", *, option: str = "device") -> torch.device:
    """The torch.device that `device` names, checked against this machine.

    `option` is the name used in error messages ("device" in Python, "--device" on the CLI)."""
    if isinstance(device, torch.device):
        device = str(device)
    if device is None:
        device = "auto"
    if not isinstance(device, str):
        raise JudgeError(f"{option} must be a string such as 'auto', 'cpu', 'cuda' or 'cuda:0', got {type(device).__name__}")
    name = device.strip().lower()
    if name == "auto":
        # torch.cuda.current_device() initialises CUDA; only ask when there is one.
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    match = _CUDA_INDEX.fullmatch(name)
    if name != "cuda" and match is None:
        raise JudgeError(f"{option} {device!r} is not a device; expected one of {', '.join(DEVICE_CHOICES)}")
    if not torch.cuda.is_available():
        raise JudgeError(f"{option} {device!r}: CUDA is not available ({_no_cuda_reason()}); use 'cpu' or 'auto'")
    if match is None:
        return torch.device("cuda", torch.cuda.current_device())
    index, count = int(match.group(1)), torch.cuda.device_count()
    if index >= count:
        visible = ", ".join(f"cuda:{i}" for i in range(count))
        raise JudgeError(f"{option} {device!r}: no such GPU; {count} CUDA device(s) visible ({visible})")
    return torch.device("cuda", index)


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device, *, option: str = "dtype") -> torch.dtype:
    """The torch.dtype that `dtype` names for a model on `device` (already resolved)."""
    if isinstance(dtype, torch.dtype):
        names = {v: k for k, v in DTYPES.items()}
        if dtype not in names:
            raise JudgeError(f"{option} {dtype} is not supported; expected one of {', '.join(DTYPE_CHOICES)}")
        dtype = names[dtype]
    if dtype is None:
        dtype = "auto"
    if not isinstance(dtype, str) or dtype.strip().lower() not in (*DTYPES, "auto"):
        raise JudgeError(f"{option} {dtype!r} is not a dtype; expected one of {', '.join(DTYPE_CHOICES)}")
    name = dtype.strip().lower()
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if _bf16_native(device) else torch.float32
        return torch.float32
    if name == "float16" and device.type == "cpu":
        raise JudgeError(f"{option} 'float16' is not supported on the CPU (half-precision CPU kernels are missing or slow); "
                         "use float32 or bfloat16 there, float16 on a GPU")
    if name == "bfloat16" and device.type == "cuda" and not _bf16_native(device):
        logger.warning("%s bfloat16: %s has no native bfloat16 support; it will be emulated and slow "
                       "(float16 or float32 are faster there)", option, torch.cuda.get_device_name(device))
    return DTYPES[name]


def resolve_device_and_dtype(
    device: str | torch.device | None = "auto",
    dtype: str | torch.dtype | None = "auto",
    *,
    options: tuple[str, str] = ("device", "dtype"),
) -> tuple[torch.device, torch.dtype]:
    """(device, dtype) checked together: the dtype's rules depend on the device."""
    resolved = resolve_device(device, option=options[0])
    return resolved, resolve_dtype(dtype, resolved, option=options[1])


def dtype_name(dtype: torch.dtype) -> str:
    """'bfloat16' for torch.bfloat16: the name the CLI and the recipes use."""
    return str(dtype).removeprefix("torch.")
