"""Clients: for our judge service, and for a judge served by vLLM's OpenAI-compatible server.

Standard library only (urllib), so a pipeline can call a judge without installing the model stack.

    from mtrl_judge.client import JudgeClient
    client = JudgeClient("http://127.0.0.1:8000", api_key="...")
    client.judge("seetrue", ["cat.png"], text="a cat on a mat")["choice"]

    from mtrl_judge.client import judge_via_openai      # vLLM: `vllm serve runs/judge/best`
    judge_via_openai("http://127.0.0.1:8001/v1", "best", "seetrue", ["cat.png"], "a cat on a mat").choice

Images may be paths, bytes or PIL images; they are sent as base64, never as URLs.
"""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import JudgeError

DEFAULT_TIMEOUT_S = 120.0


class JudgeServiceError(JudgeError):
    """The service answered with an error (or could not be reached: status 0)."""

    def __init__(self, status: int, detail: str, url: str = "") -> None:
        super().__init__(f"{url}: HTTP {status}: {detail}" if url else f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


def image_bytes(image: Any) -> bytes:
    """The encoded bytes of a path, bytes or PIL image (PIL images are sent as PNG)."""
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise JudgeError(f"{path}: image file not found")
        return path.read_bytes()
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    raise JudgeError(f"expected an image path, bytes or PIL image, got {type(image).__name__}")


def image_base64(image: Any) -> str:
    return base64.b64encode(image_bytes(image)).decode("ascii")


def _mime(data: bytes) -> str:
    for magic, mime in ((b"\x89PNG", "image/png"), (b"\xff\xd8", "image/jpeg"), (b"GIF8", "image/gif"), (b"RIFF", "image/webp")):
        if data.startswith(magic):
            return mime
    return "application/octet-stream"


def _request(method: str, url: str, body: Any = None, headers: dict | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers={"Accept": "application/json", **(headers or {})})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - caller's own base URL
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            detail = json.loads(raw).get("detail", raw.decode("utf-8", "replace"))
        except (ValueError, AttributeError):
            detail = raw.decode("utf-8", "replace")[:500]
        if not isinstance(detail, str):  # FastAPI validation errors are lists
            detail = json.dumps(detail)
        raise JudgeServiceError(e.code, detail, url) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise JudgeServiceError(0, f"cannot reach the judge service ({reason})", url) from None


class JudgeClient:
    """A client for `mtrl-judge serve`.

    Args:
        base_url: e.g. "http://127.0.0.1:8000".
        api_key: sent as `Authorization: Bearer KEY` when given.
        timeout: seconds per HTTP request (a batch is one request).
    """

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return _request(method, self.base_url + path, body, self._headers, self.timeout)

    @staticmethod
    def _item(task: str, images: Sequence, text: str | None, item_id: str | None = None) -> dict:
        if isinstance(images, (str, bytes, bytearray, Path)) or not isinstance(images, Sequence):
            images = [images]  # one image given bare
        item = {"task": task, "images": [image_base64(img) for img in images], "text": text}
        if item_id is not None:
            item["id"] = item_id
        return item

    def judge(self, task: str, images: Sequence, text: str | None = None) -> dict:
        """One verdict: {task, choice, score, valid, reasoning, completion, model, latency_ms}.
        Raises JudgeServiceError (with .status) when the service refuses the request."""
        return self._call("POST", "/v1/judge", self._item(task, images, text))

    def judge_batch(self, items: Iterable) -> dict:
        """Many items, each a dict {task, images, text, id?} or a JudgeRequest. Returns the service's
        answer: {results: [{index, id, ok, status, result | error}], n_ok, n_failed, ...}; a bad item
        fails only itself."""
        body = []
        for item in items:
            if not isinstance(item, dict):  # JudgeRequest or anything with task/images/text
                item = {"task": item.task, "images": item.images, "text": item.text}
            body.append(self._item(item.get("task"), item.get("images") or [], item.get("text"), item.get("id")))
        return self._call("POST", "/v1/judge/batch", {"items": body})

    def tasks(self) -> list[dict]:
        return self._call("GET", "/v1/tasks")["tasks"]

    def health(self) -> dict:
        return self._call("GET", "/health")


class OpenAICompatibleJudge:
    """Judge through any OpenAI-compatible chat endpoint serving a trained judge (e.g. vLLM).

    The request is built from our own prompts (mtrl_judge.prompts.render, same style as training)
    with the images inlined as base64 data URLs, decoded greedily, and the answer is read with the
    shared parser, so verdicts mean exactly what they mean in `Judge`. No score is available
    (the endpoint returns text, not the logits at the answer position).

    Args:
        base_url: the server's base, with or without the trailing "/v1" (e.g. "http://127.0.0.1:8001").
        model: the served model name (vLLM: the folder path, or --served-model-name).
        style: the prompt style the judge was trained with.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, style: str = "reason",
                 max_tokens: int = 256, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        base = base_url.rstrip("/")
        self.url = (base if base.endswith("/v1") else base + "/v1") + "/chat/completions"
        self.model = model
        self.style = style
        self.max_tokens = max_tokens
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def messages(self, task: str, images: Sequence, text: str | None = None) -> list[dict]:
        """OpenAI chat messages: our rendered prompt with image placeholders filled in order."""
        from .prompts import render

        encoded = [image_bytes(img) for img in images]
        rendered = render({"task": task, "text": text, "images": encoded}, self.style)
        queue = iter(encoded)
        messages = []
        for message in rendered:
            content = []
            for part in message["content"]:
                if part["type"] == "image":
                    data = next(queue)
                    url = f"data:{_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"
                    content.append({"type": "image_url", "image_url": {"url": url}})
                else:
                    content.append({"type": "text", "text": part["text"]})
            messages.append({"role": message["role"], "content": content})
        return messages

    def judge(self, task: str, images: Sequence, text: str | None = None):
        """A Verdict (mtrl_judge.prompts.Verdict) parsed from the endpoint's greedy answer."""
        from .prompts import Verdict
        from .tasks import get_task

        spec = get_task(task)
        if isinstance(images, (str, bytes, bytearray, Path)) or not isinstance(images, Sequence):
            images = [images]
        body = {"model": self.model, "messages": self.messages(spec.name, images, text), "temperature": 0.0,
                "max_tokens": self.max_tokens}
        answer = _request("POST", self.url, body, self._headers, self.timeout)
        try:
            completion = answer["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise JudgeServiceError(502, f"unexpected answer from the chat endpoint: {str(answer)[:200]}", self.url) from None
        return Verdict.from_completion(completion, spec.choices, spec.name)


def judge_via_openai(base_url: str, model: str, task: str, images: Sequence, text: str | None = None, **kwargs):
    """One verdict from an OpenAI-compatible server (vLLM); kwargs go to OpenAICompatibleJudge."""
    return OpenAICompatibleJudge(base_url, model, **kwargs).judge(task, images, text)
