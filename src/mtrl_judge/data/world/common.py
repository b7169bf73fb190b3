"""What every task generator shares: the drawn example, and content drawn inside one split's partition."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .claims import random_claim
from .geometry import LATEST, Geometry
from .layout import LayoutError, build_scene, random_distractors, split_of


@dataclass
class Drawn:
    """One generated judgment before encoding: images, text, gold label, exact score, and meta."""

    images: list[Image.Image]
    text: str
    label: str
    score: float
    meta: dict = field(default_factory=dict)


def claim_in_split(rng: np.random.Generator, split: str, **kw) -> dict:
    """A random claim from `split`'s share of the claim space (splits never share a claim)."""
    while True:
        claim = random_claim(rng, **kw)
        if split_of(claim) == split:
            return claim


def scene_in_split(rng: np.random.Generator, split: str, *, max_distractors: int = 2, signs=(), geo: Geometry = LATEST,
                   **kw) -> tuple[dict, dict]:
    """(claim, scene): a random scene whose claim lies in `split`, with 0..max_distractors extra objects
    (fewer where the geometry caps clutter)."""
    if geo.max_distractors is not None:
        max_distractors = min(max_distractors, geo.max_distractors)
    kw = {"max_count": geo.max_count, "max_total": geo.max_claim_objects, **kw}
    while True:
        claim = claim_in_split(rng, split, **kw)
        extra = random_distractors(rng, claim, int(rng.integers(0, max_distractors + 1)))
        try:
            return claim, build_scene(rng, claim, distractors=extra, signs=list(signs), geo=geo)
        except LayoutError:
            continue  # too many or too large items for the canvas: draw other content
