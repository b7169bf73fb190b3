"""JudgeWorld scenes: a side view of objects standing on a ground line, as a plain-data scene graph.

A scene is a JSON-ready dict (ints, strings, lists only), so that the exact graph every image was
drawn from can be stored in a row's `meta` and re-rendered later: label rules are re-checked against
the graph, not against pixels. `render(scene)` draws it with PIL at 3x and box-downsamples, which
anti-aliases edges so that shapes stay recognisable at 128 px.

Conventions of this world (the label rules of the quality tasks rely on them):
- everything stands on something: the ground line, or the top of a table whose legs reach the ground;
- objects never overlap each other: it is a flat side view with no depth, so overlap = interpenetration;
- each object casts a shadow on the surface below it, on the side away from the sun.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .geometry import LATEST, Geometry

SIZE = 128  # output side in pixels (the tiny backbones see at most 128 x 128)
SCALE = 3  # drawn at SCALE x and downsampled: anti-aliasing without per-primitive AA support in PIL

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "green": (44, 160, 44),
    "blue": (31, 90, 210),
    "yellow": (240, 200, 30),
    "orange": (250, 130, 20),
    "purple": (140, 70, 180),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "hexagon", "diamond", "cross")

# Natural palettes: every sky goes with every ground. Broad on purpose, so that "natural" is not
# one colour histogram (agin-nat must not be solvable from pixel statistics).
SKIES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "day": ((120, 180, 235), (200, 225, 245)),
    "overcast": ((170, 176, 186), (214, 217, 222)),
    "dawn": ((236, 170, 150), (250, 222, 190)),
    "dusk": ((100, 95, 160), (235, 165, 135)),
    "haze": ((205, 215, 225), (236, 236, 230)),
    "night": ((30, 40, 80), (80, 90, 130)),
    "sunset": ((180, 80, 90), (250, 170, 80)),
    "storm": ((70, 78, 90), (140, 145, 150)),
}
GROUNDS: dict[str, tuple[int, int, int]] = {
    "grass": (105, 155, 75),
    "sand": (215, 195, 145),
    "soil": (135, 100, 72),
    "snow": (232, 236, 242),
    "stone": (148, 148, 150),
    "moss": (85, 115, 68),
    "autumn": (170, 110, 50),
    "clay": (180, 95, 70),
    "slate": (90, 100, 115),
}
TABLE_RGB = (120, 82, 50)


def jitter(rng: np.random.Generator, rgb, amount: int = 12) -> list[int]:
    """A colour near `rgb`, so that one colour name covers a range of pixel values."""
    return [int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb]


def sample_background(rng: np.random.Generator, geo: Geometry = LATEST) -> dict:
    """Sky gradient, ground band, sun, clouds and ground specks: the scene's setting."""
    sky = str(rng.choice(list(SKIES)))
    ground = str(rng.choice(list(GROUNDS)))
    top, bottom = SKIES[sky]
    ground_y = int(rng.integers(*geo.ground_y))
    ground_rgb = jitter(rng, GROUNDS[ground], 10)
    light = int(rng.choice([-1, 1]))  # the sun's side; shadows fall on the other side
    sun = [int(SIZE / 2 + light * rng.integers(24, 54)), int(rng.integers(10, 30))]
    clouds = []
    if sky not in ("night",):
        for _ in range(int(rng.integers(0, 4))):
            clouds.append([int(rng.integers(0, SIZE)), int(rng.integers(6, 40)), int(rng.integers(12, 30)),
                           int(rng.integers(4, 9))])
    specks = []
    for _ in range(int(rng.integers(6, 18))):
        shade = float(rng.uniform(0.75, 1.2))
        specks.append([int(rng.integers(0, SIZE)), int(rng.integers(ground_y + 2, SIZE)), int(rng.integers(2, 6)),
                       [int(np.clip(c * shade, 0, 255)) for c in ground_rgb]])
    background = {
        "sky": sky, "sky_rgb": [jitter(rng, top, 10), jitter(rng, bottom, 10)], "ground": ground, "ground_rgb": ground_rgb,
        "ground_y": ground_y, "light": light, "sun": sun, "clouds": clouds, "specks": specks,
        # Natural grain of the ground (seed, amplitude): per-pixel variation in clean images, so that
        # "the histogram is spread" does not mean "noisy image" (agin-tech).
        "grain": [int(rng.integers(2**31)), int(rng.integers(0, 26))],
        # Atmospheric haze (percent veil of the horizon colour): natural, mildly lower contrast.
        "haze": int(rng.integers(0, geo.haze_max + 1)) if rng.random() < 0.5 else 0,
    }
    if geo.version >= 2:  # recorded in the scene so that render() stays a pure function of the dict
        background["shadow_h"] = geo.shadow_half_height
        background["glow_rgb"] = list(geo.glowing_shadow_rgb)
    return background


