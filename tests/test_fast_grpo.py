"""GroupSharedGRPOTrainer computes what trl.GRPOTrainer computes: same log-probs, gradients and completions."""

from __future__ import annotations

import random

import pytest
import torch
from datasets import Dataset
from PIL import Image
from trl import GRPOConfig, GRPOTrainer
from trl.data_utils import apply_chat_template, prepare_multimodal_messages

from mtrl_judge.backbone import load_backbone
from mtrl_judge.prompts import render
from mtrl_judge.rewards import get_reward, paper_reward_weights
from mtrl_judge.train.fast_grpo import GroupSharedGRPOTrainer, group_rows

# Three distinct prompts; the first two have identical token ids and differ only by their image.
SPECS = [("a red circle", "red"), ("a red circle", "blue"), ("a big red circle on a white background", "red")]


def _rows(n=4):
    return [
        {
            "prompt": render({"task": "seetrue", "text": text}, "reason"),
            "images": [Image.new("RGB", (96, 96), colour)],
            "task": "seetrue",
            "label": "yes",
        }
        for text, colour in SPECS[:2] * (n // 2)
    ]


def _trainer(model_dir, tmp_path, reward_funcs=None, **config):
    model, processor = load_backbone(model_dir)
    funcs, weights = [get_reward("format"), get_reward("accuracy")], paper_reward_weights(0.2)
    if reward_funcs is not None:
        funcs, weights = reward_funcs, None
    defaults = dict(
        output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, per_device_train_batch_size=8, num_generations=4,
        max_completion_length=8, max_steps=1, report_to=[], reward_weights=weights, save_strategy="no", disable_tqdm=True,
        gradient_checkpointing=False,  # the recipes' default; with it on, the forward is the parent's (see below)
    )  # fmt: skip
    args = GRPOConfig(**{**defaults, **config})
    return GroupSharedGRPOTrainer(
        model=model, processing_class=processor, reward_funcs=funcs, args=args, train_dataset=Dataset.from_list(_rows(8))
    )


def _shuffled_order(copies=4, seed=0):
    order = list(range(len(SPECS))) * copies
    random.Random(seed).shuffle(order)
    return order


def test_group_rows_keeps_first_seen_order():
    firsts, row_to_group = group_rows(["b", "a", "b", "c", "a"])
    assert firsts == [0, 1, 3]
    assert row_to_group.tolist() == [0, 1, 0, 2, 1]


def _training_batch(trainer, completion_len=7):
    """A TRL-shaped training batch: left-padded prompts (shuffled groups) + right-padded random completions."""
    processor = trainer.processing_class
    order = _shuffled_order()
    images = [[Image.new("RGB", (96, 96), SPECS[k][1])] for k in order]
    prompts = [
        prepare_multimodal_messages(render({"task": "seetrue", "text": SPECS[k][0]}, "reason"), images=img)
        for k, img in zip(order, images, strict=True)
    ]
    texts = [apply_chat_template({"prompt": p}, processor)["prompt"] for p in prompts]
    processor.tokenizer.padding_side = "left"
    enc = processor(images=images, text=texts, padding=True, return_tensors="pt")
    vocab = trainer.model.config.text_config.vocab_size
    g = torch.Generator().manual_seed(1)
    completion = torch.randint(10, vocab, (len(order), completion_len), generator=g)
    lengths = torch.randint(1, completion_len + 1, (len(order),), generator=g)
    completion_mask = (torch.arange(completion_len)[None] < lengths[:, None]).long()
    completion = completion.masked_fill(completion_mask == 0, processor.tokenizer.pad_token_id)
    return {
        "input_ids": torch.cat([enc["input_ids"], completion], 1),
        "attention_mask": torch.cat([enc["attention_mask"], completion_mask], 1),
        "logits_to_keep": completion_len,
        "completion_mask": completion_mask,
        "kwargs": dict(
            compute_entropy=True,
            pixel_values=enc["pixel_values"],
            image_grid_thw=enc["image_grid_thw"],
            num_images=[1] * len(order),
            mm_token_type_ids=torch.cat([enc["mm_token_type_ids"], torch.zeros_like(completion)], 1),
        ),
    }


def _positional(batch):
    return batch["input_ids"], batch["attention_mask"], batch["logits_to_keep"]


def _stats(trainer, kind):
    return tuple(trainer.shared_stats[f"{kind}_{what}"] for what in ("shared", "prefills", "rows"))


def _logps_and_grads(fn, trainer, batch):
    model = trainer.model
    model.zero_grad()
    logps, entropy, _ = fn(trainer, model, *_positional(batch), **batch["kwargs"])
    mask = batch["completion_mask"]
    ((logps * mask).sum() + 0.1 * (entropy * mask).sum()).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return logps.detach(), entropy.detach(), grads


def test_shared_forward_matches_parent(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, temperature=0.7)  # the fused head divides by the temperature
    batch = _training_batch(trainer)
    ref_logps, ref_entropy, ref_grads = _logps_and_grads(GRPOTrainer._get_per_token_logps_and_entropies, trainer, batch)
    logps, entropy, grads = _logps_and_grads(GroupSharedGRPOTrainer._get_per_token_logps_and_entropies, trainer, batch)
    # 12 rows, 3 prefills: the red and blue rows have identical ids but were not merged.
    assert _stats(trainer, "forward") == (1, 3, 12)

    assert logps.shape == ref_logps.shape
    torch.testing.assert_close(logps, ref_logps, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(entropy, ref_entropy, atol=1e-5, rtol=1e-5)
    assert (logps[batch["completion_mask"] == 0] == 0).all()
    assert grads.keys() == ref_grads.keys()
    assert any(name.startswith("model.visual") for name in grads)  # the images got gradients through the shared prefill
    for name, ref in ref_grads.items():
        torch.testing.assert_close(grads[name], ref, atol=1e-5, rtol=1e-4, msg=name)


def test_forward_falls_back_without_repeated_prompts(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path)
    batch = _training_batch(trainer)
    kwargs = batch["kwargs"]
    # One row per distinct prompt (ids and image); every row here has one image of the same size.
    keys = [(tuple(ids), k)
            for ids, k in zip(batch["input_ids"][:, : -batch["logits_to_keep"]].tolist(), _shuffled_order(), strict=True)]
    rows = group_rows(keys)[0]
    patches = int(kwargs["image_grid_thw"][0].prod())
    pixel_values = torch.cat([kwargs["pixel_values"][r * patches : (r + 1) * patches] for r in rows])
    trainer._get_per_token_logps_and_entropies(
        trainer.model, batch["input_ids"][rows], batch["attention_mask"][rows], batch["logits_to_keep"],
        pixel_values=pixel_values, image_grid_thw=kwargs["image_grid_thw"][rows], num_images=[1] * len(rows),
        mm_token_type_ids=kwargs["mm_token_type_ids"][rows],
    )  # fmt: skip
    assert len(rows) == len(SPECS)
    assert trainer.shared_stats["forward_parent"] == 1 and trainer.shared_stats["forward_shared"] == 0


def test_forward_falls_back_under_gradient_checkpointing(tiny_model_dir, tmp_path):
    """Checkpointed layers drop the KV cache, so the shared prefix cannot be reused: the parent runs."""
    trainer = _trainer(tiny_model_dir, tmp_path)
    trainer.model.gradient_checkpointing_enable()
    trainer.model.train()
    batch = _training_batch(trainer)
    trainer._get_per_token_logps_and_entropies(trainer.model, *_positional(batch), **batch["kwargs"])
    assert trainer.shared_stats["forward_parent"] == 1 and trainer.shared_stats["forward_shared"] == 0


@pytest.mark.parametrize("generation_kwargs", [{"do_sample": False}, {"temperature": 0.7, "top_k": 50, "top_p": 0.9}])
def test_shared_generation_matches_parent(tiny_model_dir, tmp_path, generation_kwargs):
    """Greedy decoding gives the parent's completions; so does sampling, since the lean loop draws from the
    same distributions with the same random calls in the same order as `generate`."""
    trainer = _trainer(tiny_model_dir, tmp_path, max_completion_length=16, generation_kwargs=generation_kwargs)
    order = _shuffled_order(copies=3)
    prompts = [
        prepare_multimodal_messages(
            render({"task": "seetrue", "text": SPECS[k][0]}, "reason"), images=[Image.new("RGB", (96, 96), SPECS[k][1])]
        )
        for k in order
    ]
    prompt_ids, images, fields = trainer._tokenize_prompts(prompts)
    torch.manual_seed(0)
    expected, _ = GRPOTrainer._generate_single_turn(trainer, prompt_ids, images, fields, 3)
    torch.manual_seed(0)
    completions, logprobs = trainer._generate_single_turn(prompt_ids, images, fields, 3)
    assert _stats(trainer, "generate") == (1, 3, 9)
    assert logprobs is None
    assert completions == expected


def test_generation_falls_back_for_unsupported_settings(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, repetition_penalty=1.3)
    prompts = [prepare_multimodal_messages(row["prompt"], images=row["images"]) for row in _rows(2)]
    prompt_ids, images, fields = trainer._tokenize_prompts(prompts)
    completions, _ = trainer._generate_single_turn(prompt_ids, images, fields, 1)
    assert len(completions) == 2
    assert trainer.shared_stats["generate_parent"] == 1 and trainer.shared_stats["generate_shared"] == 0


def test_two_step_training_run(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, max_steps=2, logging_steps=1)
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert len(logged) == 2
    assert all("rewards/accuracy/mean" in entry and "entropy" in entry for entry in logged)
    assert trainer.shared_stats["generate_shared"] == 2
    assert trainer.shared_stats["forward_shared"] == 2
    assert trainer.shared_stats["generate_parent"] == trainer.shared_stats["forward_parent"] == 0


def test_kl_term_runs_the_reference_through_the_shared_forward(tiny_model_dir, tmp_path):
    """beta > 0 (the recipes' KL to the base): the reference model's log-probs come from the shared forward too, and
    the logged KL is 0 while the policy is the reference and positive once a step has moved it."""
    rng = random.Random(0)

    def noise(completions, **kwargs):  # varied rewards, so that the first step has a gradient to take
        return [rng.random() for _ in completions]

    trainer = _trainer(tiny_model_dir, tmp_path, reward_funcs=[noise], beta=0.04, max_steps=2, logging_steps=1,
                       learning_rate=1e-2)
    assert trainer.ref_model is not None
    trainer.train()
    kl = [entry["kl"] for entry in trainer.state.log_history if "kl" in entry]
    assert len(kl) == 2
    assert kl[0] == pytest.approx(0.0, abs=1e-6)
    assert kl[1] > 1e-6
    # Per step one forward of the policy (the loss) and one of the reference, both shared.
    assert trainer.shared_stats["forward_shared"] == 4 and trainer.shared_stats["forward_parent"] == 0


@pytest.mark.parametrize("version, supported", [("1.16.0", True), ("1.16.3", True), ("1.16.0.dev0", True),
                                                ("1.17.0", False), ("1.15.2", False), ("2.0.0", False), ("unknown", False)])
def test_shared_prompt_needs_the_trl_release_it_was_written_for(monkeypatch, version, supported):
    import trl

    from mtrl_judge.train.fast_grpo import shared_prompt_supported

    monkeypatch.setattr(trl, "__version__", version)
    ok, why = shared_prompt_supported()
    assert ok is supported
    assert why == "" if supported else f"TRL {version} is installed" in why and "1.16.x" in why


@pytest.mark.parametrize("dynamic_sampling", [False, True])
def test_other_trl_releases_fall_back_to_trls_trainer(
    monkeypatch, caplog, tiny_model_dir, tiny_data_dir, tmp_path, dynamic_sampling
):
    import json

    import trl

    from mtrl_judge.train.config import load_recipe
    from mtrl_judge.train.dynamic_sampling import DynamicSamplingGRPOTrainer
    from mtrl_judge.train.run import build_trainer

    fields = {
        "method": "grpo", "model": str(tiny_model_dir), "data": str(tiny_data_dir), "tasks": ["seetrue"],
        "output_dir": str(tmp_path / "run"), "max_steps": 1, "per_device_train_batch_size": 4, "num_generations": 4,
        "max_completion_length": 8, "report_to": "none", "dynamic_sampling": dynamic_sampling,
        "use_cpu": True, "bf16": False, "gradient_checkpointing": False,
    }
    path = tmp_path / "recipe.yaml"
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in fields.items()))
    monkeypatch.setattr(trl, "__version__", "1.17.0")
    with caplog.at_level("WARNING", logger="mtrl_judge"):
        trainer = build_trainer(load_recipe(path))
    assert not isinstance(trainer, GroupSharedGRPOTrainer)
    assert type(trainer) is (DynamicSamplingGRPOTrainer if dynamic_sampling else GRPOTrainer)
    assert "share_prompt is off" in caplog.text and "TRL 1.17.0 is installed" in caplog.text
