"""GRPO with the prompt shared across its group: same algorithm as TRL's GRPOTrainer, less work.

In GRPO every prompt is sampled G times (`num_generations`) and TRL treats the G rows as independent
sequences: the images are encoded and the prompt is prefilled G times when generating, and again G
times (with gradients) in the training forward/backward. `GroupSharedGRPOTrainer` runs the vision
encoder and the prompt once per *distinct* prompt, copies the prompt's key/value cache to its rows,
and runs only the completion tokens per row:

- generation (`_generate_single_turn`): one prefill per distinct prompt, then a lean sampling loop
  that applies the same logits processors as `model.generate` (suppressed tokens, temperature,
  top-k, top-p) and the same EOS / padding rules;
- training forward (`_get_per_token_logps_and_entropies`): the prompt minus its last token is run
  once with gradients; its cache is expanded with `index_select` (so gradients flow back to the
  shared prompt); each row then runs [last prompt token, completion] through TRL's own fused LM head,
  so the per-token log-probs and entropies (temperature scaling included) are the parent's.

Everything else (rewards, advantages, loss, optimiser, logging) is TRL's. Anything this class does
not handle (vLLM, continuous batching, tools, models other than Qwen-VL, repetition penalty, min-p,
gradient checkpointing, DDP-wrapped models, MoE aux losses, ...) goes to the parent's code path.
"""

from __future__ import annotations

import copy
import hashlib
import logging

import numpy as np
import torch
import trl
from accelerate.utils import is_peft_model
from packaging.version import InvalidVersion, Version
from transformers import DynamicCache
from transformers.cache_utils import Cache, DynamicLayer
from transformers.generation.logits_process import (
    LogitsProcessorList,
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)
from trl import GRPOTrainer
from trl.extras.profiling import profiling_context
from trl.models import unwrap_model_for_generation
from trl.trainer.utils import pad

logger = logging.getLogger(__name__)

# The TRL release this trainer was written and tested against (pyproject pins trl==1.16.0). It overrides
# private GRPOTrainer methods, whose signatures and contracts TRL may change in any other release.
SUPPORTED_TRL = (1, 16)


def shared_prompt_supported() -> tuple[bool, str]:
    """(True, "") when the installed TRL is a 1.16.x release; else (False, why) and callers use TRL's own trainer."""
    try:
        release = Version(trl.__version__).release[:2]
    except InvalidVersion:
        release = None
    if release == SUPPORTED_TRL:
        return True, ""
    wanted = ".".join(map(str, SUPPORTED_TRL))
    return False, (f"GroupSharedGRPOTrainer overrides private methods of TRL {wanted}.x, "
                   f"but TRL {trl.__version__} is installed")


# Generation settings the lean sampling loop reproduces. Any other non-default setting of the effective
# generation config (e.g. repetition_penalty, min_p, typical_p, num_beams) sends generation to the parent.
_SUPPORTED_GENERATION_KEYS = {
    "max_new_tokens", "do_sample", "pad_token_id", "bos_token_id", "eos_token_id", "temperature", "top_p", "top_k",
    "suppress_tokens", "use_cache", "disable_compile", "transformers_version", "_from_model_config",
    # Present in TRL's kwargs; accepted only at their neutral values (checked in `_lean_generation_config`).
    "min_p", "repetition_penalty", "cache_implementation",
}
# Multimodal fields the shared path knows how to split per row (Qwen2.5/3-VL processors).
_SUPPORTED_MM_FIELDS = {"pixel_values", "image_grid_thw", "mm_token_type_ids"}


def _core_model(model):
    """The transformers model under a PEFT wrapper (LoRA layers are injected in place, so calling it trains them)."""
    return model.get_base_model() if is_peft_model(model) else model


def _is_qwen_vl(core) -> bool:
    """Qwen-VL style models: a `model` holding `visual`, `language_model` and the 3-D (mrope) `get_rope_index`."""
    inner = getattr(core, "model", None)
    return (
        inner is not None
        and hasattr(inner, "get_rope_index")
        and hasattr(inner, "language_model")
        and hasattr(inner, "visual")
        and hasattr(core, "lm_head")
    )


def group_rows(keys: list) -> tuple[list[int], torch.Tensor]:
    """Distinct keys in first-seen order: (index of the first row of each group, row -> group index).

    Rows are not assumed to be grouped or ordered; only equal keys are shared."""
    group_of: dict = {}
    firsts, row_to_group = [], []
    for i, key in enumerate(keys):
        if key not in group_of:
            group_of[key] = len(firsts)
            firsts.append(i)
        row_to_group.append(group_of[key])
    return firsts, torch.tensor(row_to_group, dtype=torch.long)


