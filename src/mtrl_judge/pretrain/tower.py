"""`mtrl-judge pretrain-tower`: a dense warm-up of a base's vision tower on what each visual token shows.

The language-model loss of `mtrl-judge pretrain` reaches the vision tower only through whatever answer
the text model can already give, one token at a time; `benchmarks/tower_probe.py` found shapes and sign
symbols only partly in the visual tokens of the committed bases (linear probes 0.67 and 0.63 where
colours reach 0.99). This stage teaches the tower directly: fresh train-partition scenes, rendered on the
fly, and for every merged visual token (what the language model receives) a small linear head per
target names what sits at that token's cell:

- `objects`: how many object centres fall in the cell (0, 1, 2 or more): presence and counting;
- `colour`, `shape`: of the object centred there (cells with none, or with two of different kinds, are
  not scored);
- `symbol`: of the sign plate centred there.

With `cells="covered"` (`--cells covered`) colour, shape and symbol are named on every token whose cell's centre lies
inside the object's box or the plate, not only at its centre: an object of 20-31 px covers two to three 16-px cells
a side, and trained on its centre alone the tower leaves its shape mostly there (linear probes 0.82 at the centre,
0.63 on its other tokens, where colour is 1.00 and 0.92), so the language model cannot find an object by its shape
from any of its tokens (docs/base.md, "Several questions an image"). Spreading the symbol over the plate as well
costs it at the plate's centre (0.87 -> 0.75 linearly at 400 steps: the plate's edge tokens see the post and the
background), so `cells="mixed"` spreads colour and shape only and names the symbol at the plate's centre.

Only the tower trains (the text model is untouched), so the language model then has to learn to read the
new tokens: a warmed base is meant to be continued with `mtrl-judge pretrain --init` (docs/base.md). The
heads are thrown away; the output is a base folder like any other, whose pretrain.json records the
command and lineage. Runs on a CUDA GPU in bf16 with data-loader workers when there is one (the scenes
are drawn in the workers), else on the CPU, and resumes like `pretrain` (a killed run from its last
checkpoint; one stopped by --time-limit with the same call and --overwrite).

Measured on the CPU (docs/base.md): 400 steps of 32 scenes lift those linear probes to 0.79 (shape) and 0.87
(symbol); a 9,600-example continuation afterwards kept most of it in the tokens but not yet in the answers.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.world.common import scene_in_split
from ..data.world.scene import COLOURS, SHAPES, SIZE, object_box, render
from ..data.world.symbols import ALLOWED, FORBIDDEN
from ..errors import JudgeError
from ..io import atomic_dir, refuse_nonempty_folder, write_json
from .cache import patchify

logger = logging.getLogger(__name__)

SYMBOLS = tuple(FORBIDDEN) + tuple(ALLOWED)
TARGETS = {"objects": 3, "colour": len(COLOURS), "shape": len(SHAPES), "symbol": len(SYMBOLS)}
IGNORE = -100  # cross_entropy's ignore_index: a token with nothing to name for this target


def draw_scene(rng: np.random.Generator) -> dict:
    """A fresh train-partition scene drawn as the corpus draws those of its symbol questions: up to two distractors
    and one sign. One, because every item stands in the ground row: a second 36-45 px plate beside the objects
    seldom fits in 128 px (a third never does), so more signs would mean fewer objects, not more symbols."""
    return scene_in_split(rng, "train", max_distractors=2, signs=[str(rng.choice(SYMBOLS))])[1]


# Which tokens name an object's colour and shape and a plate's symbol: its centre's; every token it covers; or every
# token an object covers and a plate's centre alone ("mixed": covered plates cost the symbol at the centre, where the
# plate's edge tokens must name it from the post and the background, docs/base.md).
CELLS = ("centre", "covered", "mixed")


def labelled_cells(scene: dict, cell: int, cells: str = "centre") -> list[tuple[int, str, int]]:
    """(token index, target, class) for every object (colour, shape) and sign (symbol) of a scene: the merged
    token whose cell holds its centre, row-major as the merge windows are ordered, and with `cells="covered"` also
    every token whose cell's centre lies inside the object's box or the sign's plate (`"mixed"`: the object's box
    only)."""
    per_row = SIZE // cell

    def at(x: float, y: float) -> int:
        return int(np.clip(y, 0, SIZE - 1)) // cell * per_row + int(np.clip(x, 0, SIZE - 1)) // cell

    def tokens(x0: float, y0: float, x1: float, y1: float, spread: bool) -> list[int]:
        centre = at((x0 + x1) / 2, (y0 + y1) / 2)
        if not spread:
            return [centre]
        inside = [gy * per_row + gx for gy in range(per_row) for gx in range(per_row)
                  if x0 <= (gx + 0.5) * cell <= x1 and y0 <= (gy + 0.5) * cell <= y1]
        return [centre] + [t for t in inside if t != centre]

    rows = []
    for o in scene["objects"]:
        for token in tokens(*object_box(o), spread=cells != "centre"):
            rows += [(token, "colour", list(COLOURS).index(o["colour"])), (token, "shape", list(SHAPES).index(o["shape"]))]
    for s in scene["signs"]:
        half, y = s["size"] / 2, s["bottom"] - s["post"] - s["size"] / 2
        plate = tokens(s["x"] - half, y - half, s["x"] + half, y + half, spread=cells == "covered")
        rows += [(token, "symbol", SYMBOLS.index(s["symbol"])) for token in plate]
    return rows


def token_targets(scene: dict, cell: int, cells: str = "centre") -> np.ndarray:
    """(len(TARGETS), tokens) int64 classes per visual token, IGNORE where a target has nothing, or two different
    things, to name there (`cells`: labelled_cells). `objects` is defined at every token: the number of object
    centres in its cell, capped at 2."""
    tokens = (SIZE // cell) ** 2
    seen: dict[tuple[str, int], set[int]] = {}
    out = np.full((len(TARGETS), tokens), IGNORE, dtype=np.int64)
    out[0] = 0
    centres = labelled_cells(scene, cell)
    for token, target, _ in centres:
        if target == "colour":  # one colour row per object, at its centre
            out[0, token] = min(out[0, token] + 1, 2)
    for token, target, cls in centres if cells == "centre" else labelled_cells(scene, cell, cells):
        seen.setdefault((target, token), set()).add(cls)
    rows = {t: i for i, t in enumerate(TARGETS)}
    for (target, token), classes in seen.items():
        if len(classes) == 1:
            out[rows[target], token] = classes.pop()
    return out


class SceneTargets(torch.utils.data.Dataset):
    """Item i: a scene drawn from its own seed (seed, i), rendered, with its per-token targets. Drawn on access
    (in the data-loader workers on a GPU machine), so nothing is cached and a resumed run sees the same items."""

    def __init__(self, n: int, seed: int, cell: int, cells: str = "centre"):
        self.n, self.seed, self.cell, self.cells = n, seed, cell, cells

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        scene = draw_scene(np.random.default_rng([self.seed, i]))
        return {"image": np.asarray(render(scene), dtype=np.uint8), "targets": token_targets(scene, self.cell, self.cells)}


class TargetCollator:
    """Batches of SceneTargets items: the images laid out as the Qwen-VL processor would, the targets stacked."""

    def __init__(self, image_processor):
        self.image_processor = image_processor

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        pixel_values, grid = patchify(torch.from_numpy(np.stack([it["image"] for it in items])), self.image_processor)
        return {"pixel_values": pixel_values, "image_grid_thw": grid,
                "targets": torch.from_numpy(np.stack([it["targets"] for it in items]))}


class TowerWithHeads(nn.Module):
    """A Qwen3-VL vision tower and one linear head per target on its merged tokens. forward returns the summed
    cross-entropy of every target (each averaged over the tokens that have one) and the per-target terms."""

    def __init__(self, visual: nn.Module, width: int):
        super().__init__()
        self.visual = visual
        self.heads = nn.ModuleDict({t: nn.Linear(width, k) for t, k in TARGETS.items()})

    def forward(self, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor, targets: torch.Tensor | None = None):
        seen = self.visual(pixel_values.to(next(self.visual.parameters()).dtype), grid_thw=image_grid_thw, return_dict=True)
        tokens = seen.pooler_output.reshape(len(image_grid_thw), -1, seen.pooler_output.shape[-1])
        logits = {t: head(tokens).float() for t, head in self.heads.items()}
        if targets is None:
            return {"logits": logits}
        terms = {t: nn.functional.cross_entropy(logits[t].flatten(0, 1), targets[:, i].flatten(), ignore_index=IGNORE)
                 for i, t in enumerate(TARGETS) if (targets[:, i] != IGNORE).any()}
        return {"loss": sum(terms.values()), "logits": logits, **{f"loss_{t}": v for t, v in terms.items()}}


@torch.no_grad()
def head_accuracy(model: TowerWithHeads, collator: TargetCollator, data: SceneTargets, batch_size: int = 32) -> dict[str, float]:
    """Accuracy of each head on every token that has a target in `data`; for `objects`, on the tokens that hold
    at least one object centre (most cells are empty: all-zero would score about 0.95 there)."""
    model.eval()
    device = next(model.parameters()).device
    right = {t: 0 for t in TARGETS}
    total = {t: 0 for t in TARGETS}
    for start in range(0, len(data), batch_size):
        batch = collator([data[i] for i in range(start, min(start + batch_size, len(data)))])
        targets = batch.pop("targets").to(device)
        logits = model(**{k: v.to(device) for k, v in batch.items()})["logits"]
        for i, t in enumerate(TARGETS):
            y = targets[:, i]
            scored = (y > 0) if t == "objects" else (y != IGNORE)
            right[t] += int((logits[t].argmax(-1)[scored] == y[scored]).sum())
            total[t] += int(scored.sum())
    model.train()
    return {t: round(right[t] / total[t], 3) if total[t] else None for t in TARGETS}


def token_cell(model, image_processor, source: str) -> int:
    """The side in px of the image cell one merged visual token of `model` covers. Raises JudgeError, naming `source`
    (the option and path the model came from), for a model whose tower is not Qwen-VL's or whose cells do not tile the
    world's images: the targets here, and the probes that reuse them, are laid on Qwen-VL's merged grid_thw tokens."""
    if not hasattr(image_processor, "merge_size") or not hasattr(model.config.vision_config, "out_hidden_size"):
        raise JudgeError(f"{source} is a {type(model).__name__}; only Qwen-VL vision towers (patch merging over "
                         "grid_thw) are read here")
    cell = image_processor.patch_size * image_processor.merge_size
    if SIZE % cell:
        raise JudgeError(f"{source} merges {cell} px cells, which do not tile the world's {SIZE} px images")
    return cell


def pretrain_tower(
    init: str | Path,
    out: str | Path,
    *,
    max_steps: int = 1000,
    batch_size: int = 32,
    learning_rate: float = 3e-4,
    seed: int = 0,
    held_out: int = 256,
    time_limit: float | None = None,
    overwrite: bool = False,
    cells: str = "centre",
) -> Path:
    """Warm up the vision tower of the base `init` on per-token targets (module docstring; `cells`: which tokens name
    an object's colour and shape, CELLS) and save the base with the new tower to `out` (atomically), with
    pretrain.json (command, lineage, loss curve, and the heads' accuracy on `held_out` scenes of another seed
    before and after, scored on the tokens `cells` labels)."""
    from transformers import Trainer, TrainingArguments

    from ..backbone import load_backbone, vision_tower
    from .run import check_init, check_run_options, close_work, lineage, train_resumably

    check_run_options({"--steps": max_steps, "--batch-size": batch_size, "--held-out": held_out}, learning_rate, time_limit)
    check_init(init)
    if cells not in CELLS:
        raise JudgeError(f"--cells: expected one of {', '.join(CELLS)}, got {cells!r}")
    out = refuse_nonempty_folder(out, overwrite=overwrite)
    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    base, processor = load_backbone(init)
    image_processor = processor.image_processor
    cell = token_cell(base, image_processor, f"--init: {init}")
    model = TowerWithHeads(vision_tower(base), base.config.vision_config.out_hidden_size)  # what --freeze-tower keeps
    torch.manual_seed(seed)  # the heads' initial weights
    for head in model.heads.values():
        head.reset_parameters()
    collator = TargetCollator(image_processor)
    check = SceneTargets(held_out, seed + 1_000_003, cell, cells)  # never a training item: another seed stream
    before = head_accuracy(model, collator, check)  # fresh heads: chance, a sanity row
    work = out.with_name(f".{out.name}.tower")
    loader_workers = min(8, max(0, (os.cpu_count() or 1) - 2)) if cuda else 0
    args = TrainingArguments(
        output_dir=str(work / "checkpoints"), max_steps=max_steps, per_device_train_batch_size=batch_size,
        learning_rate=learning_rate, lr_scheduler_type="cosine", warmup_steps=min(100, max_steps // 10),
        weight_decay=0.0, use_cpu=not cuda, bf16=cuda, logging_steps=max(1, min(25, max_steps // 20)),
        save_steps=max(1, min(250, max_steps // 4)), save_total_limit=1, report_to="none", seed=seed,
        dataloader_num_workers=loader_workers, dataloader_persistent_workers=loader_workers > 0,
        train_sampling_strategy="sequential", remove_unused_columns=False, label_names=["targets"],
    )
    trainer = Trainer(model=model, args=args, train_dataset=SceneTargets(max_steps * batch_size, seed, cell, cells),
                      data_collator=collator)
    logger.info("warming up the vision tower of %s on %s: %d steps x %d scenes", init, "cuda (bf16)" if cuda else "cpu",
                max_steps, batch_size)
    record = train_resumably(trainer, work, batch_size, time_limit, "the tower warm-up")
    after = head_accuracy(trainer.model, collator, check)
    logger.info("heads on %d held-out scenes: %s", held_out, ", ".join(f"{t} {a}" for t, a in after.items()))
    with atomic_dir(out, overwrite=True) as tmp:
        base = base.to("cpu", torch.float32)  # its tower is the trained one (shared module); committed bases are fp32
        base.save_pretrained(tmp, safe_serialization=True)
        processor.save_pretrained(tmp)
        if (work / "metrics.jsonl").is_file():
            shutil.copy(work / "metrics.jsonl", tmp / "pretrain_metrics.jsonl")
        write_json(tmp / "pretrain.json", {
            "command": (f"mtrl-judge pretrain-tower --init {init} --out {out} --steps {max_steps} --batch-size {batch_size} "
                        f"--learning-rate {learning_rate} --seed {seed}"
                        + (f" --cells {cells}" if cells != "centre" else "")
                        + (f" --time-limit {time_limit:g}" if time_limit else "")),
            "stage": "tower", "device": torch.cuda.get_device_name(0) if cuda else "cpu", "init": lineage(init),
            "max_steps": max_steps, "batch_size": batch_size, "learning_rate": learning_rate, "cells": cells,
            "seed": seed, "minutes": round((time.perf_counter() - started) / 60, 1), **record,
            "held_out": {"scenes": held_out, "before": before, "after": after},
        })
    close_work(work, out, record["steps_done"], max_steps, "base with the warmed tower")
    return out
