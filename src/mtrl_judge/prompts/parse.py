"""The one verdict parser. Rewards, evaluation and serving all read completions through here,
so that what training rewards and what a benchmark scores can never disagree."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?(?:think|answer)>", re.IGNORECASE)
# Exactly one think block, then exactly one answer block, nothing else but whitespace. Neither
# block may contain another tag: a lazy pattern spanning a nested </think> passed malformed
# completions in an earlier probe.
_STRICT = re.compile(
    r"\s*<think>(?P<think>(?:(?!</?think>|</?answer>).)*)</think>"
    r"\s*<answer>(?P<answer>(?:(?!</?think>|</?answer>).)*)</answer>\s*",
    re.IGNORECASE | re.DOTALL,
)
_THINK = re.compile(r"<think>(.*?)</think>", re.IGNORECASE | re.DOTALL)


def parse_verdict(text: str, choices: Sequence[str]) -> str | None:
    """The choice inside exactly one <answer>...</answer>, else None.

    Case-insensitive; whitespace around the choice is ignored. Returns the choice as spelled in
    `choices` (e.g. "yes" for "<answer> YES </answer>"). Never raises: a non-string, no answer,
    two answers, an unclosed or nested tag, or an answer outside `choices` all give None.
    """
    if not isinstance(text, str):
        return None
    if len(re.findall(r"<answer>", text, re.IGNORECASE)) != 1 or len(re.findall(r"</answer>", text, re.IGNORECASE)) != 1:
        return None
    match = _ANSWER.search(text)
    if match is None:  # the closing tag came first
        return None
    content = match.group(1).strip().lower()
    for choice in choices:
        if content == str(choice).strip().lower():
            return choice
    return None


def is_well_formed(text: str, choices: Sequence[str]) -> bool:
    """True iff `text` is exactly one non-empty think block followed by one answer block holding a
    valid choice, with nothing else but whitespace. This is the paper's format reward."""
    if not isinstance(text, str):
        return False
    match = _STRICT.fullmatch(text)
    if match is None or not match.group("think").strip():
        return False
    return parse_verdict(text, choices) is not None


def extract_reasoning(text: str) -> str:
    """The text inside the first think block, or the text before the answer when there is none.

    Used only to show a verdict's reasoning to people; never for scoring.
    """
    if not isinstance(text, str):
        return ""
    match = _THINK.search(text)
    if match:
        return match.group(1).strip()
    head = re.split(r"<answer>", text, maxsplit=1, flags=re.IGNORECASE)[0]
    return _TAG.sub("", head).strip()


@dataclass(frozen=True)
class Verdict:
    """A judge's answer to one example.

    Attributes:
        choice: the parsed answer (one of the task's choices), or None when unparseable.
        reasoning: the text of the think block (for people; may be empty).
        completion: the raw generated text.
        valid: whether the completion is well formed (think block, then a valid answer).
        task: the task name it answers.
        score: P(positive choice) read from the model at the answer position, normalised over the
            task's choices ("yes", or "1" = image 1 is better); None when not computed.
    """

    choice: str | None
    reasoning: str
    completion: str
    valid: bool
    task: str = ""
    score: float | None = None

    @classmethod
    def from_completion(cls, completion: str, choices: Sequence[str], task: str = "", score: float | None = None) -> "Verdict":
        return cls(
            score=score,
            choice=parse_verdict(completion, choices),
            reasoning=extract_reasoning(completion),
            completion=completion,
            valid=is_well_formed(completion, choices),
            task=task,
        )

    def to_dict(self) -> dict:
        return {"task": self.task, "choice": self.choice, "score": self.score, "valid": self.valid, "reasoning": self.reasoning,
                "completion": self.completion}
