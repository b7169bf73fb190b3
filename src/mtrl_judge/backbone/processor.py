"""A Qwen3-VL processor that needs no torchvision.

transformers' `Qwen3VLProcessor` requires a video processor, and the video processor requires
torchvision, which has no working CPU build next to torch 2.13 here (shared/notes/cpu-recipe.md).
`JudgeProcessor` is the same processor with images only. It is registered with AutoProcessor
when `mtrl_judge` is imported: without that registration `AutoProcessor.from_pretrained(dir)`
silently returns a bare tokenizer and GRPOTrainer later fails with KeyError 'pixel_values'.
On machines with torchvision, checkpoints that ship the stock processor keep using it.
"""

from __future__ import annotations

from transformers import AutoProcessor, Qwen3VLConfig, Qwen3VLMoeConfig
from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor


class JudgeProcessor(Qwen3VLProcessor):
    """Qwen3-VL processor for images (and text) only: image_processor + tokenizer."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor=image_processor, tokenizer=tokenizer, video_processor=None, chat_template=chat_template, **kwargs)


def register() -> None:
    """Make AutoProcessor find JudgeProcessor by name and for Qwen3-VL configs (idempotent)."""
    for config_class in (Qwen3VLConfig, Qwen3VLMoeConfig):
        AutoProcessor.register(config_class, JudgeProcessor, exist_ok=True)


register()
