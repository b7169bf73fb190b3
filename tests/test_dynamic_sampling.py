"""DAPO dynamic sampling: flat groups never reach the loss, the batch keeps its size, the rows are
concatenated without changing what the model computes, and both trainers (TRL's and the shared-prompt
one) train with it."""

from __future__ import annotations

import random

import pytest
import torch
from datasets import Dataset
from PIL import Image
from trl import GRPOConfig, GRPOTrainer
from trl.trainer.utils import split_pixel_values_by_grid, unsplit_pixel_values_by_grid

from mtrl_judge.backbone import load_backbone
from mtrl_judge.prompts import render
from mtrl_judge.train.dynamic_sampling import (
    DynamicSamplingGRPOTrainer,
    DynamicSamplingSharedGRPOTrainer,
    concat_rows,
    flat_groups,
    flat_rows_per_process,
    select_rows,
)

# Flat prompts always get reward 1 (their groups have no gradient); mixed ones a random reward per completion.
# The two prompts differ in length, so rows from different rounds need re-padding.
MIXED_TEXT, FLAT_TEXT = "a red circle", "a big blue square on a white background next to a tree"


def _rows(kinds, flat_task="seetrue"):
    return [
        {
            "prompt": render({"task": "seetrue", "text": MIXED_TEXT if kind == "mixed" else FLAT_TEXT}, "reason"),
            "images": [Image.new("RGB", (64, 64), "red" if kind == "mixed" else "blue")],
            "task": "seetrue" if kind == "mixed" else flat_task,
            "label": "yes",
            "kind": kind,
        }
        for kind in kinds
    ]


def scripted_reward(seed=0):
    rng = random.Random(seed)

    def scripted(completions, kind, **_):
        return [rng.random() if k == "mixed" else 1.0 for k in kind]

    return scripted


def _trainer(cls, model_dir, tmp_path, kinds, **kwargs):
    model, processor = load_backbone(model_dir)
    config = dict(
        output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, per_device_train_batch_size=8, num_generations=4,
        max_completion_length=6, max_steps=2, learning_rate=1e-2, logging_steps=1, report_to=[], save_strategy="no",
        disable_tqdm=True, gradient_checkpointing=False, seed=0,
    )  # fmt: skip
    config.update(kwargs.pop("config", {}))
    rows = _rows(kinds, kwargs.pop("flat_task", "seetrue"))
    return cls(
        model=model, processing_class=processor, reward_funcs=[scripted_reward()], args=GRPOConfig(**config),
        train_dataset=Dataset.from_list(rows), dynamic_sampling=True, **kwargs,
    )  # fmt: skip


def _policy_logps(trainer, batch):
    """Per-token log-probs of a generated batch's completions under the policy, through TRL's own forward (not
    the shared-prompt one); 0 on padding."""
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    with torch.no_grad():
        out, _, _ = GRPOTrainer._get_per_token_logps_and_entropies(
            trainer, trainer.model, ids, mask, batch["completion_ids"].size(1), pixel_values=batch["pixel_values"],
            image_grid_thw=batch["image_grid_thw"], num_images=batch["num_images"],
            mm_token_type_ids=batch["mm_token_type_ids"],
        )  # fmt: skip
    return out * batch["completion_mask"]


def _spy_loss_inputs(trainer):
    """Record (prompt texts, advantages, rows) of every batch that reaches the loss."""
    seen = []
    compute_loss = trainer.compute_loss

    def spy(model, inputs, *args, **kwargs):
        texts = trainer.processing_class.tokenizer.batch_decode(inputs["prompt_ids"], skip_special_tokens=True)
        seen.append((texts, inputs["advantages"].detach().clone(), inputs["completion_ids"].size(0)))
        return compute_loss(model, inputs, *args, **kwargs)

    trainer.compute_loss = spy
    return seen


def test_flat_groups_follow_the_total_reward():
    nan = float("nan")
    # Two functions, the second weighted 0 (a logging-only reward): only the weighted total decides.
    rewards = torch.tensor([
        [1.0, 0.0], [1.0, 1.0],      # same total: flat although the zero-weight function differs
        [1.0, 0.0], [0.0, 0.0],      # mixed
        [nan, nan], [1.0, 0.0],      # one scorable completion: no baseline, flat
        [nan, nan], [nan, nan],      # nothing scorable: flat
    ])  # fmt: skip
    assert flat_groups(rewards, torch.tensor([1.0, 0.0]), 2).tolist() == [True, False, True, True]
    assert flat_groups(rewards[:4], torch.tensor([1.0, 1.0]), 2).tolist() == [False, False]


