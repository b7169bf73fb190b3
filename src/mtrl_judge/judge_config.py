"""judge_config.json: how a saved checkpoint is meant to be asked (prompt style, tasks, generation budget).

Every checkpoint a training run saves (best/, final/, checkpoint-N/) carries one, so that loading it
later (`Judge.from_pretrained`, `mtrl-judge judge|eval|serve`) uses the prompt style it was trained
with instead of a default that may not match (an SFT judge answers directly, a GRPO judge reasons
first). Standard library only: anything may read it without loading torch or transformers.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import JudgeError
from .io import write_json

JUDGE_CONFIG_FILE = "judge_config.json"
FORMAT_VERSION = 1


def judge_config(*, method: str, style: str, tasks: list[str], max_new_tokens: int, recipe_file: str | None = None) -> dict:
    """The record written beside a checkpoint's weights."""
    return {"format_version": FORMAT_VERSION, "method": method, "style": style, "tasks": list(tasks),
            "max_new_tokens": max_new_tokens, "recipe_file": recipe_file}


def write_judge_config(model_dir: str | Path, config: dict) -> Path:
    """Write `config` to MODEL_DIR/judge_config.json atomically (a kill leaves the old file or the new one)."""
    path = Path(model_dir) / JUDGE_CONFIG_FILE
    write_json(path, config)
    return path


def read_judge_config(path: str | Path) -> dict | None:
    """The judge config of a model folder (or the judge_config.json file itself); None when there is none
    (a base model, or a checkpoint saved before these files existed). A file that is not a JSON object
    raises JudgeError naming it."""
    path = Path(path)
    file = path / JUDGE_CONFIG_FILE if path.is_dir() else path
    if not file.is_file():
        return None
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise JudgeError(f"{file}: cannot read the judge config ({e})") from None
    if not isinstance(config, dict):
        raise JudgeError(f"{file}: a judge config is a JSON object")
    return config
