"""Model sizes built locally from scratch (no downloads).

- tiny: the test fixture (under 2M parameters);
- tiny-moe: the same size in the Qwen3-VL-MoE family (the paper's 30B-A3B is one);
- small: the first demo base (16 visual tokens per 128 px image: 32 px per token);
- small-p8: the default base from world version 2 on: the same text model, 8 px patches (64 visual
  tokens of 16 px each) and a vision tower twice as deep and wide, so that 20-32 px objects and
  36 px signs cover several tokens (docs/base.md has the comparison that chose it);
- qwen3-vl-2b-shape: random weights in the shape of a 2B-class Qwen3-VL (Qwen3-1.7B's text model:
  2048 x 28 layers, 16 heads, 8 KV heads, a 151,936-row embedding; Qwen3-VL's 24 x 1024 vision
  tower with deepstack at 5, 11, 17), about 2.1B parameters, for GPU speed and memory benchmarks
  (benchmarks/grpo_step.py). Not a copy of a released config, and never trained.

Config traps (transformers checks none of them at build time): mrope_section must sum to head_dim / 2;
num_position_embeddings must be a perfect square; deepstack_visual_indexes must be below the
vision depth and no more than the text layers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Sizes of one locally built Qwen3-VL. Fields mirror the transformers config names."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    vision_depth: int
    vision_hidden_size: int
    vision_intermediate_size: int
    vision_num_heads: int
    deepstack_visual_indexes: tuple[int, ...] = ()
    # Images are resized to at most this many pixels, each side a multiple of patch_size * 2 (the 2x2 merge):
    # 128x128 gives 16 visual tokens with 16 px patches, 64 with 8 px patches.
    max_pixels: int = 128 * 128
    min_pixels: int = 32 * 32
    patch_size: int = 16
    num_position_embeddings: int = 64  # a square grid of learned positions, interpolated to the image's patch grid
    moe: bool = False
    num_experts: int = 4
    num_experts_per_tok: int = 2
    moe_intermediate_size: int = 128
    # Embedding rows beyond the tokenizer's (unused ids), so that a random model has a real model's
    # embedding and LM-head size; None: exactly the tokenizer's vocabulary.
    model_vocab_size: int | None = None

    @property
    def mrope_section(self) -> list[int]:
        half = self.head_dim // 2
        # Qwen3-VL's split of rotary frequencies between time, height and width.
        t = half - 2 * (half * 5 // 16)
        return [t, half * 5 // 16, half * 5 // 16]


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        vocab_size=1024, hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=32, intermediate_size=384, vision_depth=1, vision_hidden_size=64, vision_intermediate_size=128,
        vision_num_heads=2,
    ),
    "tiny-moe": Preset(
        vocab_size=1024, hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=32, intermediate_size=384, vision_depth=1, vision_hidden_size=64, vision_intermediate_size=128,
        vision_num_heads=2, moe=True, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=128,
    ),
    "small": Preset(
        vocab_size=2048, hidden_size=256, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2,
        head_dim=64, intermediate_size=640, vision_depth=2, vision_hidden_size=128, vision_intermediate_size=256,
        vision_num_heads=2, deepstack_visual_indexes=(1,),
    ),
    "small-p8": Preset(
        vocab_size=2048, hidden_size=256, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2,
        head_dim=64, intermediate_size=640, vision_depth=4, vision_hidden_size=256, vision_intermediate_size=512,
        vision_num_heads=4, deepstack_visual_indexes=(1, 3), patch_size=8, num_position_embeddings=256,
        min_pixels=16 * 16,
    ),
    "qwen3-vl-2b-shape": Preset(
        vocab_size=2048, model_vocab_size=151_936, hidden_size=2048, num_hidden_layers=28, num_attention_heads=16,
        num_key_value_heads=8, head_dim=128, intermediate_size=6144, vision_depth=24, vision_hidden_size=1024,
        vision_intermediate_size=4096, vision_num_heads=16, deepstack_visual_indexes=(5, 11, 17), patch_size=16,
        num_position_embeddings=2304, max_pixels=448 * 448, min_pixels=64 * 64,
    ),
}