def test_flat_rows_per_process_follow_trl_gather_order():
    # 2 processes x 4 rows. Groups of 2: process 0 holds groups 0-1, process 1 groups 2-3.
    rows = flat_rows_per_process(torch.tensor([True, False, False, True]), 2, 2)
    assert rows.tolist() == [[True, True, False, False], [False, False, True, True]]
    # Groups of 8 span both processes: both see the one decision.
    assert flat_rows_per_process(torch.tensor([True]), 8, 2).tolist() == [[True] * 4, [True] * 4]


def test_concat_rows_repads_prompts_and_completions():
    pad = 0
    a = {  # 2 rows, prompts of width 3 (one padded), completions of width 2
        "prompt_ids": torch.tensor([[0, 5, 6], [7, 8, 9]]), "prompt_mask": torch.tensor([[0, 1, 1], [1, 1, 1]]),
        "completion_ids": torch.tensor([[1, 0], [2, 3]]), "completion_mask": torch.tensor([[1, 0], [1, 1]]),
        "mm_token_type_ids": torch.tensor([[0, 1, 0, 0, 0], [1, 1, 0, 0, 0]]),
        "old_per_token_logps": torch.tensor([[-1.0, 0.0], [-2.0, -3.0]]), "importance_sampling_ratio": torch.ones(2, 1),
        "advantages": torch.tensor([0.5, -0.5]), "pixel_values": [torch.ones(4, 2), torch.ones(4, 2) * 2],
        "image_grid_thw": [torch.tensor([[1, 2, 2]])] * 2, "num_images": [1, 1], "ref_per_token_logps": None,
    }  # fmt: skip
    b = {  # 1 row, a prompt of width 4 with 2 padding columns (a longer prompt was dropped), completion width 3
        "prompt_ids": torch.tensor([[0, 0, 4, 4]]), "prompt_mask": torch.tensor([[0, 0, 1, 1]]),
        "completion_ids": torch.tensor([[3, 3, 3]]), "completion_mask": torch.tensor([[1, 1, 1]]),
        "mm_token_type_ids": torch.tensor([[0, 0, 1, 0, 0, 0, 0]]),
        "old_per_token_logps": torch.tensor([[-4.0, -5.0, -6.0]]), "importance_sampling_ratio": torch.ones(1, 1) * 3,
        "advantages": torch.tensor([1.0]), "pixel_values": [torch.ones(4, 2) * 3], "image_grid_thw": [torch.tensor([[1, 2, 2]])],
        "num_images": [1], "ref_per_token_logps": None,
    }  # fmt: skip
    out = concat_rows([a, b], pad)
    assert out["prompt_ids"].tolist() == [[0, 5, 6], [7, 8, 9], [0, 4, 4]]  # b's all-padding column dropped
    assert out["prompt_mask"].tolist() == [[0, 1, 1], [1, 1, 1], [0, 1, 1]]
    assert out["completion_ids"].tolist() == [[1, 0, 0], [2, 3, 0], [3, 3, 3]]
    assert out["completion_mask"].tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    # Image-token types follow their prompt tokens and their completions.
    assert out["mm_token_type_ids"].tolist() == [[0, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0]]
    assert out["old_per_token_logps"].tolist() == [[-1.0, 0.0, 0.0], [-2.0, -3.0, 0.0], [-4.0, -5.0, -6.0]]
    assert out["importance_sampling_ratio"].tolist() == [[1.0], [1.0], [3.0]]  # sequence-level: width 1 kept
    assert out["advantages"].tolist() == [0.5, -0.5, 1.0] and out["ref_per_token_logps"] is None
    merged = unsplit_pixel_values_by_grid(out)
    assert merged["pixel_values"][:, 0].tolist() == [1.0] * 4 + [2.0] * 4 + [3.0] * 4
    assert merged["image_grid_thw"].shape == (3, 3) and merged["num_images"] == [1, 1, 1]
    assert select_rows(out, [2])["prompt_ids"].tolist() == [[0, 4, 4]]