def new_object(rng: np.random.Generator, colour: str, shape: str, size: int, group: str) -> dict:
    return {"colour": colour, "shape": shape, "rgb": jitter(rng, COLOURS[colour]), "size": int(size), "group": group,
            "x": 0, "bottom": 0, "support_y": 0, "sunk": False}


# --- geometry -------------------------------------------------------------------------------------

def _unit_polygon(shape: str) -> list[tuple[float, float]] | None:
    """The shape's outline in a unit box [-0.5, 0.5]^2 (y down), or None for a circle."""
    if shape == "circle":
        return None
    if shape == "square":
        return [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)]
    if shape == "triangle":
        return [(0.0, -0.5), (0.5, 0.5), (-0.5, 0.5)]
    if shape == "diamond":
        return [(0.0, -0.5), (0.4, 0.0), (0.0, 0.5), (-0.4, 0.0)]
    if shape == "hexagon":
        return [(-0.25, -0.5), (0.25, -0.5), (0.5, 0.0), (0.25, 0.5), (-0.25, 0.5), (-0.5, 0.0)]
    if shape == "cross":
        a = 0.17
        return [(-a, -0.5), (a, -0.5), (a, -a), (0.5, -a), (0.5, a), (a, a),
                (a, 0.5), (-a, 0.5), (-a, a), (-0.5, a), (-0.5, -a), (-a, -a)]
    if shape == "star":
        pts = []
        for k in range(10):
            r = 0.5 if k % 2 == 0 else 0.21
            ang = -np.pi / 2 + k * np.pi / 5
            pts.append((r * np.cos(ang), r * np.sin(ang)))
        ys = [p[1] for p in pts]  # stretch so that the lowest points touch the bottom of the box
        lo, hi = min(ys), max(ys)
        return [(x, -0.5 + (y - lo) / (hi - lo)) for x, y in pts]
    raise ValueError(f"unknown shape {shape!r}")


