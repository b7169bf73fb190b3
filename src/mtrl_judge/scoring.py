"""Graded judgments: P(positive choice) at the answer position.

The score of a verdict is the model's next-token probability of the task's positive choice right
after `<answer>`, normalised over the task's choices (as VQAScore reads P("Yes")). It is read from
logits recorded while the completion is generated, so it costs no extra pass; only completions
that never opened an answer get one forward pass with "<answer>" appended. Each choice counts its
case variants ("yes", "Yes", "YES"), since the parser accepts them all.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

ANSWER_TAG = "<answer>"


def choice_token_ids(tokenizer, choice: str) -> list[int]:
    """First token of each case variant of `choice` (deduplicated)."""
    ids = []
    for variant in dict.fromkeys([choice, choice.lower(), choice.capitalize(), choice.upper()]):
        tokens = tokenizer.encode(variant, add_special_tokens=False)
        if tokens and tokens[0] not in ids:
            ids.append(tokens[0])
    return ids


def positive_probability(logits: torch.Tensor, groups: Sequence[Sequence[int]]) -> float:
    """P(first group) among the groups, from one row of next-token logits (log-sum-exp per group)."""
    group_logits = torch.stack([torch.logsumexp(logits[list(g)].float(), dim=0) for g in groups])
    return float(torch.softmax(group_logits, dim=0)[0])


class ChoiceLogitsRecorder(LogitsProcessor):
    """Keeps, at every generation step, the logits of each row's choice tokens (a few floats per
    step, not the vocabulary), and leaves the scores unchanged. Placed among the processors, it
    sees the logits before sampling warpers (temperature, top-p) change them."""

    def __init__(self, tokenizer, choices_per_row: Sequence[Sequence[str]]) -> None:
        self.tokenizer = tokenizer
        self.groups = [[choice_token_ids(tokenizer, c) for c in choices] for choices in choices_per_row]
        self.steps: list[list[torch.Tensor]] = []  # per step, per row: logits of that row's choice tokens

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.steps.append([scores[row, [t for g in groups for t in g]].detach().float().cpu()
                           for row, groups in enumerate(self.groups)])
        return scores

    def scores(self, new_tokens: torch.Tensor) -> list[float | None]:
        """P(positive choice) per row at the step right after the generated text ends in <answer>."""
        out: list[float | None] = []
        for row, groups in enumerate(self.groups):
            step = answer_step(self.tokenizer, new_tokens[row].tolist())
            if step is None or step >= len(self.steps):
                out.append(None)
                continue
            flat = self.steps[step][row]
            sizes = [len(g) for g in groups]
            logits_by_group = torch.split(flat, sizes)
            group_logits = torch.stack([torch.logsumexp(x, dim=0) for x in logits_by_group])
            out.append(float(torch.softmax(group_logits, dim=0)[0]))
        return out


def answer_step(tokenizer, token_ids: Sequence[int]) -> int | None:
    """Index of the first generated token that follows text ending in "<answer>" (any case,
    trailing whitespace allowed), or None. Works whether the tag is one token or several."""
    text = ""
    for i, token in enumerate(token_ids):
        text += tokenizer.decode([token], skip_special_tokens=False)
        if text.rstrip().lower().endswith(ANSWER_TAG):
            return i + 1
    return None


@torch.inference_mode()
def answer_position_scores(
    model, processor, texts: Sequence[str], images: list, choices_per_row: Sequence[Sequence[str]]
) -> list[float]:
    """One forward pass over `text + "<answer>"` per row: P(positive choice) at the next token."""
    inputs = processor(text=[t + ANSWER_TAG for t in texts], images=images or None, padding=True,
                       return_tensors="pt").to(model.device)
    logits = model(**inputs).logits[:, -1, :]  # left padding: the last position is every row's next token
    tokenizer = processor.tokenizer
    return [positive_probability(logits[i], [choice_token_ids(tokenizer, c) for c in choices])
            for i, choices in enumerate(choices_per_row)]