def test_concatenated_rows_give_the_same_log_probs(tiny_model_dir, tmp_path):
    """Rows of two rounds (different prompt and completion widths) score the same after re-padding as
    in their own round's batch: positions, image tokens and pixels stay aligned."""
    trainer = _trainer(DynamicSamplingGRPOTrainer, tiny_model_dir, tmp_path, ["mixed"] * 8)
    trainer.model.train()
    rounds = [GRPOTrainer._generate_and_score_completions(trainer, _rows([kind] * 8)) for kind in ("mixed", "flat")]
    assert rounds[0]["prompt_ids"].size(1) != rounds[1]["prompt_ids"].size(1)

    def logps(batch):
        return _policy_logps(trainer, unsplit_pixel_values_by_grid(batch))

    parts = [select_rows(split_pixel_values_by_grid(r), [1, 6]) for r in rounds]
    merged = concat_rows(parts, trainer._tokenizer.pad_token_id)
    expected = [logps(p) for p in parts]
    got = logps(merged)
    for i, e in enumerate(expected):
        torch.testing.assert_close(got[2 * i : 2 * i + 2, : e.size(1)], e, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cls", [DynamicSamplingSharedGRPOTrainer, DynamicSamplingGRPOTrainer], ids=["shared", "trl"])
def test_only_mixed_groups_reach_the_loss(tiny_model_dir, tmp_path, cls):
    trainer = _trainer(cls, tiny_model_dir, tmp_path, ["mixed", "flat"] * 4, dynamic_sampling_max_tries=20)
    seen = _spy_loss_inputs(trainer)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()

    assert len(seen) == 2
    for texts, advantages, rows in seen:
        assert rows == 8, "the batch keeps its size"
        assert all(MIXED_TEXT in t and FLAT_TEXT not in t for t in texts), "a flat group reached the loss"
        assert bool((advantages != 0).all())
    logged = [e for e in trainer.state.log_history if "dynamic_sampling/kept_frac" in e]
    assert len(logged) == 2
    assert all(0 < e["dynamic_sampling/kept_frac"] <= 1 and e["dynamic_sampling/filled_frac"] == 0 for e in logged)
    refilled = [e for e in logged if e["dynamic_sampling/tries"] > 1]
    assert refilled and all(e["dynamic_sampling/kept_frac"] < 1 for e in refilled), "half the prompts are flat: refills"
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters()), "no parameter changed"
    if cls is DynamicSamplingSharedGRPOTrainer:
        assert trainer.shared_stats["forward_shared"] == 2 and trainer.shared_stats["forward_parent"] == 0


def test_kept_share_is_logged_per_task(tiny_model_dir, tmp_path):
    """In a multi-task batch the log says which task's groups were kept: here every flat group is imagereward's."""
    trainer = _trainer(DynamicSamplingSharedGRPOTrainer, tiny_model_dir, tmp_path, ["mixed", "flat"] * 4,
                       dynamic_sampling_max_tries=3, flat_task="imagereward", config={"max_steps": 3})  # fmt: skip
    trainer.train()
    logged = [e for e in trainer.state.log_history if "dynamic_sampling/kept_frac" in e]
    assert len(logged) == 3 and all(e["dynamic_sampling/kept_frac/seetrue"] == 1 for e in logged)
    with_flat = [e for e in logged if "dynamic_sampling/kept_frac/imagereward" in e]
    assert with_flat and all(e["dynamic_sampling/kept_frac/imagereward"] == 0 for e in with_flat)
    assert all(e["dynamic_sampling/kept_frac"] < 1 for e in with_flat)


def test_out_of_tries_fills_the_batch_with_flat_groups(tiny_model_dir, tmp_path):
    trainer = _trainer(DynamicSamplingSharedGRPOTrainer, tiny_model_dir, tmp_path, ["flat"] * 8, dynamic_sampling_max_tries=2,
                       config={"max_steps": 1})  # fmt: skip
    seen = _spy_loss_inputs(trainer)
    trainer.train()
    [(_, advantages, rows)] = seen
    assert rows == 8 and bool((advantages == 0).all())
    (logged,) = [e for e in trainer.state.log_history if "dynamic_sampling/tries" in e]
    assert logged["dynamic_sampling/tries"] == 2
    assert logged["dynamic_sampling/kept_frac"] == 0 and logged["dynamic_sampling/filled_frac"] == 1


