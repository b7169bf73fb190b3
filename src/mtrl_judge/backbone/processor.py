"""Qwen-VL processors that need no torchvision.

transformers' Qwen2.5-VL and Qwen3-VL processors require a video processor, and the video
processor requires torchvision, whose PyPI build next to torch 2.13.0+cpu fails at import
("operator torchvision::nms does not exist"). The classes below are the same processors with images only.
`JudgeProcessor` is registered with AutoProcessor when `mtrl_judge.backbone` is imported (as `Judge`,
training and every loader do): without that,
`AutoProcessor.from_pretrained(dir)` on our backbones silently returns a bare tokenizer and
GRPOTrainer later fails with KeyError 'pixel_values'. Real checkpoints keep naming their stock
processor, which is used wherever it loads (machines with torchvision); elsewhere the loader falls
back to the image-only twin (`IMAGE_ONLY_PROCESSORS`).
"""

from __future__ import annotations

from transformers import AutoProcessor, Qwen3VLConfig, Qwen3VLMoeConfig
from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor
from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor


class JudgeProcessor(Qwen3VLProcessor):
    """Qwen3-VL processor for images (and text) only: image_processor + tokenizer."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor=image_processor, tokenizer=tokenizer, video_processor=None, chat_template=chat_template,
                         **kwargs)


class Qwen25JudgeProcessor(Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor for images (and text) only: image_processor + tokenizer."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor=image_processor, tokenizer=tokenizer, video_processor=None, chat_template=chat_template,
                         **kwargs)


# model_type -> the image-only processor to use where the stock one cannot load.
IMAGE_ONLY_PROCESSORS = {
    "qwen3_vl": JudgeProcessor,
    "qwen3_vl_moe": JudgeProcessor,
    "qwen2_5_vl": Qwen25JudgeProcessor,
    "qwen2_vl": Qwen25JudgeProcessor,  # same image-token handling; the video-only parts are never reached
}


def register() -> None:
    """Make AutoProcessor find JudgeProcessor by name and for Qwen3-VL configs (idempotent)."""
    for config_class in (Qwen3VLConfig, Qwen3VLMoeConfig):
        AutoProcessor.register(config_class, JudgeProcessor, exist_ok=True)


register()
