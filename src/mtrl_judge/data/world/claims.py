"""Claims: what a caption or prompt asserts about a scene, its English text, and its exact truth.

A claim is {"groups": [[count, colour, shape], ...], "relation": None | "left of" | ...}; the
relation, when present, holds between group 0 and group 1 ("group 0 <relation> group 1"). Truth is
decided on the scene graph, never on pixels: each group must appear exactly `count` times, and every
object of group 0 must stand in the relation to every object of group 1. Objects a claim does not
mention are allowed (SeeTRUE's criterion: everything the text states is shown).
"""

from __future__ import annotations

import numpy as np

from .scene import COLOURS, SHAPES, object_box

RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
NUMBER_WORDS = ("zero", "one", "two", "three", "four")
MAX_COUNT = 4
EDIT_KINDS = ("colour", "shape", "count", "relation")


def random_claim(rng: np.random.Generator, *, p_relation: float = 0.7, max_count: int = MAX_COUNT,
                 max_total: int | None = None) -> dict:
    """One or two groups of distinct (colour, shape); two groups always come with a relation.
    With `max_total`, the groups name at most that many objects together."""
    two = rng.random() < p_relation
    groups = []
    while len(groups) < (2 if two else 1):
        colour, shape = str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES))
        if any(g[1] == colour and g[2] == shape for g in groups):
            continue
        room = (max_count if max_total is None
                else min(max_count, max_total - sum(g[0] for g in groups) - (1 if two and not groups else 0)))
        groups.append([int(rng.integers(1, room + 1)), colour, shape])
    relation = str(rng.choice(RELATIONS)) if two else None
    if relation in ("above", "below"):  # a table holds at most three objects on top or beneath
        for g in groups:
            g[0] = min(g[0], 3)
    return {"groups": groups, "relation": relation}


def _noun_phrase(count: int, colour: str, shape: str, numeral: bool) -> str:
    noun = shape if count == 1 else (shape + "es" if shape.endswith(("s", "x", "sh", "ch")) else shape + "s")
    if count == 1:
        det = "one" if numeral else ("an" if colour[0] in "aeiou" else "a")
    else:
        det = NUMBER_WORDS[count]
    return f"{det} {colour} {noun}"


def claim_text(claim: dict, rng: np.random.Generator) -> str:
    """Plain English for `claim`; word order and wording are drawn from `rng` (paraphrases)."""
    numeral = bool(rng.random() < 0.3)
    phrases = [_noun_phrase(*g, numeral=numeral) for g in claim["groups"]]
    if claim["relation"] is None:
        body = phrases[0]
    else:
        a, b, rel = phrases[0], phrases[1], claim["relation"]
        if rng.random() < 0.5:  # the same fact told from the other group's side
            a, b, rel = b, a, INVERSE[rel]
        rel_words = {"left of": ["left of", "to the left of"], "right of": ["right of", "to the right of"],
                     "above": ["above"], "below": ["below", "under"]}[rel]
        body = f"{a} {rel_words[int(rng.integers(len(rel_words)))]} {b}"
    prefix = ["", "", "a picture of ", "an image of "][int(rng.integers(4))]
    return prefix + body


def _members(scene: dict, colour: str, shape: str) -> list[dict]:
    return [o for o in scene["objects"] if o["colour"] == colour and o["shape"] == shape]


def relation_holds(relation: str, a: list[dict], b: list[dict]) -> bool:
    """Every object of `a` is `relation` every object of `b` (boxes strictly separated)."""
    if not a or not b:
        return False
    ba, bb = [object_box(o) for o in a], [object_box(o) for o in b]
    if relation == "left of":
        return max(x[2] for x in ba) < min(x[0] for x in bb)
    if relation == "right of":
        return min(x[0] for x in ba) > max(x[2] for x in bb)
    if relation == "above":
        return max(x[3] for x in ba) <= min(x[1] for x in bb)
    if relation == "below":
        return min(x[1] for x in ba) >= max(x[3] for x in bb)
    raise ValueError(f"unknown relation {relation!r}")


def claim_errors(scene: dict, claim: dict) -> list[str]:
    """What the scene gets wrong about `claim` (empty = the claim holds)."""
    errors = []
    for count, colour, shape in claim["groups"]:
        n = len(_members(scene, colour, shape))
        if n != count:
            errors.append(f"{count} {colour} {shape} expected, {n} shown")
    if claim["relation"] is not None and not errors:
        (_, ca, sa), (_, cb, sb) = claim["groups"][:2]
        if not relation_holds(claim["relation"], _members(scene, ca, sa), _members(scene, cb, sb)):
            errors.append(f"relation {claim['relation']!r} does not hold")
    return errors


def claim_holds(scene: dict, claim: dict) -> bool:
    return not claim_errors(scene, claim)


def edit_claim(claim: dict, rng: np.random.Generator, n_edits: int = 1, *, allow_drop: bool = False,
               max_count: int = MAX_COUNT) -> tuple[dict, list[dict]]:
    """`claim` with `n_edits` minimal changes (one colour, shape, count or relation each).

    With allow_drop, an edit may also drop group 1 (an object the prompt asks for is missing).
    Edits never make two groups share (colour, shape): that would tell a text-only model the
    caption is wrong without looking at the image.
    """
    groups = [list(g) for g in claim["groups"]]
    relation = claim["relation"]
    edits: list[dict] = []
    used: set[tuple[str, int]] = set()
    tries = 0
    while len(edits) < n_edits and tries < 100:
        tries += 1
        kinds = list(EDIT_KINDS[:3]) + (["relation"] if relation is not None else [])
        kinds += ["drop"] if allow_drop and len(groups) == 2 else []
        kind = str(rng.choice(kinds))
        g = int(rng.integers(len(groups))) if kind not in ("relation", "drop") else -1
        if (kind, g) in used or ("drop", -1) in used:
            continue
        if kind == "relation":
            new = str(rng.choice([r for r in RELATIONS if r != relation]))
            edits.append({"kind": "relation", "from": relation, "to": new})
            relation = new
        elif kind == "drop":
            edits.append({"kind": "drop", "group": groups[1]})
            groups, relation = groups[:1], None
        elif kind == "colour":
            new = str(rng.choice([c for c in COLOURS if c != groups[g][1]]))
            if any(h[1] == new and h[2] == groups[g][2] for h in groups):
                continue
            edits.append({"kind": "colour", "group": g, "from": groups[g][1], "to": new})
            groups[g][1] = new
        elif kind == "shape":
            new = str(rng.choice([s for s in SHAPES if s != groups[g][2]]))
            if any(h[1] == groups[g][1] and h[2] == new for h in groups):
                continue
            edits.append({"kind": "shape", "group": g, "from": groups[g][2], "to": new})
            groups[g][2] = new
        else:
            hi = min(3, max_count) if relation in ("above", "below") else max_count
            new = int(rng.choice([c for c in range(1, hi + 1) if c != groups[g][0]]))
            edits.append({"kind": "count", "group": g, "from": groups[g][0], "to": new})
            groups[g][0] = new
        used.add((kind, g))
    return {"groups": groups, "relation": relation}, edits
