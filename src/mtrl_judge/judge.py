"""The judge: a vision-language model that answers judge tasks, greedily, in batches.

    from mtrl_judge import Judge
    judge = Judge.from_pretrained("runs/mt-rl-judge/best")
    verdict = judge.judge(images=["cat.png"], text="a cat on a mat", task="seetrue")
    verdict.choice, verdict.reasoning, verdict.valid
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import torch
from transformers import LogitsProcessorList

from .backbone.load import load_backbone
from .data.images import DEFAULT_MAX_PIXELS
from .devices import dtype_name
from .errors import JudgeError, RequestTooLargeError
from .progress import progress_bar
from .prompts import STYLES, Verdict, render
from .requests import DEFAULT_MAX_TEXT_CHARS, JudgeRequest, RequestLimits, prepare_request
from .scoring import ChoiceLogitsRecorder, answer_position_scores
from .tasks import get_task

logger = logging.getLogger(__name__)

__all__ = ["Judge", "JudgeRequest"]


def context_length(model) -> int | None:
    """The text model's context in tokens, when its config says."""
    config = getattr(model, "config", None)
    text_config = getattr(config, "text_config", None) or config
    value = getattr(text_config, "max_position_embeddings", None)
    return value if isinstance(value, int) and value > 0 else None


def model_name(path: str | Path) -> str:
    """A judge's name from its folder: a run's checkpoint folders (best, final, checkpoint-N) are
    named with their run, e.g. "mt-rl-judge/best", so a served model is not just "best"."""
    path = Path(path).resolve()
    if path.name in ("best", "final") or path.name.startswith("checkpoint-"):
        return f"{path.parent.name}/{path.name}"
    return path.name


def pixel_budget(processor) -> int | None:
    """The most pixels the processor keeps of an image (it resizes larger ones down to this)."""
    image_processor = getattr(processor, "image_processor", None)
    size = getattr(image_processor, "size", None) or {}
    value = getattr(image_processor, "max_pixels", None) or (size.get("longest_edge") if isinstance(size, dict) else None)
    return value if isinstance(value, int) and value > 0 else None


def both_orders_score(given: float | None, swapped: float | None) -> float | None:
    """P(image 1 is better) from a pairwise judge asked in both image orders: the mean of the given
    order's score and 1 - the swapped order's, which cancels a position bias (None if either is missing).
    The one place this average is taken (judge_many and evaluation both use it)."""
    if given is None or swapped is None:
        return None
    return (given + 1.0 - swapped) / 2


