"""Layout: turning a claim (plus distractors and signs) into a scene graph that satisfies it.

Left/right relations put both groups in one row on the ground, group order fixed, distractors and
signs anywhere in the row. Above/below put the upper group on a table and the lower group on the
ground between its legs. Every object stands on its support and nothing overlaps: the scene is
plausible by construction (agin-rat's perturbations break that on purpose).
"""

from __future__ import annotations

import json
import zlib

import numpy as np

from .claims import INVERSE, claim_holds
from .geometry import LATEST, Geometry
from .scene import COLOURS, SHAPES, SIZE, TABLE_RGB, jitter, new_object, sample_background
from .symbols import sample_sign

MARGIN, GAP = 3, 2


class LayoutError(Exception):
    """The items do not fit the canvas at any size tried (the caller draws new content)."""


def _place_row(rng: np.random.Generator, widths: list[int], lo: int, hi: int) -> list[int]:
    """Left edges for items of `widths` in [lo, hi], in order, at least GAP apart, spread at random."""
    free = (hi - lo) - sum(widths) - GAP * (len(widths) - 1)
    if free < 0:
        raise LayoutError("row does not fit")
    cuts = np.sort(rng.integers(0, free + 1, size=len(widths)))
    lefts, x = [], lo
    prev = 0
    for w, c in zip(widths, cuts, strict=True):
        x += int(c - prev)
        lefts.append(x)
        x += w + GAP
        prev = c
    return lefts


def random_distractors(rng: np.random.Generator, claim: dict, n: int) -> list[tuple[str, str]]:
    """`n` single objects whose (colour, shape) no claimed group uses (they are never mentioned)."""
    taken = {(g[1], g[2]) for g in claim["groups"]}
    out: list[tuple[str, str]] = []
    while len(out) < n:
        pair = (str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)))
        if pair not in taken:
            taken.add(pair)
            out.append(pair)
    return out


def build_scene(rng: np.random.Generator, claim: dict, *, background: dict | None = None,
                distractors: list[tuple[str, str]] = (), signs: list[str] = (), geo: Geometry = LATEST) -> dict:
    """A scene where `claim` holds, with the distractor objects and signs added; raises LayoutError.
    Objects start at a base size drawn from the geometry and shrink until everything fits."""
    bg = background if background is not None else sample_background(rng, geo)
    gy = bg["ground_y"]
    relation = claim["relation"]
    for base in range(int(rng.integers(*geo.object_size)), geo.min_object_size - 1, -1):
        objects = []
        for i, (count, colour, shape) in enumerate(claim["groups"]):
            for _ in range(count):
                objects.append(new_object(rng, colour, shape, base + int(rng.integers(-2, 3)), f"g{i}"))
        for colour, shape in distractors:
            objects.append(new_object(rng, colour, shape, base + int(rng.integers(-2, 3)), "distractor"))
        sign_items = [sample_sign(rng, s, geo) for s in signs]
        scene = {**bg, "objects": objects, "signs": sign_items, "table": None, "shadows": "consistent"}
        try:
            _arrange(rng, scene, relation, gy)
        except LayoutError:
            continue
        if claim_holds(scene, claim):
            return scene
    raise LayoutError("claim does not fit the canvas")


def _arrange(rng: np.random.Generator, scene: dict, relation: str | None, gy: int) -> None:
    objects, signs = scene["objects"], scene["signs"]
    g0 = [o for o in objects if o["group"] == "g0"]
    g1 = [o for o in objects if o["group"] == "g1"]
    extras: list[dict] = [o for o in objects if o["group"] == "distractor"] + signs
    if relation in ("above", "below"):
        upper, lower = (g0, g1) if relation == "above" else (g1, g0)
        top_w = sum(o["size"] for o in upper) + GAP * (len(upper) - 1)
        low_w = sum(o["size"] for o in lower) + GAP * (len(lower) - 1)
        table_w = max(top_w + 6, low_w + 14)
        height = max(o["size"] for o in lower) + int(rng.integers(5, 14))
        table = {"x0": 0, "x1": table_w, "top": gy - height, "legs": True, "rgb": jitter(rng, TABLE_RGB, 15)}
        if table["top"] - max(o["size"] for o in upper) < 3:
            raise LayoutError("table too tall")
        row: list = [table] + extras
        order = list(rng.permutation(len(row)))
        row = [row[i] for i in order]
        widths = [_width(item) for item in row]
        for item, left in zip(row, _place_row(rng, widths, MARGIN, SIZE - MARGIN), strict=True):
            _put(item, left, gy)
        table["x1"] += table["x0"]
        for o, left in zip(upper, _place_row(rng, [o["size"] for o in upper], table["x0"] + 2, table["x1"] - 2), strict=True):
            _put(o, left, table["top"])
        for o, left in zip(lower, _place_row(rng, [o["size"] for o in lower], table["x0"] + 6, table["x1"] - 6), strict=True):
            _put(o, left, gy)
        scene["table"] = table
    else:
        if relation is None:
            main = g0 + g1
            main = [main[i] for i in rng.permutation(len(main))]
        else:
            first, second = (g0, g1) if relation == "left of" else (g1, g0)
            main = first + second
        row = list(main)
        for item in extras:
            row.insert(int(rng.integers(0, len(row) + 1)), item)
        widths = [_width(item) for item in row]
        for item, left in zip(row, _place_row(rng, widths, MARGIN, SIZE - MARGIN), strict=True):
            _put(item, left, gy)
    for s in signs:
        if s["bottom"] - s["post"] - s["size"] < 2:
            raise LayoutError("sign too tall")


def _width(item: dict) -> int:
    return item["x1"] if "x1" in item else item["size"]


def _put(item: dict, left: int, bottom: int) -> None:
    if "x1" in item:  # the table: x1 holds its width until placed
        item["x0"] = left
        return
    item["x"] = int(round(left + item["size"] / 2))
    item["bottom"] = bottom
    if "shape" in item:
        item["support_y"] = bottom


def canonical_claim(claim: dict) -> str:
    """A text key equal for claims stating the same fact ("A left of B" == "B right of A")."""
    groups = [tuple(g) for g in claim["groups"]]
    rel = claim["relation"]
    if rel in ("right of", "below"):
        groups, rel = [groups[1], groups[0]], INVERSE[rel]
    return json.dumps({"groups": groups, "relation": rel}, sort_keys=True)


SPLIT_BUCKETS = {"train": range(0, 8), "validation": range(8, 9), "test": range(9, 10)}


def split_of(claim: dict) -> str:
    """Which split a scene content belongs to: a fixed hash partition, so splits never share a claim."""
    bucket = zlib.crc32(canonical_claim(claim).encode()) % 10
    return next(s for s, r in SPLIT_BUCKETS.items() if bucket in r)
