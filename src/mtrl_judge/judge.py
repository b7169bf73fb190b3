"""The judge: a vision-language model that answers judge tasks, greedily, in batches.

    from mtrl_judge import Judge
    judge = Judge.from_pretrained("runs/mt-rl-judge/best")
    verdict = judge.judge(images=["cat.png"], text="a cat on a mat", task="seetrue")
    verdict.choice, verdict.reasoning, verdict.valid
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import LogitsProcessorList

from .backbone.load import load_backbone
from .data.images import DEFAULT_MAX_PIXELS, load_image
from .devices import dtype_name
from .errors import JudgeError
from .progress import progress_bar
from .scoring import ChoiceLogitsRecorder, answer_position_scores
from .prompts import STYLES, Verdict, render
from .tasks import get_task

logger = logging.getLogger(__name__)


@dataclass
class JudgeRequest:
    """One thing to judge: a task, its images (paths, bytes or PIL images) and maybe a text."""

    task: str
    images: Sequence
    text: str | None = None


class Judge:
    """Wraps a model and processor; renders prompts, generates, parses with the shared parser.

    Args:
        model, processor: a loaded image-text-to-text model and its processor.
        style: prompt style, "reason" (think then answer) or "direct" (answer only).
        max_new_tokens: generation budget per verdict.
        batch_size: examples per generate() call in `judge_many`.
        max_pixels: images larger than this are refused (not resized) before decoding.
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
        name: str = "judge",
        pairwise_both_orders: bool = True,
    ) -> None:
        if style not in STYLES:
            raise JudgeError(f"unknown prompt style {style!r}; expected one of {', '.join(STYLES)}")
        if max_new_tokens < 1 or batch_size < 1 or max_pixels < 1:
            raise JudgeError("max_new_tokens, batch_size and max_pixels must be positive")
        self.model = model
        self.processor = processor
        self.style = style
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.max_pixels = max_pixels
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
        """
        model, processor = load_backbone(path, dtype=dtype, device=device)
        kwargs.setdefault("name", Path(path).resolve().name)
        logger.info("judge %s on %s (%s)", kwargs["name"], model.device, dtype_name(model.dtype))
        return cls(model, processor, **kwargs)

    @property
    def device(self) -> torch.device:
        """Where the model runs."""
        return self.model.device

    def prepare(self, request: JudgeRequest | dict, where: str = "") -> JudgeRequest:
        """Validate a request and decode its images; errors name `where` and the field."""
        if isinstance(request, dict):
            request = JudgeRequest(task=request.get("task"), images=request.get("images") or [], text=request.get("text"))
        prefix = f"{where}: " if where else ""
        if not isinstance(request.task, str):
            raise JudgeError(f"{prefix}field 'task' is missing or not a string")
        try:
            task = get_task(request.task)
        except JudgeError as e:
            raise JudgeError(f"{prefix}field 'task': {e}") from None
        if isinstance(request.images, (str, bytes, Path)) or not isinstance(request.images, Sequence):
            raise JudgeError(f"{prefix}field 'images' must be a list of images")
        if len(request.images) != task.num_images:
            raise JudgeError(
                f"{prefix}field 'images': task {task.name!r} ({task.format}) takes {task.num_images} image(s), got {len(request.images)}"
            )
        if request.text is not None and not isinstance(request.text, str):
            raise JudgeError(f"{prefix}field 'text' must be a string")
        if task.uses_text and not (request.text or "").strip():
            raise JudgeError(f"{prefix}field 'text': task {task.name!r} judges an image against a text, but none was given")
        images = [
            load_image(img, max_pixels=self.max_pixels, where=f"{prefix}field 'images'[{i}]".strip())
            for i, img in enumerate(request.images)
        ]
        return JudgeRequest(task=task.name, images=images, text=request.text)

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
        orders, which cancels a judge's position bias from the score."""
        prepared = [self.prepare(r) for r in requests]
        jobs = list(prepared)
        swapped_of: dict[int, int] = {}
        if self.pairwise_both_orders:
            for i, r in enumerate(prepared):
                if get_task(r.task).format == "pairwise":
                    swapped_of[i] = len(jobs)
                    jobs.append(JudgeRequest(task=r.task, images=list(r.images)[::-1], text=r.text))
        results: list[tuple[str, float | None]] = []
        with progress_bar("judging", total=len(jobs), enabled=progress) as advance:
            for start in range(0, len(jobs), self.batch_size):
                batch = jobs[start : start + self.batch_size]
                results += self.generate_scored(batch)
                advance(len(batch))
        verdicts = []
        for i, request in enumerate(prepared):
            completion, score = results[i]
            if i in swapped_of and score is not None and results[swapped_of[i]][1] is not None:
                score = (score + 1.0 - results[swapped_of[i]][1]) / 2
            verdicts.append(Verdict.from_completion(completion, get_task(request.task).choices, request.task, score=score))
        return verdicts

    def generate(self, batch: Sequence[JudgeRequest], **generation_kwargs) -> list[str]:
        """Greedy completions (decoded like TRL decodes them) for prepared requests."""
        return [text for text, _ in self.generate_scored(batch, **generation_kwargs)]

    @torch.inference_mode()
    def generate_scored(self, batch: Sequence[JudgeRequest], **generation_kwargs) -> list[tuple[str, float | None]]:
        """(completion, score) per prepared request; the score is P(positive choice) at the answer
        position (see scoring.py), read from logits recorded during generation."""
        texts = [
            self.processor.apply_chat_template(
                render({"task": r.task, "text": r.text, "images": r.images}, self.style), add_generation_prompt=True, tokenize=False
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
            for i, score in zip(missing, forced):
                scores[i] = score
        return list(zip(completions, scores))