def _digest(*tensors: torch.Tensor) -> bytes:
    """Content hash of tensors: two prompts with identical token ids but different images must not be shared."""
    h = hashlib.blake2b(digest_size=16)
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        # Raw bytes via uint8, so that dtypes numpy lacks (bfloat16) hash too.
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.digest()


def _patch_offsets(image_grid_thw: torch.Tensor, num_images: list[int]) -> tuple[list[int], list[int]]:
    """Per row: (first image index, first pixel_values row). Qwen-VL flattens all patches of all images."""
    patches = image_grid_thw.prod(dim=-1).tolist()
    img_start, row_start, i, r = [], [], 0, 0
    for n in num_images:
        img_start.append(i)
        row_start.append(r)
        r += sum(patches[i : i + n])
        i += n
    img_start.append(i)
    row_start.append(r)
    return img_start, row_start


def _select_images(pixel_values, image_grid_thw, num_images, rows):
    """pixel_values / image_grid_thw restricted to `rows` (in that order)."""
    img_start, row_start = _patch_offsets(image_grid_thw, num_images)
    pv = torch.cat([pixel_values[row_start[r] : row_start[r + 1]] for r in rows])
    grid = torch.cat([image_grid_thw[img_start[r] : img_start[r + 1]] for r in rows])
    return pv, grid


def expand_cache(cache: DynamicCache, index: torch.Tensor, config=None) -> DynamicCache:
    """A new cache whose row i is row `index[i]` of `cache`.

    `index_select` is differentiable, so gradients of every row flow back (summed) into the shared prompt."""
    index = index.to(cache.layers[0].keys.device)
    data = [(layer.keys.index_select(0, index), layer.values.index_select(0, index)) for layer in cache.layers]
    return DynamicCache(ddp_cache_data=data, config=config)


