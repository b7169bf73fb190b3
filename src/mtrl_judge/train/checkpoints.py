"""The output folder of a training run: is it ours, which checkpoint to resume, leftovers, slimming.

- A folder is *a run of ours* when it holds the `recipe.yaml` that `train` writes at the start of every
  run (a mapping with our SOURCE_KEY, `recipe_file`). Only such a folder is ever deleted (`--overwrite`).
- A checkpoint-N is *complete* when it holds weights and a readable trainer_state.json. transformers writes
  trainer_state.json last, so a save killed part-way leaves a folder without it (or with half of it):
  `--resume` skips such a folder for the newest complete one.
- Our atomic writes (mtrl_judge.io) work in hidden siblings `.NAME.tmp-*` / `.NAME.old-*`; a kill can leave
  them behind, and the next run removes them.
- A finished run keeps every checkpoint's weights and trainer state but drops its optimizer and scheduler
  states (the bulk of its size) unless `keep_checkpoints` is set.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import yaml

from ..io import TEMPORARY_NAME

logger = logging.getLogger(__name__)

RECIPE_FILE = "recipe.yaml"
SOURCE_KEY = "recipe_file"  # the key of recipe.yaml that names the recipe file a run came from; only our runs have it
TRAINER_STATE = "trainer_state.json"
# transformers' and PEFT's weight files (single file, or the index of a sharded save).
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
                "adapter_model.safetensors", "adapter_model.bin")
# What resuming needs besides the weights, and what a finished run no longer does: transformers' optimizer,
# scheduler and grad-scaler states (optimizer.pt; rank*-of-N-optimizer.pt with several processes; optimizer.bin
# from accelerate). Sharded DeepSpeed / FSDP states (global_step*/, optimizer_*/) are left alone.
STATE_FILE = re.compile(r"^(optimizer\.(pt|bin)|rank\d+-of-\d+-optimizer\.pt|scheduler\.pt|scaler\.pt)$")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def is_our_run(folder: Path) -> bool:
    """Whether `folder` holds a training run of ours (the recipe.yaml `train` writes first)."""
    try:
        recipe = yaml.safe_load((folder / RECIPE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(recipe, dict) and SOURCE_KEY in recipe


def checkpoints(folder: Path) -> list[Path]:
    """The checkpoint-N folders under `folder`, newest (highest N) first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def is_complete(checkpoint: Path) -> bool:
    """Weights and a readable trainer_state.json (written last by transformers, so a killed save has none)."""
    try:
        json.loads((checkpoint / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    sharded = any(p.is_dir() and p.name.startswith(("pytorch_model_fsdp", "global_step")) for p in checkpoint.iterdir())
    return sharded or any((checkpoint / name).is_file() for name in WEIGHT_FILES)


def has_optimizer_state(checkpoint: Path) -> bool:
    return any(STATE_FILE.match(p.name) or p.name.startswith(("optimizer_", "global_step")) for p in checkpoint.iterdir())


def latest_complete_checkpoint(folder: Path, *, warn: bool = True) -> Path | None:
    """The newest complete checkpoint-N under `folder`, or None; newer incomplete ones are skipped with a warning."""
    for checkpoint in checkpoints(folder):
        if is_complete(checkpoint):
            return checkpoint
        if warn:
            logger.warning("%s is incomplete (a save was killed part-way: no weights or no readable %s): skipped, "
                           "resuming from an older checkpoint", checkpoint, TRAINER_STATE)
    return None


def partial_checkpoints(folder: Path) -> list[Path]:
    """The incomplete checkpoint-N folders under `folder` (a resumed run removes them: it redoes those steps)."""
    return [checkpoint for checkpoint in checkpoints(folder) if not is_complete(checkpoint)]


def remove_temporary(folder: Path) -> list[Path]:
    """Remove the leftovers of killed atomic writes in `folder` and its sub-folders (best/, final/, checkpoint-N/)."""
    if not folder.is_dir():
        return []
    removed = []
    for parent in [folder, *(p for p in folder.iterdir() if p.is_dir() and not TEMPORARY_NAME.match(p.name))]:
        for path in parent.iterdir():
            if TEMPORARY_NAME.match(path.name):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
                removed.append(path)
    if removed:
        logger.info("removed %d leftover temporary file(s) of an interrupted save in %s", len(removed), folder)
    return removed


def drop_optimizer_states(folder: Path) -> int:
    """Delete the optimizer / scheduler / scaler states of every checkpoint-N under `folder`; returns the bytes freed.
    Weights, trainer_state.json and judge_config.json stay: each checkpoint still loads as a judge."""
    freed = 0
    for checkpoint in checkpoints(folder):
        for path in checkpoint.iterdir():
            if path.is_file() and STATE_FILE.match(path.name):
                freed += path.stat().st_size
                path.unlink()
    return freed
