"""The AGIN-like quality tasks: technical quality, naturalness and rationality of a rendered scene.

All three start from a plausible, natural, clean scene (the positive) and break one thing with a
graded severity for the negative; score = 1 - severity (1.0 for positives). Clean scenes vary widely
in sky, ground, clutter and lighting, so that no single pixel statistic separates the classes.
"""

from __future__ import annotations

import copy

import numpy as np

from .common import Drawn, scene_in_split
from .degrade import TECH_KINDS, apply, apply_all, apply_to_scene, sample_nat, sample_tech
from .geometry import LATEST, Geometry
from .scene import render

TECH_RULE = "yes iff no technical defect (blur, noise, JPEG blocking, low contrast) was applied"
NAT_RULE = ("yes iff colours and lighting were left natural "
            "(no tint, inversion, channel swap, hue shift, unnatural sky/ground, glowing shadows)")
RAT_RULE = ("yes iff every object rests on a support (ground or a table with legs) "
            "and no two objects overlap or sink into the ground")


def agin_tech(rng: np.random.Generator, positive: bool, split: str, geo: Geometry = LATEST) -> Drawn:
    _, scene = scene_in_split(rng, split, max_distractors=3, geo=geo)
    defects = []
    if not positive:
        defects = [sample_tech(rng, geo=geo)]
        if rng.random() < 0.2:
            other = [k for k in TECH_KINDS if k != defects[0]["kind"]]
            defects.append(sample_tech(rng, kind=str(rng.choice(other)), geo=geo))
    severity = min(1.0, sum(d["severity"] for d in defects))
    meta = {"scene": scene, "perturbations": defects, "severity": severity, "rule": TECH_RULE}
    return Drawn([apply_all(render(scene), defects)], "", "yes" if positive else "no", round(1.0 - severity, 3), meta)


def agin_nat(rng: np.random.Generator, positive: bool, split: str, geo: Geometry = LATEST) -> Drawn:
    _, scene = scene_in_split(rng, split, max_distractors=3, geo=geo)
    change = None if positive else sample_nat(rng, geo=geo)
    drawn = apply_to_scene(scene, change) if change else scene
    severity = change["severity"] if change else 0.0
    meta = {"scene": drawn, "natural_scene": scene if change else None, "perturbations": [change] if change else [],
            "severity": severity, "rule": NAT_RULE}
    return Drawn([apply(render(drawn), change)], "", "yes" if positive else "no", round(1.0 - severity, 3), meta)


def _same_support(scene: dict, obj: dict) -> list[dict]:
    return [o for o in scene["objects"] if o is not obj and o["support_y"] == obj["support_y"]]


def break_rationality(rng: np.random.Generator, scene: dict, geo: Geometry = LATEST) -> tuple[dict, dict] | None:
    """(scene, perturbation) with one physically impossible change, or None if this scene allows none."""
    scene = copy.deepcopy(scene)
    objs, table = scene["objects"], scene["table"]
    kinds = ["float", "interpenetrate", "sink"] + (["legless"] if table else [])
    kind = str(rng.choice(kinds))
    i = int(rng.integers(len(objs)))
    obj = objs[i]
    gy = scene["ground_y"]
    if kind == "float":
        under_table = table and obj["support_y"] == gy and table["x0"] <= obj["x"] <= table["x1"]
        ceiling = table["top"] + 5 if under_table else 3
        room = obj["bottom"] - obj["size"] - ceiling
        if room < geo.float_min_gap:
            return None
        gap = int(rng.integers(geo.float_min_gap, min(room, 28) + 1))
        obj["bottom"] -= gap
        return scene, {"kind": "float", "object": i, "gap": gap, "severity": round(min(1.0, gap / 25), 3)}
    if kind == "interpenetrate":
        others = _same_support(scene, obj)
        if not others:
            return None
        nb = min(others, key=lambda o: abs(o["x"] - obj["x"]))
        frac = round(float(rng.uniform(*geo.overlap_range)), 3)
        overlap = frac * min(obj["size"], nb["size"])
        direction = 1 if nb["x"] >= obj["x"] else -1
        obj["x"] = int(round(nb["x"] - direction * ((obj["size"] + nb["size"]) / 2 - overlap)))
        return scene, {"kind": "interpenetrate", "object": i, "other": objs.index(nb), "overlap": frac, "severity": frac}
    if kind == "sink":
        if obj["support_y"] != gy:
            return None
        depth = int(rng.integers(max(3, int(obj["size"] * geo.sink_min_fraction)), max(4, int(obj["size"] * 0.6)) + 1))
        obj["bottom"] += depth
        obj["sunk"] = True
        return scene, {"kind": "sink", "object": i, "depth": depth, "severity": round(min(1.0, depth / obj["size"]), 3)}
    table["legs"] = False
    return scene, {"kind": "legless", "height": gy - table["top"], "severity": round(min(1.0, (gy - table["top"]) / 30), 3)}


def agin_rat(rng: np.random.Generator, positive: bool, split: str, geo: Geometry = LATEST) -> Drawn:
    while True:
        _, scene = scene_in_split(rng, split, max_distractors=3, geo=geo)
        change = None
        if not positive:
            broken = break_rationality(rng, scene, geo)
            if broken is None:
                continue
            scene, change = broken
        break
    severity = change["severity"] if change else 0.0
    meta = {"scene": scene, "perturbations": [change] if change else [], "severity": severity, "rule": RAT_RULE}
    return Drawn([render(scene)], "", "yes" if positive else "no", round(1.0 - severity, 3), meta)
