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
import pyarrow as pa

from ..errors import JudgeError
from ..tasks import get_task
from .schema import COLUMNS


def register_folder_tasks(data_dir: str | Path) -> list[str]:
    """Register the tasks a data folder declares in its tasks.yaml (written by imports of datasets
    whose tasks are not built in, e.g. genai-bench); returns their names.

    Reading a folder never registers anything: the code that opens a data folder for judging
    (evaluation) calls this once, so the global task registry changes in one visible place."""
    tasks_file = Path(data_dir) / "tasks.yaml"
    if not tasks_file.is_file():
        return []
    from ..tasks import register_tasks_from_yaml

    return [task.name for task in register_tasks_from_yaml(tasks_file, overwrite=True)]


def available_tasks(data_dir: str | Path) -> list[str]:
    """Task folders present under `data_dir`, sorted."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise JudgeError(f"{data_dir}: data folder not found")
    return sorted(p.name for p in data_dir.iterdir() if (p / "dataset_dict.json").is_file())


def load_task_split(data_dir: str | Path, task: str, split: str, *, check_labels: bool = True) -> datasets.Dataset:
    """The `split` of `task` under `data_dir`, checked against the schema and the task's choices.

    Errors name the folder, task and split: a missing task folder, a missing split, missing
    columns, rows of another task, or labels outside the task's choices.
    """
    data_dir = Path(data_dir)
    try:
        spec = get_task(task)
    except JudgeError as e:
        hint = f" (declared in {data_dir / 'tasks.yaml'}: pass it as a tasks file)" if (data_dir / "tasks.yaml").is_file() else ""
        raise JudgeError(f"{data_dir}: {e}{hint}") from None
    folder = data_dir / task
    if not (folder / "dataset_dict.json").is_file():
        found = ", ".join(available_tasks(data_dir)) or "none"
        raise JudgeError(f"{data_dir}: no dataset for task {task!r} (tasks found: {found})")
    if not (folder / split / "dataset_info.json").is_file():
        splits = sorted(p.name for p in folder.iterdir() if (p / "dataset_info.json").is_file())
        raise JudgeError(f"{folder}: task {task!r} has no split {split!r} (splits: {', '.join(splits) or 'none'})")
    try:
        ds = datasets.load_from_disk(str(folder / split))
    # ValueError covers pyarrow's ArrowInvalid and bad JSON; KeyError and TypeError come from a state.json of the wrong shape
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as e:
        reason = str(e).splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise JudgeError(f"{folder / split}: cannot load ({reason})") from None
    missing = [c for c in ("task", "images", "text", "label") if c not in ds.column_names]
    if missing:
        raise JudgeError(f"{folder / split}: missing column(s) {', '.join(missing)}; expected the schema {list(COLUMNS)}")
    if check_labels and len(ds):
        labels = set(ds.unique("label"))
        bad = sorted(str(x) for x in labels - set(spec.choices))
        if bad:
            raise JudgeError(f"{folder / split}: task {task!r} split {split!r} has label(s) {', '.join(bad)}; "
                             f"expected {' or '.join(spec.choices)}")
        tasks = set(ds.unique("task"))
        if tasks != {task}:
            raise JudgeError(f"{folder / split}: rows of task(s) {', '.join(sorted(tasks - {task}))} in the {task!r} dataset")
    return ds
