"""Render an example into chat messages with one of the two prompt styles.

- `direct`: answer only (`<answer>yes</answer>`), used by the SFT baselines;
- `reason`: reasoning first (`<think>...</think><answer>yes</answer>`), used by RL.

Templates are files under prompts/templates/, one per style and task format, filled with the
task's question and criterion and the example's text. Messages use the structured content format
that transformers' chat templates and TRL expect, with `{"type": "image"}` placeholders in the
order of the example's images (TRL fills them from the dataset's `images` column).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from ..errors import JudgeError
from ..tasks import Task, get_task

STYLES: tuple[str, ...] = ("direct", "reason")
TEMPLATE_DIR = Path(__file__).parent / "templates"


@lru_cache(maxsize=None)
def _template(style: str, format: str) -> jinja2.Template:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
    return env.from_string((TEMPLATE_DIR / f"{style}_{format}.j2").read_text(encoding="utf-8"))


def prompt_text(task: Task | str, text: str | None, style: str) -> str:
    """The instruction text for one example (without the image placeholders)."""
    task = get_task(task) if isinstance(task, str) else task
    if style not in STYLES:
        raise JudgeError(f"unknown prompt style {style!r}; expected one of {', '.join(STYLES)}")
    task.check(None, text)
    return _template(style, task.format).render(
        text=(text or "").strip() if task.uses_text else "", question=task.question, criterion=task.criterion
    ).strip()


def render(example: dict, style: str = "reason") -> list[dict]:
    """Chat messages for an example: a single user turn holding the images and the instruction.

    `example` needs `task` and, for tasks that use one, `text`; its number of images (the length
    of `images` when present) must match the task's format. Pointwise: [image, instruction].
    Pairwise: ["Image 1:", image, "Image 2:", image, instruction].
    """
    task = get_task(example["task"])
    images = example.get("images")
    task.check(None if images is None else len(images), example.get("text"))
    content: list[dict] = []
    if task.num_images == 1:
        content.append({"type": "image"})
    else:
        for i in range(task.num_images):
            content += [{"type": "text", "text": f"Image {i + 1}:"}, {"type": "image"}]
    content.append({"type": "text", "text": prompt_text(task, example.get("text"), style)})
    return [{"role": "user", "content": content}]


def answer_text(choice: str, style: str, reasoning: str = "") -> str:
    """The assistant turn a perfect judge would write: the SFT target for a labelled example."""
    if style == "direct":
        return f"<answer>{choice}</answer>"
    if style == "reason":
        if not reasoning.strip():
            raise JudgeError("the reason style needs a non-empty reasoning text for its <think> block")
        return f"<think>{reasoning.strip()}</think><answer>{choice}</answer>"
    raise JudgeError(f"unknown prompt style {style!r}; expected one of {', '.join(STYLES)}")
