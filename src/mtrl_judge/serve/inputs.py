"""Turning untrusted request fields into a JudgeRequest, with an HTTP status for each mistake.

Why a module of its own: the JSON endpoint, the multipart endpoint and each item of a batch all
validate the same way. The request itself is checked by the one check every surface uses
(mtrl_judge.requests); `status_for` maps its error classes to HTTP statuses, here and only here:

- unknown task                                      404, the message lists the known tasks
- wrong number of images, missing or bad text       422
- text over the length bound                        413
- not base64, not an image, too many pixels, too elongated   400, with the reason
- an image given as a URL                           400: the server never fetches anything

Checks run cheapest first (task, counts, text) so a wrong request fails before any decoding.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from pydantic import ValidationError

from ..errors import InvalidImageError, InvalidRequestError, JudgeError, RequestTooLargeError, UnknownTaskError
from ..requests import JudgeRequest, RequestLimits, check_request

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class ServeError(Exception):
    """A client mistake with its HTTP status and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def decode_base64_image(data: object, where: str) -> bytes:
    """The bytes of a base64 string or a `data:image/...;base64,` URL; anything else is refused."""
    if not isinstance(data, str):
        raise ServeError(422, f"{where}: expected a base64 string, got {type(data).__name__}")
    text = data.strip()
    if text.startswith("data:"):
        header, sep, payload = text.partition(",")
        if not sep or not header.endswith(";base64"):
            raise ServeError(400, f"{where}: data URLs must be base64 encoded (data:image/png;base64,...)")
        text = payload
    elif _URL.match(text):
        raise ServeError(400, f"{where}: image URLs are not fetched; send the image bytes as base64 or as a multipart upload")
    text = "".join(text.split())  # line-wrapped base64 (e.g. `base64` without -w0) is fine
    if not text:
        raise ServeError(400, f"{where}: empty image")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ServeError(400, f"{where}: not valid base64") from None


# The one mapping from the request check's error classes to HTTP statuses (most specific first).
_STATUS: tuple[tuple[type[JudgeError], int], ...] = (
    (UnknownTaskError, 404),
    (RequestTooLargeError, 413),
    (InvalidRequestError, 422),
    (InvalidImageError, 400),
)


def status_for(error: JudgeError) -> int:
    """The HTTP status of a user mistake raised by the request check (400 for any other JudgeError)."""
    return next((status for kind, status in _STATUS if isinstance(error, kind)), 400)


def as_serve_error(error: JudgeError) -> ServeError:
    return ServeError(status_for(error), str(error))


def check_task(task: object, num_images: int, text: object, limits: RequestLimits, where: str = "") -> str:
    """The request check before any image is read or decoded; returns the task name."""
    try:
        return check_request(task, num_images, text, limits, where).name
    except JudgeError as e:
        raise as_serve_error(e) from None


def build_request(judge, task: str, text: str | None, images: Sequence[bytes], *, where: str = "") -> JudgeRequest:
    """Decode image bytes (limits checked from the header first) into a JudgeRequest ready for the
    model, through `judge.prepare` (the one request check plus the text's token count).

    Blocking (image decoding, tokenizing): call it from a worker thread, not the event loop."""
    try:
        return judge.prepare(JudgeRequest(task=task, images=[bytes(blob) for blob in images], text=text), where)
    except JudgeError as e:
        raise as_serve_error(e) from None


def build_request_from_json(judge, item: dict, *, where: str = "") -> JudgeRequest:
    """A JSON item {task, text, images: [base64...]} (already schema-checked) to a JudgeRequest."""
    images = item.get("images") or []
    check_task(item.get("task"), len(images), item.get("text"), judge.limits, where)
    prefix = f"{where}: " if where else ""
    blobs = [decode_base64_image(img, f"{prefix}field 'images'[{i}]") for i, img in enumerate(images)]
    return build_request(judge, item["task"], item.get("text"), blobs, where=where)


def validation_reason(error: ValidationError, where: str = "") -> str:
    """One line from a pydantic error: the first problem, naming its field."""
    prefix = f"{where}: " if where else ""
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first.get("loc", ()))
    more = f" (and {error.error_count() - 1} more problem(s))" if error.error_count() > 1 else ""
    field = f"field '{loc}': " if loc else "expected a JSON object with task, text and images: "
    return f"{prefix}{field}{first.get('msg', 'invalid')}{more}"
