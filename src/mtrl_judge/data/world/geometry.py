"""World versions: the sizes and strengths that decide how legible JudgeWorld is to a small model.

Version 1 is the original world, kept byte-for-byte reproducible so that earlier reports can be
regenerated. Its objects are 10-24 px on a 128 px image (up to ten per scene, one row), signs
24-33 px, and its weakest negatives sit below what a model seeing 16-32 px tokens can resolve: a
contrast defect inside natural haze, a one-grey-level glowing shadow, a 3 px sink.

Version 2 keeps every task's kind of evidence and makes it visible at the model's input: objects
20-32 px, at most four named objects and one distractor, signs of 36-44 px, and minimum strengths
for every defect, so that each negative differs from a positive in one detail a 16 px token can see.
Every parameter that differs between the versions lives here, passed explicitly to the generators.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import JudgeError


@dataclass(frozen=True)
class Geometry:
    """Object sizes, clutter and minimum defect strengths of one world version."""

    version: int
    object_size: tuple[int, int]  # first base size tried, drawn in [lo, hi); each object varies by +-2 px
    min_object_size: int  # the layout shrinks the base size down to this before redrawing the content
    max_count: int  # most objects a claim's group may hold
    max_claim_objects: int | None  # most objects a claim may name in all (None: no cap)
    max_distractors: int | None  # cap on unnamed objects per scene (None: what the task asks)
    sign_size: tuple[int, int]  # sign plate side, drawn in [lo, hi)
    ground_y: tuple[int, int]  # the ground line's height, drawn in [lo, hi)
    haze_max: int  # natural atmospheric veil, percent
    tech_min_severity: float  # weakest technical defect (agin-tech, imagereward)
    contrast_strength: float  # contrast factor = 1 - strength * severity
    nat_min_severity: float  # weakest unnatural colour or lighting change (agin-nat)
    shadow_half_height: float  # px; version 2 draws larger shadows so a glowing one is visible
    glowing_shadow_rgb: tuple[int, int, int] | None  # None: brighten the surface colour (version 1)
    float_min_gap: int  # px between a floating object and its support (agin-rat)
    sink_min_fraction: float  # share of an object's height sunk into the ground
    overlap_range: tuple[float, float]  # share of the smaller object's width two objects interpenetrate


V1 = Geometry(
    version=1, object_size=(15, 24), min_object_size=10, max_count=4, max_claim_objects=None, max_distractors=None,
    sign_size=(24, 34), ground_y=(88, 106), haze_max=30, tech_min_severity=0.08, contrast_strength=0.55,
    nat_min_severity=0.2, shadow_half_height=2.2, glowing_shadow_rgb=None, float_min_gap=5, sink_min_fraction=0.25,
    overlap_range=(0.3, 0.7),
)
V2 = Geometry(
    version=2, object_size=(25, 31), min_object_size=20, max_count=3, max_claim_objects=4, max_distractors=1,
    sign_size=(36, 45), ground_y=(92, 108), haze_max=12, tech_min_severity=0.45, contrast_strength=0.8,
    nat_min_severity=0.45, shadow_half_height=3.5, glowing_shadow_rgb=(255, 244, 150), float_min_gap=10,
    sink_min_fraction=0.4, overlap_range=(0.45, 0.8),
)
GEOMETRIES: dict[int, Geometry] = {1: V1, 2: V2}
LATEST = V2  # what `world generate`, the corpus and every default draw


def geometry(version: int) -> Geometry:
    """The geometry of world `version`; one line naming the choices otherwise."""
    if version not in GEOMETRIES:
        raise JudgeError(f"unknown world version {version!r}; choose one of {', '.join(map(str, GEOMETRIES))}")
    return GEOMETRIES[version]