class Judge:
    """Wraps a model and processor; renders prompts, generates, parses with the shared parser.

    Args:
        model, processor: a loaded image-text-to-text model and its processor.
        style: prompt style, "reason" (think then answer) or "direct" (answer only).
        max_new_tokens: generation budget per verdict.
        batch_size: examples per generate() call in `judge_many`.
        max_pixels: images larger than this are refused (not resized) before decoding.
        max_text_chars: texts longer than this are refused before any model work.
        max_text_tokens: texts longer than this many tokens are refused; None: half the model's
            context (the rest holds the images, the template and the completion).
        fit_images: scale each decoded image down to the processor's pixel budget at once (what
            the processor would do later), so a batch never holds full-size pixels. The server's default.
        name: the model's name, reported with verdicts.
        pairwise_both_orders: also judge pairwise examples with the images swapped, to average the score.
    """

    def __init__(
        self,
        model,
        processor,
        *,
        style: str = "reason",
        max_new_tokens: int = 128,
        batch_size: int = 16,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
        max_text_tokens: int | None = None,
        fit_images: bool = False,
        name: str = "judge",
        pairwise_both_orders: bool = True,
    ) -> None:
        if style not in STYLES:
            raise JudgeError(f"unknown prompt style {style!r}; expected one of {', '.join(STYLES)}")
        if max_new_tokens < 1 or batch_size < 1 or max_pixels < 1:
            raise JudgeError("max_new_tokens, batch_size and max_pixels must be positive")
        self.limits = RequestLimits(
            max_text_chars=max_text_chars, max_pixels=max_pixels, fit_pixels=pixel_budget(processor) if fit_images else None
        )
        if max_text_tokens is None:
            context = context_length(model)
            max_text_tokens = context // 2 if context else max_text_chars
        if max_text_tokens < 1:
            raise JudgeError(f"max_text_tokens must be positive, got {max_text_tokens}")
        self.max_text_tokens = max_text_tokens
        self.model = model
        self.processor = processor
        self.style = style
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.name = name
        self.pairwise_both_orders = pairwise_both_orders

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, device: str | torch.device = "auto", dtype: str | torch.dtype = "auto", **kwargs
    ) -> "Judge":
        """Load a judge from a local model folder (ours, or any HF image-text-to-text checkpoint).

        device: "auto" (a CUDA GPU when there is one, else the CPU), "cpu", "cuda" or "cuda:N".
        dtype: "auto" (bfloat16 on a GPU, float32 on the CPU), "float32", "bfloat16" or "float16"
            (GPU only). A device that is not there raises JudgeError (see mtrl_judge.devices).
        Other keyword arguments go to Judge(): style, max_new_tokens, batch_size, max_pixels, name.
        style left out (or None): the prompt style the checkpoint was trained with, recorded in its
            judge_config.json by `mtrl-judge train`; "reason" for a folder without one. A style that
            differs from the recorded one is used, with a warning.
        """
        from .judge_config import read_judge_config

        recorded = (read_judge_config(path) or {}).get("style")  # before the slow load: a bad file fails at once
        if kwargs.get("style") is None:
            if recorded is None:  # a model from elsewhere, or a run saved before judge configs were written
                logger.warning("%s records no prompt style (no judge_config.json): using 'reason'; pass --style direct "
                               "(style='direct') for a judge trained to answer directly", path)
            kwargs["style"] = recorded or "reason"
        elif recorded and kwargs["style"] != recorded:
            logger.warning("%s was trained with the %r prompt style (judge_config.json); judging with %r as asked",
                           path, recorded, kwargs["style"])
        model, processor = load_backbone(path, dtype=dtype, device=device)
        kwargs.setdefault("name", model_name(path))
        logger.info("judge %s on %s (%s)", kwargs["name"], model.device, dtype_name(model.dtype))
        return cls(model, processor, **kwargs)

    @property
    def device(self) -> torch.device:
        """Where the model runs."""
        return self.model.device

    def prepare(self, request: JudgeRequest | dict, where: str = "") -> JudgeRequest:
        """Check a request (the one check in mtrl_judge.requests, plus the text's length in this
        model's tokens) and decode its images; errors name `where` and the field."""
        prepared = prepare_request(request, self.limits, where)
        if prepared.text:
            n_tokens = len(self.processor.tokenizer(prepared.text, add_special_tokens=False)["input_ids"])
            if n_tokens > self.max_text_tokens:
                prefix = f"{where}: " if where else ""
                raise RequestTooLargeError(
                    f"{prefix}field 'text' has {n_tokens:,} tokens; at most {self.max_text_tokens:,} (max_text_tokens)"
                )
        return prepared

    def judge(self, images: Sequence, text: str | None = None, task: str = "seetrue") -> Verdict:
        """Judge one example. Raises JudgeError for bad input (unknown task, wrong image count...)."""
        return self.judge_many([JudgeRequest(task=task, images=images, text=text)])[0]

    def rank(self, images: Sequence, text: str | None, task: str) -> list[tuple[int, Verdict]]:
        """Rank candidate images for one text by score, best first (the ImageReward-style use).

        `task` must be pointwise: each image is judged on its own and ranked by P(positive).
        Returns (input index, verdict) pairs. Scores are compared to 6 decimals (batch padding can
        move the last digits) and ties are broken by the image's name, so a permutation of the
        inputs gives the same ranking."""
        if get_task(task).format != "pointwise":
            raise JudgeError(f"rank needs a pointwise task (one image per judgment); {task!r} is {get_task(task).format}")
        if not images:
            raise JudgeError("rank needs at least one image")
        verdicts = self.judge_many([JudgeRequest(task=task, images=[image], text=text) for image in images])
        order = sorted(range(len(images)), key=lambda i: (-round(verdicts[i].score or 0.0, 6), str(images[i])))
        return [(i, verdicts[i]) for i in order]

    def judge_many(self, requests: Iterable[JudgeRequest | dict], *, progress: bool = False) -> list[Verdict]:
        """Judge many examples in batches of `batch_size`, in input order.

        Pairwise tasks are also judged with the images swapped (when `pairwise_both_orders`): the
        verdict is the one for the given order, its score P(image 1 is better) the mean over both
        orders (`both_orders_score`), which cancels a judge's position bias from the score."""
        judged = self.judge_orders(requests, both_orders=self.pairwise_both_orders, progress=progress)
        return [given if swapped is None else replace(given, score=both_orders_score(given.score, swapped.score))
                for given, swapped in judged]

    def judge_orders(
        self,
        requests: Iterable[JudgeRequest | dict],
        *,
        both_orders: bool = True,
        do_sample: bool = False,
        temperature: float = 1.0,
        progress: bool = False,
        description: str = "judging",
        on_invalid: Callable[[int, JudgeError], None] | None = None,
    ) -> list[tuple[Verdict, Verdict | None] | None]:
        """Per request, in input order: (the verdict for the given image order, the verdict with the images
        swapped), kept apart. The second is None for pointwise tasks, and for pairwise ones when not `both_orders`.

        This is what evaluation needs (judge_many combines the two orders into one verdict): all
        generations go through one queue in batches of `batch_size`, greedy unless `do_sample` (then at
        `temperature`, e.g. for self-consistency), with a progress bar named `description`.
        on_invalid: when given, a request that fails validation (unknown task, unreadable image...) is
            passed to it with its index and the error, and its slot is None; the others are still judged.
            Without it the first invalid request raises JudgeError before anything is generated."""
        if temperature <= 0:
            raise JudgeError("temperature must be positive")
        prepared: list[JudgeRequest | None] = []
        for i, request in enumerate(requests):
            try:
                prepared.append(self.prepare(request))
            except JudgeError as e:
                if on_invalid is None:
                    raise
                on_invalid(i, e)
                prepared.append(None)
        jobs = [r for r in prepared if r is not None]
        swapped_of: dict[int, int] = {}  # index in jobs of a request -> index in jobs of its swapped copy
        if both_orders:
            for i, r in enumerate(list(jobs)):
                if get_task(r.task).format == "pairwise":
                    swapped_of[i] = len(jobs)
                    jobs.append(JudgeRequest(task=r.task, images=list(r.images)[::-1], text=r.text))
        generation = {"do_sample": True, "temperature": temperature} if do_sample else {}
        verdicts: list[Verdict] = []
        with progress_bar(description, total=len(jobs), enabled=progress) as advance:
            for start in range(0, len(jobs), self.batch_size):
                batch = jobs[start : start + self.batch_size]
                verdicts += [Verdict.from_completion(c, get_task(r.task).choices, r.task, score=s)
                             for r, (c, s) in zip(batch, self.generate_scored(batch, **generation), strict=True)]
                advance(len(batch))
        out: list[tuple[Verdict, Verdict | None] | None] = []
        job = 0
        for request in prepared:
            if request is None:
                out.append(None)
                continue
            out.append((verdicts[job], verdicts[swapped_of[job]] if job in swapped_of else None))
            job += 1
        return out

    @torch.inference_mode()
    def generate_scored(self, batch: Sequence[JudgeRequest], **generation_kwargs) -> list[tuple[str, float | None]]:
        """(completion, score) per prepared request; the score is P(positive choice) at the answer
        position (see scoring.py), read from logits recorded during generation."""
        texts = [
            self.processor.apply_chat_template(
                render({"task": r.task, "text": r.text, "images": r.images}, self.style), add_generation_prompt=True,
                tokenize=False,
            )
            for r in batch
        ]
        images = [img for r in batch for img in r.images]
        inputs = self.processor(text=texts, images=images, padding=True, return_tensors="pt").to(self.model.device)
        choices = [get_task(r.task).choices for r in batch]
        recorder = ChoiceLogitsRecorder(self.processor.tokenizer, choices)
        kwargs = {"max_new_tokens": self.max_new_tokens, "do_sample": False, **generation_kwargs}
        output = self.model.generate(**inputs, logits_processor=LogitsProcessorList([recorder]), **kwargs)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        completions = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        scores = recorder.scores(new_tokens)
        missing = [i for i, s in enumerate(scores) if s is None]
        if missing:  # no answer tag was generated: one forward pass with "<answer>" appended
            forced = answer_position_scores(self.model, self.processor, [texts[i] + completions[i] for i in missing],
                                            [img for i in missing for img in batch[i].images], [choices[i] for i in missing])
            for i, score in zip(missing, forced, strict=True):
                scores[i] = score
        return list(zip(completions, scores, strict=True))
