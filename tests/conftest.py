"""Shared fixtures: a tiny backbone built once per session, and small images on disk."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from mtrl_judge.backbone import build_backbone  # importing it registers the processor, as every model loader does


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    logging.getLogger("mtrl_judge").setLevel(logging.WARNING)
    return build_backbone("tiny", tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_judge(tiny_model_dir):
    from mtrl_judge import Judge

    return Judge.from_pretrained(tiny_model_dir, max_new_tokens=8, batch_size=4)


def cli_choices(command: str, dest: str) -> tuple:
    """The choices the CLI's parser spells out for one option of a subcommand (kept literal there so that building
    the parser imports no torch; tests keep them equal to the library's own tuples)."""
    import argparse

    from mtrl_judge.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    return tuple(next(a for a in commands[command]._actions if a.dest == dest).choices)


def make_image(path: Path, colour: str = "red", size: tuple[int, int] = (64, 64)) -> Path:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).ellipse((8, 8, size[0] - 8, size[1] - 8), fill=colour)
    image.save(path)
    return path


@pytest.fixture()
def image_files(tmp_path) -> dict[str, Path]:
    return {
        "red": make_image(tmp_path / "red.png", "red"),
        "blue": make_image(tmp_path / "blue.png", "blue"),
        "huge": make_image(tmp_path / "huge.png", "green", size=(600, 600)),
    }


def write_data_folder(root: Path, tasks=("seetrue", "agin-tech", "mjbench-alignment"), sizes=(8, 4, 4)) -> Path:
    """A data folder in the unified schema with a few rows per task and split (red = yes)."""
    import datasets

    from mtrl_judge import get_task
    from mtrl_judge.data.schema import features

    splits = {}
    for task_name in tasks:
        task = get_task(task_name)
        for split, n in zip(("train", "validation", "test"), sizes, strict=True):
            rows = []
            for i in range(n):
                positive = i % 2 == 0
                colours = ["red" if positive else "blue"] + (["blue" if positive else "red"] if task.num_images == 2 else [])
                images = [Image.new("RGB", (64, 64), c) for c in colours]
                rows.append({
                    "id": f"{task_name}-{split}-{i}", "task": task_name, "images": images,
                    "text": "a red square" if task.uses_text else "", "label": task.choices[0 if positive else 1],
                    "source": "fixture", "score": float(positive), "meta": "{}",
                })
            splits[split] = datasets.Dataset.from_list(rows, features=features())
        datasets.DatasetDict(splits).save_to_disk(str(root / task_name))
    return root


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    return write_data_folder(tmp_path_factory.mktemp("data"))
