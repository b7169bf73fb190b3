"""The off-the-shelf base: a `small` Qwen3-VL pretrained from scratch on general grounded skills."""

from .run import pretrain

__all__ = ["pretrain"]
