import json

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor

from mtrl_judge import JudgeError
from mtrl_judge.backbone import build_backbone, load_backbone
from mtrl_judge.backbone.processor import JudgeProcessor
from mtrl_judge.backbone.tokenizer import TAG_TOKENS


def test_tiny_is_a_small_qwen3_vl(tiny_model_dir):
    model, processor = load_backbone(tiny_model_dir)
    assert type(model).__name__ == "Qwen3VLForConditionalGeneration"
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    assert isinstance(AutoProcessor.from_pretrained(tiny_model_dir), JudgeProcessor)
    assert (tiny_model_dir / "model.safetensors").is_file()


def test_reload_gives_identical_weights(tiny_model_dir):
    saved = load_file(str(tiny_model_dir / "model.safetensors"))
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    state = model.state_dict()
    for name, tensor in saved.items():
        assert torch.equal(state[name], tensor), name


def test_same_seed_same_model(tmp_path, tiny_model_dir):
    again = build_backbone("tiny", tmp_path / "again", seed=0)
    other = build_backbone("tiny", tmp_path / "other", seed=1)
    reference = load_file(str(tiny_model_dir / "model.safetensors"))
    assert all(torch.equal(t, load_file(str(again / "model.safetensors"))[n]) for n, t in reference.items())
    assert not all(torch.equal(t, load_file(str(other / "model.safetensors"))[n]) for n, t in reference.items())
    assert (again / "tokenizer.json").read_text() == (tiny_model_dir / "tokenizer.json").read_text()


def test_tags_are_ordinary_tokens_that_survive_decoding(tiny_model_dir):
    tokenizer = AutoProcessor.from_pretrained(tiny_model_dir).tokenizer
    text = "<think>a red circle</think><answer>yes</answer>"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    for tag in TAG_TOKENS:
        assert tokenizer.convert_tokens_to_ids(tag) in ids
    # TRL decodes completions with skip_special_tokens=True: the tags must survive it
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


@pytest.mark.parametrize("n_images", [1, 2])
def test_generates_for_one_and_two_images(tiny_model_dir, n_images):
    model, processor = load_backbone(tiny_model_dir)
    content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": "Which is better?"}]
    text = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)
    images = [Image.new("RGB", (64, 96), c) for c in ("red", "blue")[:n_images]]
    inputs = processor(text=[text], images=images, return_tensors="pt")
    assert inputs["image_grid_thw"].shape[0] == n_images
    n_visual = int((inputs["input_ids"] == model.config.image_token_id).sum())
    assert n_visual == n_images * 6  # 64x96 px -> a 4x6 patch grid of 16 px -> 6 tokens after the 2x2 merge
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_moe_preset_builds_and_generates(tmp_path):
    path = build_backbone("tiny-moe", tmp_path / "moe")
    model, processor = load_backbone(path)
    assert type(model).__name__ == "Qwen3VLMoeForConditionalGeneration"
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Is it red?"}]}], add_generation_prompt=True,
        tokenize=False,
    )
    inputs = processor(text=[text], images=[Image.new("RGB", (64, 64), "red")], return_tensors="pt")
    assert model.generate(**inputs, max_new_tokens=3, do_sample=False).shape[1] > inputs["input_ids"].shape[1]


def test_refuses_a_non_empty_output_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(JudgeError, match="--overwrite"):
        build_backbone("tiny", tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").exists()


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "model folder not found"),
        (lambda p: p.mkdir(), "no config.json"),
        (lambda p: (p.mkdir(), (p / "config.json").write_text(json.dumps({"model_type": "gpt2"}))),
         "not a vision-language model"),
        (lambda p: (p.mkdir(), (p / "config.json").write_text("{oops")), "cannot read"),
    ],
)
def test_load_rejects_folders_that_are_not_vlms(tmp_path, setup, message):
    path = tmp_path / "model"
    setup(path)
    with pytest.raises(JudgeError, match=message):
        load_backbone(path)


def test_the_2b_shape_preset_is_a_valid_2b_class_qwen3_vl():
    """The GPU benchmark's random 2B-class model: a config transformers accepts, about 2.1B parameters
    (counted on the meta device: no memory), with a real model's embedding size."""
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    from mtrl_judge.backbone.build import build_processor, model_config
    from mtrl_judge.backbone.presets import PRESETS

    spec = PRESETS["qwen3-vl-2b-shape"]
    assert sum(spec.mrope_section) == spec.head_dim // 2
    config = model_config(spec, build_processor(spec).tokenizer)
    assert config.text_config.vocab_size == 151_936
    with torch.device("meta"):
        model = Qwen3VLForConditionalGeneration(config)
    n_params = sum(p.numel() for p in model.parameters())
    assert 1.9e9 < n_params < 2.4e9, n_params
    assert model.config.vision_config.deepstack_visual_indexes == [5, 11, 17]
