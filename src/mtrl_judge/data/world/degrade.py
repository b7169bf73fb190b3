"""Image perturbations with a recorded, graded severity: technical defects and unnatural colour.

Each perturbation is a JSON-ready dict {"kind", "severity" in (0, 1], parameters...}; `apply`
re-creates the perturbed image exactly from the clean render and that dict (noise carries its own
seed), which is how tests re-check a row's label against its image.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from .geometry import LATEST, Geometry

TECH_KINDS: tuple[str, ...] = ("blur", "noise", "jpeg", "contrast")
NAT_IMAGE_KINDS: tuple[str, ...] = ("tint", "invert", "channel_swap", "hue_shift")
NAT_SCENE_KINDS: tuple[str, ...] = ("palette", "shadows")  # applied to the scene graph before rendering
TINTS = {"magenta": (255, 0, 255), "green": (0, 255, 0), "cyan": (0, 255, 255), "red": (255, 0, 0), "blue": (0, 0, 255)}
# Sky/ground colours no daylight or weather produces; blended in by severity.
UNNATURAL_SKIES = {"lime": (120, 240, 40), "magenta": (235, 40, 200), "blood": (200, 20, 30), "cyan": (20, 245, 235)}
UNNATURAL_GROUNDS = {"violet": (150, 40, 220), "pink": (250, 90, 190), "electric blue": (30, 70, 250), "orange": (255, 120, 0)}


def _s(rng: np.random.Generator, lo: float = 0.15) -> float:
    return round(float(rng.uniform(lo, 1.0)), 3)


def sample_tech(rng: np.random.Generator, kind: str | None = None, lo: float | None = None, geo: Geometry = LATEST) -> dict:
    """A technical defect of random kind and strength (severity at least `lo`, by default the geometry's minimum)."""
    kind = kind or str(rng.choice(TECH_KINDS))
    p = {"kind": kind, "severity": _s(rng, geo.tech_min_severity if lo is None else lo)}
    if kind == "blur":
        p["radius"] = round(0.5 + 2.3 * p["severity"], 3)
    elif kind == "noise":
        p["sigma"] = round(3 + 30 * p["severity"], 3)
        p["noise_seed"] = int(rng.integers(2**31))
    elif kind == "jpeg":
        p["quality"] = int(round(50 - 45 * p["severity"]))
    elif kind == "contrast":
        p["factor"] = round(1 - geo.contrast_strength * p["severity"], 3)
    return p


def sample_nat(rng: np.random.Generator, lo: float | None = None, geo: Geometry = LATEST) -> dict:
    """An unnatural colour or lighting change of random kind and strength (at least the geometry's minimum)."""
    kind = str(rng.choice(NAT_IMAGE_KINDS + NAT_SCENE_KINDS))
    p = {"kind": kind, "severity": _s(rng, geo.nat_min_severity if lo is None else lo)}
    if kind == "tint":
        p["tint"] = str(rng.choice(list(TINTS)))
        p["alpha"] = round(0.1 + 0.3 * p["severity"], 3)
    elif kind == "invert":
        p["alpha"] = round(0.7 + 0.3 * p["severity"], 3)
    elif kind == "channel_swap":
        p["order"] = [[1, 2, 0], [2, 0, 1], [2, 1, 0], [1, 0, 2], [0, 2, 1]][int(rng.integers(5))]
        p["alpha"] = round(0.5 + 0.5 * p["severity"], 3)
    elif kind == "hue_shift":
        p["degrees"] = int(round(60 + 120 * p["severity"]))
    elif kind == "palette":
        p["sky"] = str(rng.choice(list(UNNATURAL_SKIES))) if rng.random() < 0.75 else None
        p["ground"] = str(rng.choice(list(UNNATURAL_GROUNDS))) if p["sky"] is None or rng.random() < 0.5 else None
        p["alpha"] = round(0.5 + 0.5 * p["severity"], 3)
    elif kind == "shadows":
        p["shadows"] = "bright"
    return p


def apply_to_scene(scene: dict, p: dict) -> dict:
    """The scene with a scene-level perturbation applied (other kinds: the scene unchanged)."""
    if p["kind"] == "palette":
        a = p["alpha"]
        scene = dict(scene)
        if p["sky"]:
            target = UNNATURAL_SKIES[p["sky"]]
            scene["sky_rgb"] = [[int(round((1 - a) * c + a * t)) for c, t in zip(rgb, target, strict=True)]
                                for rgb in scene["sky_rgb"]]
        if p["ground"]:
            target = UNNATURAL_GROUNDS[p["ground"]]
            new = [int(round((1 - a) * c + a * t)) for c, t in zip(scene["ground_rgb"], target, strict=True)]
            ratio = [n / max(c, 1) for n, c in zip(new, scene["ground_rgb"], strict=True)]
            scene["ground_rgb"] = new
            scene["specks"] = [[x, y, r, [int(min(255, c * q)) for c, q in zip(rgb, ratio, strict=True)]]
                               for x, y, r, rgb in scene["specks"]]
        return scene
    if p["kind"] == "shadows":
        return {**scene, "shadows": p["shadows"]}
    return scene


def apply(image: Image.Image, p: dict | None) -> Image.Image:
    """The image with an image-level perturbation applied (scene-level kinds: unchanged)."""
    if p is None:
        return image
    kind = p["kind"]
    if kind == "blur":
        return image.filter(ImageFilter.GaussianBlur(p["radius"]))
    if kind == "noise":
        a = np.asarray(image, dtype=np.float32)
        noise = np.random.default_rng(p["noise_seed"]).normal(0.0, p["sigma"], a.shape).astype(np.float32)
        return Image.fromarray(np.clip(a + noise, 0, 255).round().astype(np.uint8), "RGB")
    if kind == "jpeg":
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=p["quality"])
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if kind == "contrast":
        return ImageEnhance.Contrast(image).enhance(p["factor"])
    a = np.asarray(image, dtype=np.float32)
    if kind == "tint":
        out = (1 - p["alpha"]) * a + p["alpha"] * np.array(TINTS[p["tint"]], dtype=np.float32)
    elif kind == "invert":
        out = (1 - p["alpha"]) * a + p["alpha"] * (255 - a)
    elif kind == "channel_swap":
        out = (1 - p["alpha"]) * a + p["alpha"] * a[..., p["order"]]
    elif kind == "hue_shift":
        hsv = np.asarray(image.convert("HSV"), dtype=np.int32)
        hsv[..., 0] = (hsv[..., 0] + int(round(p["degrees"] * 256 / 360))) % 256
        return Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")
    else:
        return image
    return Image.fromarray(np.clip(out, 0, 255).round().astype(np.uint8), "RGB")


def apply_all(image: Image.Image, perturbations: list[dict]) -> Image.Image:
    for p in perturbations:
        image = apply(image, p)
    return image


__all__ = ["TECH_KINDS", "sample_tech", "sample_nat", "apply", "apply_all", "apply_to_scene"]
