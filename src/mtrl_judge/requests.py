"""The one check for a judge request (task, images, text), used by every surface.

The CLI (`judge`, `rank`), the Python API (`Judge`), evaluation, the importers and the HTTP
service all validate a request here, so a rule changes in one place. The check refuses, before
any model work, everything the processor or tokenizer would refuse or could not bound:

- an unknown task                                  UnknownTaskError
- a wrong image count, a missing or non-string text, text that is not valid Unicode
  (a lone surrogate cannot be encoded)             InvalidRequestError
- a text over `max_text_chars`                     RequestTooLargeError
- an image that cannot be read, has more than `max_pixels` pixels or an aspect ratio over
  `max_aspect_ratio`                               InvalidImageError

Checks run cheapest first (task, counts, text), so a wrong request fails before any image is
decoded. The token bound needs the model's tokenizer and lives in `Judge.prepare`.
Standard library and PIL only: the HTTP client and the CLI's light commands import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .data.images import DEFAULT_MAX_ASPECT_RATIO, DEFAULT_MAX_PIXELS, load_image
from .errors import InvalidRequestError, JudgeError, RequestTooLargeError
from .tasks import Task, get_task

# Captions and prompts of the paper's benchmarks are at most a few hundred characters; 4,000
# leaves room for long ones and bounds what one request can cost the model.
DEFAULT_MAX_TEXT_CHARS = 4000


@dataclass
class JudgeRequest:
    """One thing to judge: a task, its images (paths, bytes or PIL images) and maybe a text."""

    task: str
    images: Sequence
    text: str | None = None


@dataclass(frozen=True)
class RequestLimits:
    """Bounds on one judge request, checked before any model work."""

    max_text_chars: int = field(default=DEFAULT_MAX_TEXT_CHARS, metadata={"help": "longest text, in characters"})
    max_pixels: int = field(default=DEFAULT_MAX_PIXELS, metadata={"help": "largest image, in pixels (read from the header)"})
    max_aspect_ratio: float = field(
        default=DEFAULT_MAX_ASPECT_RATIO,
        metadata={"help": "longest side over shortest side (Qwen-VL processors refuse over 200)"},
    )
    fit_pixels: int | None = field(
        default=None, metadata={"help": "scale decoded images down to this many pixels (the model's budget); None keeps them"}
    )

    def __post_init__(self) -> None:
        for name in ("max_text_chars", "max_pixels"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise JudgeError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.max_aspect_ratio >= 1:  # also refuses NaN
            raise JudgeError(f"max_aspect_ratio must be at least 1, got {self.max_aspect_ratio!r}")
        if self.fit_pixels is not None and (not isinstance(self.fit_pixels, int) or self.fit_pixels < 1):
            raise JudgeError(f"fit_pixels must be a positive integer or None, got {self.fit_pixels!r}")


def check_text(text: str | None, limits: RequestLimits, where: str = "") -> None:
    """Bound and encodability of a request's text (its presence is the task's check)."""
    if text is None:
        return
    prefix = f"{where}: " if where else ""
    if len(text) > limits.max_text_chars:
        raise RequestTooLargeError(f"{prefix}field 'text' has {len(text):,} characters; "
                                   f"at most {limits.max_text_chars:,} (max_text_chars)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidRequestError(f"{prefix}field 'text' is not valid Unicode ({e.reason} at position {e.start})") from None


def check_request(
    task: object, num_images: int | None, text: object, limits: RequestLimits = RequestLimits(), where: str = ""
) -> Task:
    """The cheap part of the check (no decoding): task, image count, text. Returns the task."""
    prefix = f"{where}: " if where else ""
    if not isinstance(task, str) or not task:
        raise InvalidRequestError(f"{prefix}field 'task' is missing or not a string")
    try:
        spec = get_task(task)
    except JudgeError as e:
        raise type(e)(f"{prefix}field 'task': {e}") from None
    spec.check(num_images, text, where)
    check_text(text, limits, where)  # type: ignore[arg-type]  # Task.check made sure it is a str or None
    return spec


def prepare_request(request: JudgeRequest | dict, limits: RequestLimits = RequestLimits(), where: str = "") -> JudgeRequest:
    """Check a request and decode its images: a JudgeRequest the model step can take as it is.

    `request` is a JudgeRequest or a mapping with task, images and text (a JSONL row, a JSON
    body). Errors name `where` (e.g. "input.jsonl:3") and the field."""
    if isinstance(request, dict):
        request = JudgeRequest(task=request.get("task"), images=request.get("images"), text=request.get("text"))  # type: ignore[arg-type]
    prefix = f"{where}: " if where else ""
    images = request.images
    if images is None or isinstance(images, (str, bytes, Path)) or not isinstance(images, Sequence):
        raise InvalidRequestError(f"{prefix}field 'images' must be a list of images")
    spec = check_request(request.task, len(images), request.text, limits, where)
    decoded = [
        load_image(
            image,
            max_pixels=limits.max_pixels,
            max_aspect_ratio=limits.max_aspect_ratio,
            fit_pixels=limits.fit_pixels,
            where=f"{prefix}field 'images'[{i}]",
        )
        for i, image in enumerate(images)
    ]
    return JudgeRequest(task=spec.name, images=decoded, text=request.text)
