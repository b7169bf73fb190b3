"""A contact sheet of JudgeWorld: one example per task with its text and label (docs/world_examples.png)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ...tasks import get_task
from .generate import load_world
from .sizes import WORLD_TASKS

CELL_W, CELL_H, PAD = 300, 330, 8


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def example_grid(world: str | Path, split: str = "test", picks: dict[str, int] | None = None, columns: int = 4) -> Image.Image:
    """One cell per task: the image(s), the task's question, the text, the label and score."""
    picks = picks or {}
    rows = (len(WORLD_TASKS) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * CELL_W, rows * CELL_H), "white")
    draw = ImageDraw.Draw(sheet)
    title, body = _font(15), _font(12)
    for k, task in enumerate(WORLD_TASKS):
        x0, y0 = (k % columns) * CELL_W + PAD, (k // columns) * CELL_H + PAD
        row = load_world(world, task, split)[picks.get(task, 0)]
        images = row["images"]
        side = 192 if len(images) == 1 else (CELL_W - 3 * PAD) // 2
        for j, im in enumerate(images):
            sheet.paste(im.resize((side, side), Image.Resampling.NEAREST), (x0 + j * (side + PAD), y0 + 22))
            if len(images) == 2:
                draw.text((x0 + j * (side + PAD) + 4, y0 + 24), str(j + 1), fill="black", font=title,
                          stroke_width=2, stroke_fill="white")
        draw.text((x0, y0), task, fill="black", font=title)
        meta = json.loads(row["meta"])
        spec = get_task(task)
        lines = textwrap.wrap(spec.question, 44)
        if row["text"]:
            lines += textwrap.wrap(f'text: "{row["text"]}"', 44)
        why = meta.get("perturbations") or meta.get("edits") or meta.get("hazards") or []
        kinds = ", ".join(sorted({(w.get("kind") if isinstance(w, dict) else str(w)) for w in why}))
        lines.append(f"label: {row['label']}   score: {row['score']:.2f}" + (f"   ({kinds})" if kinds else ""))
        y = y0 + 22 + side + 6
        for line in lines[:6]:
            draw.text((x0, y), line, fill=(20, 20, 20), font=body)
            y += 15
    return sheet