def object_box(obj: dict) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) in output pixels."""
    half = obj["size"] / 2
    return (int(round(obj["x"] - half)), obj["bottom"] - obj["size"], int(round(obj["x"] + half)), obj["bottom"])


def _darker(rgb, factor: float = 0.55) -> tuple[int, int, int]:
    return tuple(int(c * factor) for c in rgb)


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, bottom: float, size: float, rgb, scale: int = SCALE) -> None:
    """Fill `shape` (bounding box `size`, bottom edge at `bottom`) with a darker outline."""
    s = size * scale
    cx, cy = cx * scale, bottom * scale - s / 2
    outline, width = _darker(rgb), max(1, scale)
    poly = _unit_polygon(shape)
    if poly is None:
        draw.ellipse((cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2), fill=tuple(rgb), outline=outline, width=width)
    else:
        draw.polygon([(cx + x * s, cy + y * s) for x, y in poly], fill=tuple(rgb), outline=outline, width=width)


# --- rendering -------------------------------------------------------------------------------------

def _sky(scene: dict) -> Image.Image:
    n = SIZE * SCALE
    top, bottom = (np.array(c, dtype=np.float32) for c in scene["sky_rgb"])
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
    rows = (top[None, :] * (1 - t) + bottom[None, :] * t).round().astype(np.uint8)  # n x 3
    return Image.fromarray(np.repeat(rows[:, None, :], n, axis=1), "RGB")


def _shadow(draw, obj, surface_rgb, light: int, shadows: str, scene: dict) -> None:
    # "flipped" / "missing" shadows are agin-nat perturbations (lighting that cannot be).
    if shadows == "none":
        return
    side = -light if shadows == "consistent" else light
    w = obj["size"] * 0.95
    cx = obj["x"] + side * obj["size"] * 0.3
    y = obj["support_y"]
    h = scene.get("shadow_h", 2.2)
    if shadows != "bright":
        rgb = _darker(surface_rgb, 0.7)
    elif "glow_rgb" in scene:  # version 2: a glow that no surface colour can pass for a shadow
        rgb = tuple(scene["glow_rgb"])
    else:
        rgb = tuple(min(255, int(c * 1.35) + 30) for c in surface_rgb)
    draw.ellipse(((cx - w / 2) * SCALE, (y - h) * SCALE, (cx + w / 2) * SCALE, (y + h) * SCALE), fill=rgb)


def render(scene: dict) -> Image.Image:
    """The scene as a SIZE x SIZE RGB image. Pure function of the dict: same dict, same pixels."""
    bg = scene
    image = _sky(scene)
    draw = ImageDraw.Draw(image)
    k = SCALE
    gy = bg["ground_y"]
    (sx, sy), r = bg["sun"], 5 if bg["sky"] == "night" else 7  # the moon at night
    glow = (235, 235, 215) if bg["sky"] == "night" else (255, 240, 170)
    draw.ellipse(((sx - r) * k, (sy - r) * k, (sx + r) * k, (sy + r) * k), fill=glow)
    for x, y, w, h in bg["clouds"]:
        draw.ellipse(((x - w) * k, (y - h) * k, (x + w) * k, (y + h) * k), fill=(245, 245, 248))
    # Sunk objects are drawn before the ground so that the ground hides their lower part.
    for obj in scene["objects"]:
        if obj.get("sunk"):
            draw_shape(draw, obj["shape"], obj["x"], obj["bottom"], obj["size"], obj["rgb"])
    draw.rectangle((0, gy * k, SIZE * k, SIZE * k), fill=tuple(bg["ground_rgb"]))
    for x, y, r, rgb in bg["specks"]:
        draw.ellipse(((x - r) * k, (y - r / 2) * k, (x + r) * k, (y + r / 2) * k), fill=tuple(rgb))
    shadows = scene.get("shadows", "consistent")
    table = scene.get("table")
    if table:
        top, x0, x1 = table["top"], table["x0"], table["x1"]
        if table["legs"]:
            for lx in (x0 + 1, x1 - 4):
                draw.rectangle((lx * k, top * k, (lx + 3) * k, gy * k), fill=_darker(table["rgb"], 0.8))
        draw.rectangle((x0 * k, top * k, x1 * k, (top + 3) * k), fill=tuple(table["rgb"]), outline=_darker(table["rgb"]), width=k)
    for obj in scene["objects"]:
        surface = table["rgb"] if table and obj["support_y"] == table["top"] else bg["ground_rgb"]
        _shadow(draw, obj, surface, bg["light"], shadows, scene)
    for sign in scene.get("signs", []):
        from .symbols import draw_sign  # late import: symbols draws with this module's helpers

        draw_sign(draw, sign, k)
    for obj in scene["objects"]:
        if not obj.get("sunk"):
            draw_shape(draw, obj["shape"], obj["x"], obj["bottom"], obj["size"], obj["rgb"])
    image = image.reduce(SCALE)  # box average of each SCALE x SCALE block: the anti-aliasing step
    grain_seed, amp = scene.get("grain", (0, 0))
    if amp:
        a = np.asarray(image, dtype=np.int16).copy()
        shade = np.random.default_rng(grain_seed).integers(-amp, amp + 1, size=(SIZE - gy, SIZE, 1), dtype=np.int16)
        a[gy:] = np.clip(a[gy:] + shade, 0, 255)
        image = Image.fromarray(a.astype(np.uint8), "RGB")
    haze = scene.get("haze", 0)
    if haze:
        veil = Image.new("RGB", image.size, tuple(scene["sky_rgb"][1]))
        image = Image.blend(image, veil, haze / 100)
    return image
