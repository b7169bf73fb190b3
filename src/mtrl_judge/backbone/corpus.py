"""The text the tokenizer is trained on: the project's own prompts, answers and scene words."""

from __future__ import annotations

from collections.abc import Iterator

from ..prompts.render import STYLES, prompt_text
from ..tasks import list_tasks

COLOURS = "red green blue yellow orange purple pink brown black white grey cyan".split()
SHAPES = "circle square triangle star hexagon diamond cross heart ring arrow".split()
SIZES = "small medium large tiny big huge".split()
RELATIONS = ["left of", "right of", "above", "below", "next to", "on top of", "inside", "behind", "in front of"]
NUMBERS = "zero one two three four five six seven eight nine ten".split()
QUALITY = (
    "sharp blurry noisy clean blocky washed out low contrast bright dark natural unnatural tinted lighting "
    "floating resting overlapping passing through ground shadow plausible impossible hazard symbol warning "
    "safe unsafe allowed forbidden policy weapon skull fire toxic image picture scene object background"
).split()


def corpus(extra: Iterator[str] | None = None) -> Iterator[str]:
    """Lines of project text: every task's prompt in both styles, answers, and scene phrases."""
    for task in list_tasks():
        for style in STYLES:
            yield prompt_text(task, "a red circle left of a blue square", style)
        yield task.criterion
        for choice in task.choices:
            yield f"<think>The image shows a scene.</think><answer>{choice}</answer>"
    for colour in COLOURS:
        for shape in SHAPES:
            for size in SIZES:
                yield f"a {size} {colour} {shape}"
    for i, rel in enumerate(RELATIONS):
        for n in NUMBERS:
            yield f"{n} {COLOURS[i % len(COLOURS)]} {SHAPES[i % len(SHAPES)]}s {rel} a {SHAPES[(i + 3) % len(SHAPES)]}"
    yield " ".join(QUALITY)
    yield "The image is " + ", ".join(QUALITY) + "."
    if extra is not None:
        yield from extra
