"""Reward functions, in TRL's contract: `(completions, **columns) -> list[float | None]`.

`completions` is what GRPOTrainer passes: strings, or (for conversational data) lists of
messages whose last one is the assistant turn. Every other dataset column arrives as a keyword
list aligned with `completions`; `task` routes each row to its task's choices, so one function
serves a multi-task batch. A reward returns None for a row it does not apply to (TRL's
documented multi-task pattern), e.g. a row without a label.

The paper's total reward, lambda * format + (1 - lambda) * accuracy, is not a function of its
own: it is TRL's weighted sum of the two, set with `reward_weights=paper_reward_weights(lam)`,
so TRL still logs `rewards/format/mean` and `rewards/accuracy/mean` separately.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .errors import JudgeError
from .prompts.parse import is_well_formed, parse_verdict
from .tasks import get_task

RewardFunc = Callable[..., list[float | None]]
REWARDS: dict[str, RewardFunc] = {}


def register_reward(name: str) -> Callable[[RewardFunc], RewardFunc]:
    """Register a reward under `name`; its __name__ becomes `name`, which TRL uses in metric keys."""

    def wrap(fn: RewardFunc) -> RewardFunc:
        fn.__name__ = name
        REWARDS[name] = fn
        return fn

    return wrap


def completion_text(completion) -> str:
    """The generated text of one completion, plain or conversational."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        content = completion[-1].get("content", "")
        if isinstance(content, list):  # structured content blocks
            return "".join(part.get("text", "") for part in content if part.get("type") == "text")
        return content or ""
    return ""


def _tasks_for(completions: Sequence, task: Sequence[str] | None) -> list:
    if task is None:
        raise JudgeError("reward functions need the dataset's 'task' column to know each row's choices")
    if len(task) != len(completions):
        raise JudgeError(f"reward got {len(completions)} completions but {len(task)} 'task' values")
    return [get_task(name) for name in task]


@register_reward("format")
def format_reward(completions: Sequence, task: Sequence[str] | None = None, **_: object) -> list[float | None]:
    """1.0 iff the completion is one non-empty think block then one answer block with a valid choice."""
    tasks = _tasks_for(completions, task)
    return [float(is_well_formed(completion_text(c), t.choices)) for c, t in zip(completions, tasks, strict=True)]


@register_reward("accuracy")
def accuracy_reward(
    completions: Sequence, task: Sequence[str] | None = None, label: Sequence[str | None] | None = None, **_: object
) -> list[float | None]:
    """1.0 iff the parsed verdict equals the row's label (None where a row has no label)."""
    tasks = _tasks_for(completions, task)
    if label is None:
        raise JudgeError("the accuracy reward needs the dataset's 'label' column")
    rewards: list[float | None] = []
    for c, t, gold in zip(completions, tasks, label, strict=True):
        if gold is None:
            rewards.append(None)
            continue
        rewards.append(float(parse_verdict(completion_text(c), t.choices) == gold))
    return rewards


def get_reward(name: str) -> RewardFunc:
    try:
        return REWARDS[name]
    except KeyError:
        raise JudgeError(f"unknown reward {name!r}; known rewards: {', '.join(sorted(REWARDS))}") from None


def paper_reward_weights(lam: float) -> list[float]:
    """TRL reward_weights for [format, accuracy] giving lambda * format + (1 - lambda) * accuracy."""
    if not 0.0 <= lam <= 1.0:
        raise JudgeError(f"format_weight (lambda) must be in [0, 1], got {lam}")
    return [lam, 1.0 - lam]


def task_accuracy_reward(task_name: str) -> RewardFunc:
    """Accuracy on rows of one task, None elsewhere. Given weight 0 in GRPO, it changes nothing in
    the reward and makes TRL log `rewards/accuracy/<task>/mean`: training accuracy per task."""

    def reward(completions: Sequence, task: Sequence[str] | None = None, label=None, **_: object) -> list[float | None]:
        scores = accuracy_reward(completions, task=task, label=label)
        return [s if t == task_name else None for s, t in zip(scores, task, strict=True)]

    reward.__name__ = f"accuracy/{task_name}"
    return reward
