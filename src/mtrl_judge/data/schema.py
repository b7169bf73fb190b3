"""The unified example schema every dataset is turned into (synthetic world and real benchmarks).

One row is one judgment to make:
    id      unique within its dataset (str)
    task    a registered task name (str), e.g. "seetrue"
    images  the images, in prompt order: one (pointwise) or two (pairwise)
    text    the caption/prompt judged against, "" for tasks that use none
    label   the gold answer, one of the task's choices ("yes"/"no" or "1"/"2")
    source  where the row comes from, e.g. "judgeworld" or "seetrue:SeeTRUE.csv"
    score   a graded human (or exact synthetic) score where one exists, else None; higher = more positive
    meta    JSON text with anything else worth keeping (original ids, ratings, difficulty)
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from ..errors import JudgeError
from ..requests import check_request
from ..tasks import get_task

if TYPE_CHECKING:
    import datasets

COLUMNS: tuple[str, ...] = ("id", "task", "images", "text", "label", "source", "score", "meta")


@functools.cache
def features() -> datasets.Features:
    """The schema as `datasets` Features. A function, not a constant: building it imports `datasets` (about 2 s),
    which the CLI's parser, the client and request checks never need."""
    import datasets

    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "task": datasets.Value("string"),
            "images": datasets.List(datasets.Image()),
            "text": datasets.Value("string"),
            "label": datasets.Value("string"),
            "source": datasets.Value("string"),
            "score": datasets.Value("float32"),
            "meta": datasets.Value("string"),
        }
    )


SPLITS: tuple[str, ...] = ("train", "validation", "test")


def validate_example(row: dict, where: str = "") -> None:
    """Raise JudgeError naming `where` and the field unless `row` fits the schema and its task."""
    prefix = f"{where}: " if where else ""
    missing = [name for name in COLUMNS if name not in row]
    if missing:
        raise JudgeError(f"{prefix}missing field(s) {', '.join(missing)}")
    if not isinstance(row["id"], str) or not row["id"]:
        raise JudgeError(f"{prefix}field 'id' must be a non-empty string")
    try:
        task = get_task(row["task"])
    except JudgeError as e:
        raise JudgeError(f"{prefix}field 'task': {e}") from None
    if row["label"] not in task.choices:
        raise JudgeError(f"{prefix}field 'label' is {row['label']!r}; task {task.name!r} takes {' or '.join(task.choices)}")
    images = row["images"]
    if not isinstance(images, (list, tuple)):
        raise JudgeError(f"{prefix}field 'images' must be a list of images, got {type(images).__name__}")
    check_request(task.name, len(images), row["text"], where=where)
