"""DAPO dynamic sampling for TRL's GRPOTrainer (TRL 1.16 has none; EasyR1 `algorithm.online_filtering`,
verl `algorithm.filter_groups`).

A GRPO group whose completions all get the same total reward has zero advantage everywhere: it costs a
rollout and a forward/backward and teaches nothing. `DynamicSamplingMixin` drops such *flat* groups and
generates fresh prompts until the batch holds only *mixed* groups, or until `dynamic_sampling_max_tries`
generation rounds have run.

How, on top of TRL (nothing of the parent is copied):

- `_generate_and_score_completions` calls the parent once per round, on the dataloader's batch first and
  then on fresh batches from a second, differently seeded sampler over the training set (TRL's RepeatSampler);
- `_calculate_rewards` keeps the parent's per-function rewards, which TRL gathers from every process:
  the flat/mixed decision is made from the same numbers, in the same way, on every process, so every
  process runs the same number of rounds (and of TRL's collective calls) and none can wait forever;
- each round's rows are split per row (TRL's own `split_pixel_values_by_grid`, as `_prepare_inputs`
  does before shuffling), the rows of mixed groups are kept, and the kept rows of all rounds are
  concatenated: prompts re-padded on the left, completions and per-token tensors on the right, images
  as per-row lists; `num_items_in_batch` is recomputed for the new batch.

Advantages are the parent's, computed per round: within each group, so a kept row's advantage is what
TRL gives it. (With `scale_rewards="batch"` the std is that of the round's whole batch, flat groups
included; verl takes it over the kept batch.) Under several processes a group may be spread over
processes; each process keeps its own rows of the mixed groups and the batch is full when every process
has its per-device count. Refill prompts do not advance the training dataloader: an epoch is still one
pass of TRL's sampler.

When the tries run out, the batch is filled up with rows of flat groups, in the order they were
generated. Their advantage is zero, so they add nothing to the policy-gradient term; they only keep
the batch at the size TRL splits into `steps_per_generation` slices (exactly what TRL trains on
without dynamic sampling). `dynamic_sampling/filled_frac` reports how much of the batch that was.
They do carry the KL term (beta > 0), which then weighs about beta / kept share against the policy
gradient. With `dynamic_sampling_mask_fill=True` their completion masks are zeroed instead: the step's loss, KL term
included, is that of its mixed groups alone (TRL's loss normalisers clamp an all-masked batch to a zero
loss). That is what verl's DAPO trains on; it also gives up the KL term's pull back to the reference in a
batch of flat groups only.

With a KL term (beta > 0) the reference log-probs are computed once, on the finished batch, instead of
on every round: TRL computes them before the rewards that decide which groups are dropped, so each
refill round would pay a reference forward over rows that are then thrown away. The parent runs each
round with beta set to 0 (the only use it makes of beta is that forward), and `_reference_logps` runs
the forward TRL would have run (the reference model, or the PEFT model with its adapter off) on the
kept rows, reading them as TRL's loss reads its batch.

TRL's own reward metrics (`reward`, `frac_reward_zero_std`, ...) average over every round generated.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import torch
from trl import GRPOTrainer
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import (
    RepeatSampler,
    nanstd,
    split_pixel_values_by_grid,
    unsplit_pixel_values_by_grid,
    use_adapter,
)

from .fast_grpo import GroupSharedGRPOTrainer

logger = logging.getLogger(__name__)

# Per-row tensors whose second dimension is a token position, and the side and value they are padded with.
# (token_type_ids / mm_token_type_ids span prompt + completion: their prompt part is padded left and their
# completion part right, see `concat_rows`.)
_LEFT = {"prompt_ids": None, "prompt_mask": 0}  # None: the tokenizer's pad id
_RIGHT = {
    "completion_ids": None, "completion_mask": 0, "tool_mask": 1, "old_per_token_logps": 0.0,
    "sampling_per_token_logps": 0.0, "ref_per_token_logps": 0.0, "importance_sampling_ratio": 0.0,
}  # fmt: skip
_PROMPT_AND_COMPLETION = ("token_type_ids", "mm_token_type_ids")


def flat_groups(rewards_per_func: torch.Tensor, reward_weights: torch.Tensor, num_generations: int) -> torch.Tensor:
    """Which groups are flat: (num_rows, num_funcs) rewards -> (num_rows // num_generations,) bool.

    The total reward is TRL's (weighted nan-sum of the functions; NaN where every function returned None).
    A group is flat when its rewards' std is zero (TRL's `frac_reward_zero_std` test), or undefined (fewer
    than two scorable completions): either way its advantages carry no signal."""
    weights = reward_weights.to(rewards_per_func.device)
    rewards = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
    rewards[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan
    std = nanstd(rewards.view(-1, num_generations), dim=1)
    return ~(std > 1e-8)  # NaN compares False: flat


def flat_rows_per_process(flat: torch.Tensor, num_generations: int, num_processes: int) -> torch.Tensor:
    """(groups,) flat flags of the gathered batch -> (processes, rows per process): whether each process's row is
    in a flat group. TRL gathers rows process after process, and row r of the gathered batch is in group
    r // num_generations, so a group may be spread over processes."""
    return flat.repeat_interleave(num_generations).view(num_processes, -1)