class _PreallocatedLayer(DynamicLayer):
    """A DynamicLayer that writes new keys/values into a buffer sized for the whole generation.

    DynamicLayer concatenates the whole cache on every decoding step (quadratic copying; about a quarter of
    the decode time of the small backbone on CPU). Here `keys`/`values` are views of the filled prefix."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, capacity: int):
        super().__init__()
        batch, heads, length, dim = keys.shape
        self.lazy_initialization(keys, values)
        self._k = keys.new_empty(batch, heads, length + capacity, dim)
        self._v = values.new_empty(batch, heads, length + capacity, values.shape[-1])
        self._k[:, :, :length] = keys
        self._v[:, :, :length] = values
        self._length = length
        self.keys, self.values = self._k[:, :, :length], self._v[:, :, :length]

    def update(self, key_states, value_states, *args, **kwargs):
        end = self._length + key_states.shape[-2]
        self._k[:, :, self._length : end] = key_states
        self._v[:, :, self._length : end] = value_states
        self._length = end
        self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
        return self.keys, self.values


def expand_cache_for_decoding(cache: DynamicCache, index: torch.Tensor, capacity: int) -> Cache:
    """`expand_cache` for generation (no gradients): rows `index` of `cache`, with room for `capacity` tokens."""
    index = index.to(cache.layers[0].keys.device)
    layers = [
        _PreallocatedLayer(layer.keys.index_select(0, index), layer.values.index_select(0, index), capacity)
        for layer in cache.layers
    ]
    return Cache(layers=layers)


def prompt_positions(inner, input_ids, attention_mask, mm_token_type_ids, image_grid_thw):
    """3-D mrope positions of left-padded prompts, shape (3, batch, len), as the model computes them."""
    positions, _ = inner.get_rope_index(
        input_ids, mm_token_type_ids=mm_token_type_ids, image_grid_thw=image_grid_thw, attention_mask=attention_mask
    )
    return positions


class GroupSharedGRPOTrainer(GRPOTrainer):
    """`trl.GRPOTrainer` that encodes and prefills each distinct prompt once per batch instead of once per row.

    Same inputs, outputs and loss as the parent; see the module docstring for what is shared and when the
    parent's code path is used instead. `shared_stats` counts how often each path ran, and how many prompt
    prefills served how many rows on the shared paths (for tests and benchmarks).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shared_stats = dict.fromkeys(
            ("generate_shared", "generate_parent", "generate_prefills", "generate_rows",
             "forward_shared", "forward_parent", "forward_prefills", "forward_rows"),
            0,
        )

    # ------------------------------------------------------------------ generation

    def _lean_generation_config(self, core):
        """The generation config `generate` would use (model defaults overridden by TRL's kwargs), or None
        when it asks for something the lean loop does not implement."""
        cfg = copy.deepcopy(core.generation_config)
        cfg.update(**self.generation_kwargs)
        extra = set(cfg.to_diff_dict()) - _SUPPORTED_GENERATION_KEYS
        if extra:
            logger.debug("group-shared generation off: unsupported generation settings %s", sorted(extra))
            return None
        if cfg.repetition_penalty not in (None, 1.0) or cfg.min_p is not None:
            return None
        if cfg.cache_implementation not in (None, "dynamic"):
            return None
        if cfg.use_cache is False or not cfg.max_new_tokens:
            return None
        return cfg

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        """Sample completions with one vision encoding + prefill per distinct (prompt ids, images) pair.

        Returns what the parent returns: (completion id lists cut after the first EOS, None)."""
        core = _core_model(self.accelerator.unwrap_model(self.model_wrapped))
        usable = (
            not self.use_vllm
            and not self.use_transformers_continuous_batching
            and not has_tool_images
            and not self.tools
            and getattr(self, "environment_factories", None) is None
            and _is_qwen_vl(core)
            and images is not None
            and set(multimodal_fields) <= _SUPPORTED_MM_FIELDS
            and {"pixel_values", "image_grid_thw", "mm_token_type_ids"} <= set(multimodal_fields)
        )
        cfg = self._lean_generation_config(core) if usable else None
        if cfg is None:
            self.shared_stats["generate_parent"] += 1
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations, has_tool_images)
        self.shared_stats["generate_shared"] += 1

        device = self.accelerator.device
        pixel_values = torch.as_tensor(np.asarray(multimodal_fields["pixel_values"]))
        image_grid_thw = torch.as_tensor(np.asarray(multimodal_fields["image_grid_thw"]))
        mm_types = [list(m) for m in multimodal_fields["mm_token_type_ids"]]
        num_images = [len(imgs) if imgs else 0 for imgs in images]

        # Key each row by its token ids and its pixels: different images can give identical ids.
        img_start, row_start = _patch_offsets(image_grid_thw, num_images)
        keys = [
            (tuple(ids), _digest(pixel_values[row_start[i] : row_start[i + 1]], image_grid_thw[img_start[i] : img_start[i + 1]]))
            for i, ids in enumerate(prompt_ids)
        ]
        firsts, row_to_group = group_rows(keys)
        self.shared_stats["generate_prefills"] += len(firsts)
        self.shared_stats["generate_rows"] += len(keys)
        pv, grid = _select_images(pixel_values, image_grid_thw, num_images, firsts)

        kw = {"padding_side": "left", "pad_to_multiple_of": self.pad_to_multiple_of}
        ids = pad([torch.tensor(prompt_ids[i]) for i in firsts], padding_value=self._tokenizer.pad_token_id, **kw)
        mask = pad([torch.ones(len(prompt_ids[i]), dtype=torch.long) for i in firsts], padding_value=0, **kw)
        types = pad([torch.tensor(mm_types[i]) for i in firsts], padding_value=0, **kw)

        with (
            profiling_context(self, "group_shared.generate"),
            unwrap_model_for_generation(
                self.model_wrapped,
                self.accelerator,
                gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                generation_kwargs=self.generation_kwargs,
                gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
            ) as unwrapped_model,
            torch.no_grad(),
            self._dist.summon_full_params(self.model_wrapped, recurse=False),
        ):
            tokens = self._sample_shared(
                _core_model(unwrapped_model),
                cfg,
                ids.to(device),
                mask.to(device),
                types.to(device),
                pv.to(device),
                grid.to(device),
                row_to_group.to(device),
            )
        return self._cut_after_eos(tokens), None

    def _sample_shared(self, core, cfg, ids, mask, types, pixel_values, image_grid_thw, row_to_group):
        """Prefill the distinct prompts, expand the cache to all rows and sample `cfg.max_new_tokens` tokens.

        Mirrors `GenerationMixin._sample`: float32 scores, the same processors in the same order, multinomial
        sampling (argmax when `do_sample` is off), finished rows padded with `pad_token_id`, early stop when
        every row has emitted an EOS."""
        inner = core.model
        positions = prompt_positions(inner, ids, mask, types, image_grid_thw)
        out = inner(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            pixel_values=pixel_values,
            image_grid_thw=image_grid_thw,
            use_cache=True,
        )
        cache = expand_cache_for_decoding(out.past_key_values, row_to_group, cfg.max_new_tokens)
        logits = core.lm_head(out.last_hidden_state[:, -1]).float()[row_to_group]
        # Text after the prompt continues at (largest prompt position + 1) on all three mrope axes,
        # which is what `cache_position + rope_deltas` gives in `generate`.
        next_pos = positions.amax(dim=(0, 2))[row_to_group] + 1
        attention = mask[row_to_group]
        seq = ids[row_to_group]  # processors get the full sequences, as in `generate`

        processors = self._logits_processors(cfg, ids.device)
        eos = torch.tensor(cfg.eos_token_id if isinstance(cfg.eos_token_id, list) else [cfg.eos_token_id], device=ids.device)
        pad_id = cfg.pad_token_id if cfg.pad_token_id is not None else int(eos[0])
        unfinished = torch.ones(seq.size(0), dtype=torch.bool, device=ids.device)
        generated = []
        for step in range(cfg.max_new_tokens):
            scores = processors(seq, logits)
            if cfg.do_sample:
                token = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
            else:
                token = scores.argmax(dim=-1)
            token = torch.where(unfinished, token, torch.full_like(token, pad_id))
            generated.append(token)
            unfinished &= ~torch.isin(token, eos)
            if step + 1 == cfg.max_new_tokens or not bool(unfinished.any()):
                break
            seq = torch.cat([seq, token[:, None]], dim=1)
            attention = torch.cat([attention, attention.new_ones(attention.size(0), 1)], dim=1)
            pos = (next_pos + step).view(1, -1, 1).expand(3, -1, 1)
            hidden = inner.language_model(
                input_ids=token[:, None], attention_mask=attention, position_ids=pos, past_key_values=cache, use_cache=True
            ).last_hidden_state
            logits = core.lm_head(hidden[:, -1]).float()
        return torch.stack(generated, dim=1)

    @staticmethod
    def _logits_processors(cfg, device) -> LogitsProcessorList:
        """The subset of `GenerationMixin._get_logits_processor` the supported settings produce, in its order."""
        processors = LogitsProcessorList()
        if cfg.suppress_tokens is not None:
            processors.append(SuppressTokensLogitsProcessor(cfg.suppress_tokens, device=device))
        if cfg.do_sample:
            if cfg.temperature is not None and cfg.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(cfg.temperature))
            if cfg.top_k is not None and cfg.top_k != 0:
                processors.append(TopKLogitsWarper(top_k=cfg.top_k, min_tokens_to_keep=1))
            if cfg.top_p is not None and cfg.top_p < 1.0:
                processors.append(TopPLogitsWarper(top_p=cfg.top_p, min_tokens_to_keep=1))
        return processors

    def _cut_after_eos(self, tokens: torch.Tensor) -> list[list[int]]:
        """Completion id lists up to and including the first EOS, as the parent returns them."""
        eos = set(self.eos_token_ids)
        result = []
        for row in tokens.tolist():
            cut = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
            result.append(row[:cut])
        return result

    # ------------------------------------------------------------------ training forward

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        compute_aux_loss=False,
        pixel_values=None,
        image_grid_thw=None,
        num_images=None,
        pixel_attention_mask=None,
        spatial_shapes=None,
        num_tiles=None,
        image_sizes=None,
        token_type_ids=None,
        mm_token_type_ids=None,
        image_position_ids=None,
    ):
        """Per-token log-probs (and entropies) of the completion tokens, with each distinct prompt run once.

        Equal to the parent's up to float rounding; falls back to it when rows share no prompt or the
        inputs/model are outside what the shortcut handles."""
        args = dict(
            batch_size=batch_size, compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss,
            pixel_values=pixel_values, image_grid_thw=image_grid_thw, num_images=num_images,
            pixel_attention_mask=pixel_attention_mask, spatial_shapes=spatial_shapes, num_tiles=num_tiles,
            image_sizes=image_sizes, token_type_ids=token_type_ids, mm_token_type_ids=mm_token_type_ids,
            image_position_ids=image_position_ids,
        )  # fmt: skip
        plan = self._forward_plan(model, input_ids, attention_mask, logits_to_keep, **args)
        if plan is None:
            self.shared_stats["forward_parent"] += 1
            return super()._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep, **args)
        self.shared_stats["forward_shared"] += 1

        n = input_ids.size(0)
        chunk = batch_size or n  # keep the parent's chunking: it bounds peak memory
        all_logps, all_entropies = [], []
        for start in range(0, n, chunk):
            rows = list(range(start, min(start + chunk, n)))
            logps, entropy = self._shared_chunk(
                model, rows, plan, input_ids, attention_mask, logits_to_keep, pixel_values, image_grid_thw,
                num_images, mm_token_type_ids,
            )  # fmt: skip
            all_logps.append(logps)
            all_entropies.append(entropy)
        logps = torch.cat(all_logps, dim=0)
        entropies = torch.cat(all_entropies, dim=0) if compute_entropy else None
        return logps, entropies, None

    def _forward_plan(self, model, input_ids, attention_mask, logits_to_keep, **args):
        """Row keys for sharing, or None when the parent must run (see the module docstring)."""
        unsupported = (
            "pixel_attention_mask", "spatial_shapes", "num_tiles", "image_sizes", "token_type_ids", "image_position_ids"
        )  # fmt: skip
        if args["compute_aux_loss"] or any(args[k] is not None for k in unsupported):
            return None
        if args["pixel_values"] is None or args["image_grid_thw"] is None or args["mm_token_type_ids"] is None:
            return None
        if args["num_images"] is None:
            return None
        # DDP must see the forward through its wrapper; and checkpointed layers drop the cache.
        if self.accelerator.unwrap_model(model) is not model:
            return None
        core = _core_model(model)
        if not _is_qwen_vl(core) or (getattr(core, "is_gradient_checkpointing", False) and core.training):
            return None
        prompt_len = input_ids.size(1) - logits_to_keep
        if prompt_len < 2:
            return None
        # The last prompt token is re-run per row (its logits score completion token 0): it must be real text.
        if not bool(attention_mask[:, prompt_len - 1].all()) or bool(args["mm_token_type_ids"][:, prompt_len - 1].any()):
            return None
        img_start, row_start = _patch_offsets(args["image_grid_thw"], args["num_images"])
        keys = [
            _digest(
                input_ids[i, :prompt_len], attention_mask[i, :prompt_len], args["mm_token_type_ids"][i, :prompt_len],
                args["pixel_values"][row_start[i] : row_start[i + 1]], args["image_grid_thw"][img_start[i] : img_start[i + 1]],
            )  # fmt: skip
            for i in range(input_ids.size(0))
        ]
        if len(set(keys)) == len(keys):
            return None  # nothing repeated: the parent's single pass is as cheap
        return {"keys": keys, "prompt_len": prompt_len}

    def _shared_chunk(
        self, model, rows, plan, input_ids, attention_mask, logits_to_keep, pixel_values, image_grid_thw, num_images,
        mm_token_type_ids,
    ):  # fmt: skip
        """One chunk: prefill prompt[:-1] once per distinct prompt, then [last prompt token, completion] per row."""
        core = _core_model(model)
        inner = core.model
        p = plan["prompt_len"]
        firsts_local, row_to_group = group_rows([plan["keys"][r] for r in rows])
        firsts = [rows[i] for i in firsts_local]
        self.shared_stats["forward_prefills"] += len(firsts)
        self.shared_stats["forward_rows"] += len(rows)
        row_to_group = row_to_group.to(input_ids.device)
        pv, grid = _select_images(pixel_values, image_grid_thw, num_images, firsts)

        prompt_ids = input_ids[firsts, :p]
        prompt_mask = attention_mask[firsts, :p]
        positions = prompt_positions(inner, prompt_ids, prompt_mask, mm_token_type_ids[firsts, :p], grid)

        with self.accelerator.autocast():
            prefix = inner(
                input_ids=prompt_ids[:, :-1],
                attention_mask=prompt_mask[:, :-1],
                position_ids=positions[:, :, :-1],
                pixel_values=pv,
                image_grid_thw=grid,
                use_cache=True,
            )
            cache = expand_cache(prefix.past_key_values, row_to_group, config=core.config)

            # Per row: the last prompt token (whose hidden state scores completion token 0) + the completion.
            # Completion positions continue the prompt's on all mrope axes, as in the parent's full forward.
            tail_ids = input_ids[rows, p - 1 :]
            tail_pos = positions[:, :, -1:][:, row_to_group] + torch.arange(tail_ids.size(1), device=tail_ids.device)
            full_mask = attention_mask[rows]
            labels = tail_ids.masked_fill(full_mask[:, p - 1 :] == 0, -100)
            labels[:, 0] = -100
            outputs = model(
                input_ids=tail_ids,
                attention_mask=full_mask,
                position_ids=tail_pos,
                past_key_values=cache,
                labels=labels,
                fused_lm_head=True,
            )
        logps = outputs.log_probs[:, -logits_to_keep:]
        entropy = outputs.entropy[:, -logits_to_keep:] if outputs.entropy is not None else None
        return logps, entropy