@pytest.mark.parametrize("cls", [DynamicSamplingSharedGRPOTrainer, DynamicSamplingGRPOTrainer], ids=["shared", "trl"])
def test_mask_fill_leaves_the_filler_rows_out_of_the_loss(tiny_model_dir, tmp_path, cls):
    """dynamic_sampling_mask_fill: when the tries run out, the flat rows that fill the batch reach the loss with a zero
    completion mask (no KL term either), and the loss is normalised by the mixed rows' tokens alone; a batch of flat rows only
    gives a zero loss, not a NaN."""
    trainer = _trainer(cls, tiny_model_dir, tmp_path, ["mixed", "flat"] * 4, dynamic_sampling_max_tries=1,
                       dynamic_sampling_mask_fill=True, config={"beta": 0.04, "max_steps": 1})  # fmt: skip
    trainer.model.train()  # dynamic sampling runs in training only
    batch = trainer._generate_and_score_completions(_rows(["mixed"] * 4 + ["flat"] * 4))
    texts = trainer.processing_class.tokenizer.batch_decode(batch["prompt_ids"], skip_special_tokens=True)
    mixed = torch.tensor([MIXED_TEXT in t for t in texts])
    assert mixed.sum() == 4 and len(texts) == 8, "one round: the mixed group, then the flat one as filler"
    masked = batch["completion_mask"].sum(dim=1)
    assert bool((masked[mixed] > 0).all()) and bool((masked[~mixed] == 0).all())
    assert int(batch["num_items_in_batch"]) == int(masked.sum())

    flat_only = _trainer(cls, tiny_model_dir, tmp_path, ["flat"] * 8, dynamic_sampling_max_tries=1,
                         dynamic_sampling_mask_fill=True, config={"beta": 0.04, "max_steps": 2})  # fmt: skip
    seen = _spy_loss_inputs(flat_only)
    flat_only.train()
    assert len(seen) == 2
    losses = [e["loss"] for e in flat_only.state.log_history if "loss" in e]
    assert len(losses) == 2 and all(loss == 0.0 for loss in losses), losses


@pytest.mark.parametrize(("cls", "lora"), [(DynamicSamplingSharedGRPOTrainer, False), (DynamicSamplingGRPOTrainer, False),
                                           (DynamicSamplingSharedGRPOTrainer, True)], ids=["shared", "trl", "shared-lora"])
def test_with_a_kl_term_the_reference_runs_once_on_the_kept_rows(tiny_model_dir, tmp_path, cls, lora):
    """beta > 0: the reference log-probs are those of the kept rows (before any update the reference equals the
    policy, so they equal the policy's own), computed in one forward over the batch, not one per round. With
    LoRA there is no reference copy: the reference is the model with its adapter off."""
    from peft import LoraConfig

    peft = {"peft_config": LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])} if lora else {}
    trainer = _trainer(cls, tiny_model_dir, tmp_path, ["mixed", "flat"] * 4, dynamic_sampling_max_tries=20,
                       config={"beta": 0.04}, **peft)  # fmt: skip
    assert (trainer.ref_model is None) == lora
    reference_rows = []  # rows of every no-grad forward during generation: here only the reference's
    forward = trainer._get_per_token_logps_and_entropies

    def spy(model, input_ids, *args, **kwargs):
        reference_rows.append(input_ids.size(0))
        return forward(model, input_ids, *args, **kwargs)

    trainer._get_per_token_logps_and_entropies = spy
    trainer.model.train()
    batch = trainer._generate_and_score_completions(_rows(["mixed"] * 4 + ["flat"] * 4))  # two groups of 4
    logged = trainer._metrics["train"]["dynamic_sampling/tries"]
    assert logged[-1] > 1, "half the prompts are flat: at least one refill round"
    assert reference_rows == [8] and trainer.beta == 0.04
    reference = batch["ref_per_token_logps"] * batch["completion_mask"]
    torch.testing.assert_close(reference, _policy_logps(trainer, batch), atol=1e-5, rtol=1e-5)
