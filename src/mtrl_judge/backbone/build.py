"""Build a Qwen3-VL judge backbone from scratch: tokenizer, processor, random weights."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import (
    GenerationConfig,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLMoeConfig,
    Qwen3VLMoeForConditionalGeneration,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from ..errors import JudgeError
from ..io import atomic_dir, refuse_nonempty_folder
from .corpus import corpus
from .presets import PRESETS, Preset
from .processor import JudgeProcessor
from .tokenizer import train_tokenizer

logger = logging.getLogger(__name__)


def build_processor(preset: Preset, extra_text=None) -> JudgeProcessor:
    tokenizer = train_tokenizer(corpus(extra_text), preset.vocab_size)
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=preset.patch_size,  # Qwen3-VL's is 16; with merge 2, sides snap to multiples of 2 * patch
        temporal_patch_size=2,
        merge_size=2,
        min_pixels=preset.min_pixels,
        max_pixels=preset.max_pixels,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    return JudgeProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template)


def model_config(preset: Preset, tokenizer) -> Qwen3VLConfig | Qwen3VLMoeConfig:
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in [
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"),
    ]}
    text = dict(
        vocab_size=max(len(tokenizer), preset.model_vocab_size or 0),
        hidden_size=preset.hidden_size,
        intermediate_size=preset.intermediate_size,
        num_hidden_layers=preset.num_hidden_layers,
        num_attention_heads=preset.num_attention_heads,
        num_key_value_heads=preset.num_key_value_heads,
        head_dim=preset.head_dim,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": preset.mrope_section,
                         "mrope_interleaved": True},
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    vision = dict(
        depth=preset.vision_depth,
        hidden_size=preset.vision_hidden_size,
        intermediate_size=preset.vision_intermediate_size,
        num_heads=preset.vision_num_heads,
        out_hidden_size=preset.hidden_size,
        patch_size=preset.patch_size,
        spatial_merge_size=2,
        temporal_patch_size=2,
        num_position_embeddings=preset.num_position_embeddings,
        deepstack_visual_indexes=list(preset.deepstack_visual_indexes),
    )
    if preset.moe:
        text.update(num_experts=preset.num_experts, num_experts_per_tok=preset.num_experts_per_tok,
                    moe_intermediate_size=preset.moe_intermediate_size, decoder_sparse_step=1)
        return Qwen3VLMoeConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **ids)
    return Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **ids)


def build_backbone(preset: str, out: str | Path, *, seed: int = 0, overwrite: bool = False, extra_text=None) -> Path:
    """Build the `preset` backbone with random weights and save it to `out` (atomically).

    The folder loads with AutoModelForImageTextToText / AutoProcessor (once mtrl_judge.backbone is imported).
    Same preset and seed give the same weights and tokenizer.
    """
    if preset not in PRESETS:
        raise JudgeError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    spec = PRESETS[preset]
    out = refuse_nonempty_folder(out, overwrite=overwrite)
    processor = build_processor(spec, extra_text)
    config = model_config(spec, processor.tokenizer)
    torch.manual_seed(seed)
    model_class = Qwen3VLMoeForConditionalGeneration if spec.moe else Qwen3VLForConditionalGeneration
    model = model_class(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[processor.tokenizer.convert_tokens_to_ids("<|im_end|>"), processor.tokenizer.pad_token_id],
        pad_token_id=processor.tokenizer.pad_token_id,
        do_sample=False,
    )
    n_params = sum(p.numel() for p in model.parameters())
    with atomic_dir(out, overwrite=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        processor.save_pretrained(tmp)
    logger.info("built %s backbone (%.2fM parameters) in %s", preset, n_params / 1e6, out)
    return out
