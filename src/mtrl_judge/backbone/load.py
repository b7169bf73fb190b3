"""Load a vision-language model and its processor from a local folder.

One loader for everything: our locally built backbones, our trained judges, and any Hugging Face
image-text-to-text checkpoint a user has on disk (Qwen2.5-VL, Qwen3-VL, Qwen3-VL-MoE, ...).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, ProcessorMixin
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

from ..devices import resolve_device_and_dtype
from ..errors import JudgeError
from .processor import IMAGE_ONLY_PROCESSORS  # importing it registers JudgeProcessor with AutoProcessor

logger = logging.getLogger(__name__)

def check_model_dir(path: str | Path) -> dict:
    """Fail with one line unless `path` holds a vision-language model; returns its config.json."""
    path = Path(path)
    if not path.is_dir():
        raise JudgeError(f"{path}: model folder not found")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise JudgeError(f"{path}: not a model folder (no config.json)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise JudgeError(f"{config_file}: cannot read ({e})") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise JudgeError(
            f"{path}: not a vision-language model (model_type {model_type!r} has no image-text-to-text class in transformers)"
        )
    return config


def load_processor(path: str | Path, model_type: str | None = None) -> ProcessorMixin:
    """The folder's processor; for Qwen-VL checkpoints whose stock processor needs torchvision
    (absent on CPU machines here), the image-only twin built from the same files."""
    path = Path(path)
    try:
        processor = AutoProcessor.from_pretrained(path)
    except (OSError, ValueError, ImportError) as e:
        fallback = IMAGE_ONLY_PROCESSORS.get(model_type or "")
        if fallback is None:
            raise JudgeError(f"{path}: cannot load the processor ({str(e).splitlines()[0]})") from None
        logger.info("%s: stock processor unavailable (%s); using the image-only %s", path, str(e).splitlines()[0][:80],
                    fallback.__name__)
        try:
            processor = fallback.from_pretrained(path)
        except (OSError, ValueError, ImportError) as e2:
            raise JudgeError(f"{path}: cannot load the processor ({str(e2).splitlines()[0]})") from None
    if not isinstance(processor, ProcessorMixin) or getattr(processor, "image_processor", None) is None:
        raise JudgeError(f"{path}: the processor has no image processor (is processor_config.json missing?)")
    # Batched generation appends new tokens at the right end, so prompts are padded on the left.
    processor.tokenizer.padding_side = "left"
    return processor


def load_backbone(
    path: str | Path, *, dtype: str | torch.dtype = "float32", device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, ProcessorMixin]:
    """(model, processor) from a local folder, the model in eval mode on `device` in `dtype`.

    `device` and `dtype` follow mtrl_judge.devices ("auto", "cpu", "cuda", "cuda:N"; "auto",
    "float32", "bfloat16", "float16"). The defaults stay cpu/float32 because training calls this
    and leaves placement to TRL and accelerate (DeepSpeed ZeRO-3 shards the weights itself);
    `Judge.from_pretrained` defaults to "auto" instead.
    """
    # Checked before anything is read, so a wrong --device fails at once, not after a slow load.
    torch_device, torch_dtype = resolve_device_and_dtype(device, dtype)
    config = check_model_dir(path)
    processor = load_processor(path, config.get("model_type"))
    # On a GPU the weights go straight there (device_map), instead of first filling CPU memory:
    # a 30B checkpoint in bfloat16 is about 61 GB.
    device_map = str(torch_device) if torch_device.type == "cuda" else None
    try:
        model = AutoModelForImageTextToText.from_pretrained(Path(path), dtype=torch_dtype, device_map=device_map)
    except (OSError, ValueError) as e:
        raise JudgeError(f"{path}: cannot load the model ({str(e).splitlines()[0]})") from None
    if device_map is None:
        model.to(torch_device)
    model.eval()
    logger.debug("%s: loaded on %s in %s", path, torch_device, torch_dtype)
    return model, processor


def vision_tower(model: torch.nn.Module) -> torch.nn.Module:
    """The vision encoder of an image-text-to-text model: Qwen-VL's `visual` (with its patch mergers, so every visual
    token the language model reads), or a LLaVA-style `vision_tower` / `vision_model`, on the model or its `model`."""
    for owner in (getattr(model, "model", None), model):
        for name in ("visual", "vision_tower", "vision_model"):
            module = getattr(owner, name, None)
            if isinstance(module, torch.nn.Module):
                return module
    raise JudgeError(f"{type(model).__name__} has no vision tower under a known name (visual, vision_tower, vision_model)")
