"""Turning untrusted request fields into a JudgeRequest, with an HTTP status for each mistake.

Why a module of its own: the JSON endpoint, the multipart endpoint and each item of a batch all
validate the same way, and each kind of mistake maps to one status code:

- unknown task                          404, the message lists the known tasks
- wrong number of images, missing text  422
- not base64, not an image, too many pixels   400, with the reason
- an image given as a URL               400: the server never fetches anything

Checks run cheapest first (task, counts, text) so a wrong request fails before any decoding.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from pydantic import ValidationError

from ..data.images import load_image
from ..errors import JudgeError, UnknownTaskError
from ..judge import JudgeRequest
from ..tasks import get_task

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


def check_task(task: object, num_images: int, text: object, where: str = "") -> str:
    """Validate task name, image count and text before any image is decoded; returns the task name."""
    prefix = f"{where}: " if where else ""
    if not isinstance(task, str) or not task:
        raise ServeError(422, f"{prefix}field 'task' is missing or not a string")
    try:
        spec = get_task(task)
    except UnknownTaskError as e:
        raise ServeError(404, f"{prefix}{e}") from None
    if num_images != spec.num_images:
        raise ServeError(422, f"{prefix}field 'images': task {spec.name!r} ({spec.format}) takes {spec.num_images} image(s), "
                              f"got {num_images}")
    if text is not None and not isinstance(text, str):
        raise ServeError(422, f"{prefix}field 'text' must be a string")
    if spec.uses_text and not (text or "").strip():
        raise ServeError(422, f"{prefix}field 'text': task {spec.name!r} judges an image against a text, but none was given")
    return spec.name


def build_request(task: str, text: str | None, images: Sequence[bytes], *, max_pixels: int, where: str = "") -> JudgeRequest:
    """Decode image bytes (pixel limit checked from the header first) into a ready JudgeRequest.

    Blocking (image decoding): call it from a worker thread, not the event loop."""
    name = check_task(task, len(images), text, where)
    prefix = f"{where}: " if where else ""
    decoded = []
    for i, blob in enumerate(images):
        try:
            decoded.append(load_image(bytes(blob), max_pixels=max_pixels, where=f"{prefix}field 'images'[{i}]"))
        except JudgeError as e:
            raise ServeError(400, str(e)) from None
    return JudgeRequest(task=name, images=decoded, text=text)


def build_request_from_json(item: dict, *, max_pixels: int, where: str = "") -> JudgeRequest:
    """A JSON item {task, text, images: [base64...]} (already schema-checked) to a JudgeRequest."""
    images = item.get("images") or []
    check_task(item.get("task"), len(images), item.get("text"), where)
    prefix = f"{where}: " if where else ""
    blobs = [decode_base64_image(img, f"{prefix}field 'images'[{i}]") for i, img in enumerate(images)]
    return build_request(item["task"], item.get("text"), blobs, max_pixels=max_pixels, where=where)


def validation_reason(error: ValidationError, where: str = "") -> str:
    """One line from a pydantic error: the first problem, naming its field."""
    prefix = f"{where}: " if where else ""
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first.get("loc", ()))
    more = f" (and {error.error_count() - 1} more problem(s))" if error.error_count() > 1 else ""
    field = f"field '{loc}': " if loc else "expected a JSON object with task, text and images: "
    return f"{prefix}{field}{first.get('msg', 'invalid')}{more}"
