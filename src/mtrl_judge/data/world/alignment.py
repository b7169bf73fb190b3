"""The pointwise alignment tasks: seetrue (is the caption true of the image?) and imagereward
(is the image a good rendering of the prompt?).

seetrue keeps the image faithful and edits the caption (SeeTRUE's contradiction captions);
imagereward keeps the prompt and breaks the image: parts of the prompt missing or wrong, and/or a
technical defect, so that "bad rendering" has both a semantic and a quality side, as human ratings do.
"""

from __future__ import annotations

import numpy as np

from .claims import claim_errors, claim_holds, claim_text, edit_claim
from .common import Drawn, scene_in_split
from .degrade import apply, sample_tech
from .geometry import LATEST, Geometry
from .layout import LayoutError, build_scene
from .scene import render

SEETRUE_RULE = "yes iff every group (count, colour, shape) and the relation the text states hold in the scene graph"
IMAGEREWARD_RULE = "yes iff the scene satisfies the prompt's claim and the image has no technical defect"


def seetrue(rng: np.random.Generator, positive: bool, split: str, geo: Geometry = LATEST) -> Drawn:
    """score = -(number of caption attributes edited): 0 for true captions, -1 or -2 otherwise."""
    while True:
        claim, scene = scene_in_split(rng, split, geo=geo)
        shown, edits = claim, []
        if not positive:
            n = 1 if rng.random() < 0.8 else 2
            shown, edits = edit_claim(claim, rng, n, max_count=geo.max_count)
            if len(edits) != n or claim_holds(scene, shown):
                continue  # an edit that happens to be true of the scene is not a negative
        break
    text = claim_text(shown, rng)
    meta = {"scene": scene, "claim": shown, "true_claim": claim, "edits": edits, "errors": claim_errors(scene, shown),
            "rule": SEETRUE_RULE}
    return Drawn([render(scene)], text, "yes" if positive else "no", float(-len(edits)), meta)


def imagereward(rng: np.random.Generator, positive: bool, split: str, geo: Geometry = LATEST) -> Drawn:
    """score = max(0, 1 - 0.3 * prompt parts wrong - 0.5 * defect severity): 1.0 for good renderings."""
    while True:
        claim, scene = scene_in_split(rng, split, geo=geo)
        edits, defect = [], None
        if not positive:
            mode = str(rng.choice(["miss", "defect", "both"], p=[0.5, 0.2, 0.3]))
            if mode in ("miss", "both"):
                drawn_claim, edits = edit_claim(claim, rng, 1 if rng.random() < 0.75 else 2, allow_drop=True,
                                                max_count=geo.max_count)
                distractors = [(o["colour"], o["shape"]) for o in scene["objects"] if o["group"] == "distractor"]
                background = {k: v for k, v in scene.items() if k not in ("objects", "signs", "table", "shadows")}
                try:
                    scene = build_scene(rng, drawn_claim, background=background, distractors=distractors, geo=geo)
                except LayoutError:
                    continue
                if claim_holds(scene, claim):
                    continue
            if mode in ("defect", "both"):
                defect = sample_tech(rng, lo=max(0.25, geo.tech_min_severity), geo=geo)
        break
    severity = defect["severity"] if defect else 0.0
    score = round(max(0.0, 1.0 - 0.3 * len(edits) - 0.5 * severity), 3)
    meta = {"scene": scene, "claim": claim, "edits": edits, "errors": claim_errors(scene, claim),
            "perturbations": [defect] if defect else [], "rule": IMAGEREWARD_RULE}
    return Drawn([apply(render(scene), defect)], claim_text(claim, rng), "yes" if positive else "no", score, meta)
