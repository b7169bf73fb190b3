"""Reading a data folder: one Hugging Face dataset per task, in the unified schema.

Layout (written by `mtrl-judge world generate` and `mtrl-judge data import`):

    DATA/
      seetrue/            a DatasetDict saved with save_to_disk: train/ validation/ test/
      agin-tech/
      ...
"""

from __future__ import annotations

from pathlib import Path

import datasets

from ..errors import JudgeError
from ..tasks import get_task
from .schema import FEATURES


def register_folder_tasks(data_dir: Path) -> None:
    """Register the tasks a data folder declares in its tasks.yaml (written by imports of datasets
    whose tasks are not built in, e.g. genai-bench), so that any process reading it knows them."""
    if (data_dir / "tasks.yaml").is_file():
        from ..tasks import register_tasks_from_yaml

        register_tasks_from_yaml(data_dir / "tasks.yaml", overwrite=True)


def available_tasks(data_dir: str | Path) -> list[str]:
    """Task folders present under `data_dir`, sorted."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise JudgeError(f"{data_dir}: data folder not found")
    register_folder_tasks(data_dir)
    return sorted(p.name for p in data_dir.iterdir() if (p / "dataset_dict.json").is_file())


def load_task_split(data_dir: str | Path, task: str, split: str, *, check_labels: bool = True) -> datasets.Dataset:
    """The `split` of `task` under `data_dir`, checked against the schema and the task's choices.

    Errors name the folder, task and split: a missing task folder, a missing split, missing
    columns, rows of another task, or labels outside the task's choices.
    """
    data_dir = Path(data_dir)
    register_folder_tasks(data_dir)
    spec = get_task(task)
    folder = data_dir / task
    if not (folder / "dataset_dict.json").is_file():
        found = ", ".join(available_tasks(data_dir)) or "none"
        raise JudgeError(f"{data_dir}: no dataset for task {task!r} (tasks found: {found})")
    if not (folder / split / "dataset_info.json").is_file():
        splits = sorted(p.name for p in folder.iterdir() if (p / "dataset_info.json").is_file())
        raise JudgeError(f"{folder}: task {task!r} has no split {split!r} (splits: {', '.join(splits) or 'none'})")
    try:
        ds = datasets.load_from_disk(str(folder / split))
    except (OSError, ValueError) as e:
        raise JudgeError(f"{folder / split}: cannot load ({str(e).splitlines()[0]})") from None
    missing = [c for c in ("task", "images", "text", "label") if c not in ds.column_names]
    if missing:
        raise JudgeError(f"{folder / split}: missing column(s) {', '.join(missing)}; expected the schema {list(FEATURES)}")
    if check_labels and len(ds):
        labels = set(ds.unique("label"))
        bad = sorted(str(x) for x in labels - set(spec.choices))
        if bad:
            raise JudgeError(f"{folder / split}: task {task!r} split {split!r} has label(s) {', '.join(bad)}; expected {' or '.join(spec.choices)}")
        tasks = set(ds.unique("task"))
        if tasks != {task}:
            raise JudgeError(f"{folder / split}: rows of task(s) {', '.join(sorted(tasks - {task}))} in the {task!r} dataset")
    return ds
