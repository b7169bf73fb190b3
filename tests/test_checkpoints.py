"""Folders laid out like real Hugging Face checkpoints load through the same loader and judge.

Real Qwen2.5-VL / Qwen3-VL checkpoints name their stock processor (which needs torchvision for
its video half) and ship a video_preprocessor_config.json. On machines without torchvision the
loader must fall back to the image-only twin; on machines with it, the stock processor is used.
"""

import json

import pytest
from PIL import Image
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from mtrl_judge import Judge
from mtrl_judge.backbone import load_backbone
from mtrl_judge.backbone.build import build_processor
from mtrl_judge.backbone.presets import PRESETS


def _as_stock_checkpoint(folder, processor_class):
    config = json.loads((folder / "processor_config.json").read_text())
    config["processor_class"] = processor_class
    (folder / "processor_config.json").write_text(json.dumps(config))
    (folder / "video_preprocessor_config.json").write_text(json.dumps({"video_processor_type": "Qwen3VLVideoProcessor"}))


def test_qwen3_vl_checkpoint_naming_the_stock_processor(tiny_model_dir, tmp_path):
    import shutil

    folder = tmp_path / "qwen3-vl"
    shutil.copytree(tiny_model_dir, folder)
    _as_stock_checkpoint(folder, "Qwen3VLProcessor")
    model, processor = load_backbone(folder)
    assert hasattr(processor, "image_processor") and processor.tokenizer.padding_side == "left"
    verdict = Judge(model, processor, max_new_tokens=4).judge(images=[Image.new("RGB", (64, 64), "red")], text="red",
                                                              task="seetrue")
    assert verdict.task == "seetrue"


def test_qwen2_5_vl_checkpoint(tmp_path):
    processor = build_processor(PRESETS["tiny"])
    tok = processor.tokenizer
    processor.image_processor.patch_size = 14  # Qwen2.5-VL's patch
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=2048,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}),
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[0]),
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"), video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
    )
    folder = tmp_path / "qwen2.5-vl"
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    _as_stock_checkpoint(folder, "Qwen2_5_VLProcessor")
    model, processor = load_backbone(folder)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    judge = Judge(model, processor, max_new_tokens=4)
    verdicts = judge.judge_many(
        [{"task": "mjbench-alignment", "images": [Image.new("RGB", (56, 56), "red"), Image.new("RGB", (56, 84), "blue")],
          "text": "red"}]
    )
    assert verdicts[0].task == "mjbench-alignment"


def test_unknown_processor_is_a_one_line_error(tiny_model_dir, tmp_path):
    import shutil

    from mtrl_judge import JudgeError

    folder = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "processor_config.json").unlink()
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer_config.json").unlink()
    with pytest.raises(JudgeError, match="processor"):
        load_backbone(folder)
