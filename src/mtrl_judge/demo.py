"""`make demo`: the main job.

Until the training recipes land, the demo builds the `small` backbone locally (random weights,
an untrained judge), draws one example per registered task, and judges them end to end: prompt
rendering, batched generation, the shared parser. It writes `verdicts.jsonl` in the output folder.
An untrained model answers with noise: the point is that the whole path runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from .backbone import build_backbone
from .io import write_jsonl
from .judge import Judge, JudgeRequest
from .tasks import list_tasks

logger = logging.getLogger(__name__)


def draw_scene(colour: str, shape: str, size: int = 96) -> Image.Image:
    """A plain scene: one shape of one colour on a light background."""
    image = Image.new("RGB", (size, size), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    box = (size // 4, size // 4, 3 * size // 4, 3 * size // 4)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    else:
        draw.rectangle(box, fill=colour)
    return image


def run_demo(out: Path, preset: str = "small") -> list[dict]:
    model_dir = out / f"backbone-{preset}"
    if not (model_dir / "config.json").is_file():
        logger.info("building the %s backbone in %s", preset, model_dir)
        build_backbone(preset, model_dir, overwrite=True)
    judge = Judge.from_pretrained(model_dir, max_new_tokens=48)
    red, blue = draw_scene("red", "circle"), draw_scene("blue", "square")
    requests = [
        JudgeRequest(task=t.name, images=[red] if t.num_images == 1 else [red, blue], text="a red circle" if t.uses_text else None)
        for t in list_tasks()
    ]
    verdicts = judge.judge_many(requests, progress=True)
    rows = [v.to_dict() for v in verdicts]
    write_jsonl(out / "verdicts.jsonl", rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    parser.add_argument("--preset", default="small", choices=["tiny", "tiny-moe", "small"], help="backbone size")
    args = parser.parse_args(argv)
    from .cli import _setup_logging

    _setup_logging(False)
    rows = run_demo(args.out, args.preset)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"untrained {args.preset} judge: one verdict per task ({args.out / 'verdicts.jsonl'})")
    for column in ("task", "choice", "valid", "completion"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["task"], str(row["choice"]), str(row["valid"]), json.dumps(row["completion"])[:60])
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