def select_rows(rows: dict[str, Any], index: list[int]) -> dict[str, Any]:
    """The rows `index` of a per-row batch (tensors along dim 0, lists per row; 0-d tensors dropped)."""
    out = {}
    for key, value in rows.items():
        if value is None:
            out[key] = None
        elif isinstance(value, torch.Tensor):
            if value.ndim > 0:
                out[key] = value[torch.as_tensor(index, dtype=torch.long, device=value.device)]
        else:
            out[key] = [value[i] for i in index]
    return out


def _pad_to(t: torch.Tensor, width: int, value, left: bool) -> torch.Tensor:
    """`t` (rows, length, ...) cut or padded to `width` positions; on the left for prompts (whose padding is on
    the left, so a cut drops only padding when `width` covers every row's tokens), on the right otherwise."""
    if t.size(1) >= width:
        return t[:, t.size(1) - width :] if left else t[:, :width]
    fill = t.new_full((t.size(0), width - t.size(1), *t.shape[2:]), value)
    return torch.cat([fill, t] if left else [t, fill], dim=1)


def concat_rows(parts: list[dict[str, Any]], pad_token_id: int, pad_to_multiple_of: int | None = None) -> dict[str, Any]:
    """Concatenate per-row batches (each a `select_rows` result of one generation round) into one.

    Prompts are left-padded to the longest kept prompt (a round's batch may have been padded for a longer
    prompt that was dropped) and completions right-padded to the widest part, as TRL pads them; tensors of
    other widths must agree. Lists (per-row images, `num_images`) are concatenated."""
    parts = [p for p in parts if p and len(next(v for v in p.values() if v is not None)) > 0]
    if not parts:
        raise ValueError("concat_rows: nothing to concatenate")
    prompt_width = max(int(p["prompt_mask"].sum(dim=1).max()) for p in parts)
    completion_width = max(p["completion_ids"].size(1) for p in parts)
    if pad_to_multiple_of:
        prompt_width = -(-prompt_width // pad_to_multiple_of) * pad_to_multiple_of
    out: dict[str, Any] = {}
    for key, first in parts[0].items():
        values = [p[key] for p in parts]
        if first is None:
            out[key] = None
        elif not isinstance(first, torch.Tensor):
            out[key] = [item for v in values for item in v]
        elif key in _LEFT:
            fill = pad_token_id if _LEFT[key] is None else _LEFT[key]
            out[key] = torch.cat([_pad_to(v, prompt_width, fill, left=True) for v in values])
        elif key in _PROMPT_AND_COMPLETION:
            pieces = []
            for p, v in zip(parts, values, strict=True):
                width = p["prompt_ids"].size(1)
                prompt = _pad_to(v[:, :width], prompt_width, 0, left=True)
                pieces.append(torch.cat([prompt, _pad_to(v[:, width:], completion_width, 0, left=False)], dim=1))
            out[key] = torch.cat(pieces)
        elif first.ndim < 2 or all(v.shape[1:] == first.shape[1:] for v in values):
            out[key] = torch.cat(values)  # e.g. advantages, or sequence-level importance ratios (width 1)
        elif key in _RIGHT:
            fill = pad_token_id if _RIGHT[key] is None else _RIGHT[key]
            out[key] = torch.cat([_pad_to(v, completion_width, fill, left=False) for v in values])
        else:
            raise ValueError(f"dynamic sampling cannot concatenate {key!r}: its widths differ between rounds")
    return out


class DynamicSamplingMixin:
    """DAPO dynamic sampling for a `trl.GRPOTrainer` subclass (see the module docstring).

    Put it first among the bases: `class T(DynamicSamplingMixin, GRPOTrainer)`. Off (`dynamic_sampling=False`)
    it changes nothing. Logs per generation: `dynamic_sampling/kept_frac` (share of generated groups that
    were mixed), `dynamic_sampling/kept_frac/<task>` (the same per task, over this process's rows: in a multi-task
    run, which tasks the gradient comes from), `dynamic_sampling/tries` (generation rounds) and
    `dynamic_sampling/filled_frac` (share of the batch filled with flat groups because the tries ran out)."""

    def __init__(self, *args, dynamic_sampling: bool = False, dynamic_sampling_max_tries: int = 10,
                 dynamic_sampling_mask_fill: bool = False, **kwargs):
        if dynamic_sampling_max_tries < 1:
            raise ValueError(f"dynamic_sampling_max_tries must be at least 1, got {dynamic_sampling_max_tries}")
        super().__init__(*args, **kwargs)
        self.dynamic_sampling = dynamic_sampling
        self.dynamic_sampling_max_tries = dynamic_sampling_max_tries
        self.dynamic_sampling_mask_fill = dynamic_sampling_mask_fill
        if dynamic_sampling and not hasattr(self.train_dataset, "__len__"):
            raise ValueError("dynamic sampling draws fresh prompts from a map-style training dataset; got an iterable one")
        self._refill_sampler = None
        self._refill_dataset = None
        self._refill_iter = None
        self._last_rewards_per_func: torch.Tensor | None = None

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        # The parent gathers the rewards of every process: keep them for the flat/mixed decision.
        self._last_rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        return self._last_rewards_per_func

    def _next_refill_batch(self) -> list[dict]:
        """This process's share of a fresh generation batch, laid out as the training dataloader lays it out.

        The indices come from TRL's RepeatSampler (each prompt `num_generations` times in a row) on its own
        shuffled pass over the data, seeded apart from the main sampler (whose order it would otherwise
        repeat) and by the step (so a resumed run does not replay its first refills). Process r takes the
        r-th slice of each global batch, as accelerate's batch sharding does. The rows are read directly
        from the dataset, not through a second prepared DataLoader, which would register with accelerate's
        gradient state and could change what it reports about the main dataloader's end."""
        if self._refill_sampler is None:
            self._refill_sampler = RepeatSampler(
                data_source=self.train_dataset,
                mini_repeat_count=self.num_generations,
                batch_size=self.args.generation_batch_size // self.num_generations,
                repeat_count=1,  # every batch fresh: the main sampler repeats batches for reuse across steps
                shuffle=True,
                seed=self.args.seed + 1 + self.state.global_step,
            )
            self._refill_dataset = self.train_dataset
            if self.args.remove_unused_columns:  # as the training dataloader does
                self._refill_dataset = self._remove_unused_columns(self.train_dataset, description="Training")
        size = self.args.generation_batch_size
        local = size // self.accelerator.num_processes
        for _ in range(2):  # at the end of a pass, start the next (the sampler draws a new order)
            if self._refill_iter is None:
                self._refill_iter = iter(self._refill_sampler)
            indices = list(itertools.islice(self._refill_iter, size))
            if len(indices) == size:
                mine = indices[self.accelerator.process_index * local : (self.accelerator.process_index + 1) * local]
                return self.data_collator([self._refill_dataset[i] for i in mine])
            self._refill_iter = None
        raise ValueError("dynamic sampling: the training set holds fewer prompts than one generation batch")

    def _generate_and_score_completions(self, inputs):
        if not self.dynamic_sampling or not self.model.training:
            return super()._generate_and_score_completions(inputs)
        generations = self.num_generations
        processes, rank = self.accelerator.num_processes, self.accelerator.process_index
        need = len(inputs)  # rows this process hands on; every process has as many
        kept_parts, flat_parts = [], []
        kept_rows = torch.zeros(processes, dtype=torch.long)  # kept rows so far, per process
        groups_seen = groups_kept = tries = 0
        task_rows: dict[str, list[int]] = {}  # task -> [rows generated, rows in mixed groups], this process's rows
        batch = inputs
        beta, self.beta = self.beta, 0.0  # the reference forward runs once, on the kept rows (module docstring)
        try:
            while True:
                tries += 1
                output = super()._generate_and_score_completions(batch)
                n = len(batch)
                flat = flat_groups(self._last_rewards_per_func, self.reward_weights, generations).cpu()
                row_flat = flat_rows_per_process(flat, generations, processes)
                kept_rows += (~row_flat).sum(dim=1)
                groups_seen += flat.numel()
                groups_kept += int((~flat).sum())
                rows = split_pixel_values_by_grid(output)
                local = row_flat[rank].tolist()
                for row, is_flat in zip(batch, local, strict=True):
                    if isinstance(row, dict) and row.get("task") is not None:
                        counts = task_rows.setdefault(str(row["task"]), [0, 0])
                        counts[0] += 1
                        counts[1] += not is_flat
                kept_parts.append(select_rows(rows, [i for i in range(n) if not local[i]]))
                flat_parts.append(select_rows(rows, [i for i in range(n) if local[i]]))
                # Decided from gathered numbers only: every process leaves the loop after the same round.
                if int(kept_rows.min()) >= need or tries >= self.dynamic_sampling_max_tries:
                    break
                batch = self._next_refill_batch()
        finally:
            self.beta = beta

        # Mixed groups in the order generated, then (only if the tries ran out) flat ones: the first `need` rows.
        chosen, missing = [], need
        for part in kept_parts + flat_parts:
            take = min(missing, len(part["advantages"]))
            if take:
                chosen.append(select_rows(part, list(range(take))))
                missing -= take
        merged = concat_rows(chosen, self._tokenizer.pad_token_id, self.pad_to_multiple_of)
        merged = unsplit_pixel_values_by_grid(merged)
        if self.dynamic_sampling_mask_fill:  # the filler rows (the last ones) leave the loss, KL term included
            kept_here = min(need, sum(len(part["advantages"]) for part in kept_parts))
            merged["completion_mask"][kept_here:] = 0
        loss_mask = merged["completion_mask"]
        if merged.get("tool_mask") is not None:
            loss_mask = loss_mask * merged["tool_mask"]
        merged["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        if self.beta != 0.0:
            merged["ref_per_token_logps"] = self._reference_logps(merged)

        filled = (need - kept_rows.clamp(max=need)).sum().item() / (need * processes)
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/kept_frac"].append(groups_kept / groups_seen)
        metrics["dynamic_sampling/tries"].append(float(tries))
        metrics["dynamic_sampling/filled_frac"].append(filled)
        for task, (generated, kept) in task_rows.items():  # which tasks the step's gradient comes from (multi-task runs)
            metrics[f"dynamic_sampling/kept_frac/{task}"].append(kept / generated)
        if filled:
            logger.debug("dynamic sampling: %d tries left %.0f%% of the batch to flat groups", tries, 100 * filled)
        return merged


    def _reference_logps(self, batch: dict[str, Any]) -> torch.Tensor:
        """Per-token log-probs of `batch`'s completions under the reference policy, as TRL's
        `_generate_and_score_completions` computes `ref_per_token_logps` (the reference model when there is one,
        else the PEFT model with its adapter off, or its "ref" adapter), with the inputs read as TRL's
        `_compute_loss` reads a finished batch."""
        input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
        attention_mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
        forward = dict(
            batch_size=self.args.per_device_train_batch_size, pixel_values=batch.get("pixel_values"),
            image_grid_thw=batch.get("image_grid_thw"), num_images=batch.get("num_images"),
            pixel_attention_mask=batch.get("pixel_attention_mask"), spatial_shapes=batch.get("spatial_shapes"),
            num_tiles=batch.get("num_tiles"), image_sizes=batch.get("image_sizes"),
            token_type_ids=batch.get("token_type_ids"), mm_token_type_ids=batch.get("mm_token_type_ids"),
            image_position_ids=batch.get("image_position_ids"),
        )  # fmt: skip
        logits_to_keep = batch["completion_ids"].size(1)
        with torch.no_grad(), disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs):
            if self.ref_model is not None:
                logps, _, _ = self._get_per_token_logps_and_entropies(
                    self.ref_model, input_ids, attention_mask, logits_to_keep, **forward
                )
            else:
                model = self.accelerator.unwrap_model(self.model)
                with use_adapter(model, adapter_name="ref" if "ref" in model.peft_config else None):
                    logps, _, _ = self._get_per_token_logps_and_entropies(
                        self.model, input_ids, attention_mask, logits_to_keep, **forward
                    )
        return logps


class DynamicSamplingGRPOTrainer(DynamicSamplingMixin, GRPOTrainer):
    """`trl.GRPOTrainer` with DAPO dynamic sampling (`dynamic_sampling=True`)."""


class DynamicSamplingSharedGRPOTrainer(DynamicSamplingMixin, GroupSharedGRPOTrainer):
    """`GroupSharedGRPOTrainer` (one prompt encoding per group) with DAPO dynamic sampling."""
