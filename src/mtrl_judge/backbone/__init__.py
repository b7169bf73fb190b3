"""Backbones: build a tiny Qwen3-VL locally, or load any Hugging Face image-text-to-text model."""

from . import processor as _processor  # noqa: F401  (registers JudgeProcessor with AutoProcessor)
from .build import build_backbone
from .load import load_backbone, vision_tower
from .presets import PRESETS

__all__ = ["PRESETS", "build_backbone", "load_backbone", "vision_tower"]
