"""Does the vision tower hand the language model what it needs? Linear probes on the tokens it reads.

`base_probe.py` says what a base answers; when it names the wrong symbol, this says whether the symbol was
in the visual tokens at all. For fresh train-partition scenes (world version 2 geometry, one sign each, a
seed pretraining never drew) it takes the merged visual token that the language model receives at each
object's centre (and, with `--deepstack`, the deepstack features of the same token beside it), and fits a
linear classifier on the tokens of --train scenes to name the object's colour and shape and the sign's
symbol, then scores it on --test other scenes:

    .venv/bin/python benchmarks/tower_probe.py [--model models/base-small-p8-v3] [--train 1500] [--test 500] \
        [--tokens centre|other] [--json]

`--tokens other` reads instead every other token an object or a plate covers (each token whose cell's centre lies
inside its box, not its centre's): the language model can find an object by its shape from any of its tokens only
if the shape is there too, and a tower warmed on centres leaves it mostly at the centre (docs/base.md, "Several
questions an image").

Two reference rows come with it: `pixels`, the same classifier on the raw pixels of that token's cell
(what no learning gives), and `random tower`, the same tower with its weights re-drawn (what the
architecture alone gives). A tower whose tokens name a symbol linearly at 0.95 leaves the naming to the
language model; one at 0.6 has not learned to see it. With --json it prints one JSON object:
{"model", "seed", "tokens", "train_objects", "test_objects", "test_signs", "rows": {row: {"colour", "shape", "symbol"}}}.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from mtrl_judge.backbone import load_backbone, vision_tower
from mtrl_judge.data.world.scene import COLOURS, SHAPES, SIZE, render
from mtrl_judge.errors import JudgeError
from mtrl_judge.pretrain.cache import patchify
from mtrl_judge.pretrain.tower import SYMBOLS, draw_scene, labelled_cells, token_cell
from mtrl_judge.reproduce.budgets import DEFAULT_BASE

TARGETS = {"colour": len(COLOURS), "shape": len(SHAPES), "symbol": len(SYMBOLS)}


def draw_scenes(seed: int, n: int) -> list[dict]:
    """n train-partition scenes with one sign each, drawn as the corpus draws the scenes of its symbol questions."""
    rng = np.random.default_rng(seed)
    return [draw_scene(rng) for _ in range(n)]


@torch.inference_mode()
def token_features(model, image_processor, scenes: list[dict], deepstack: bool, batch: int = 32) -> torch.Tensor:
    """(scenes, tokens, features): the merged visual tokens of each rendered scene, or the raw pixels of each
    token's cell when `model` is None."""
    cell = image_processor.patch_size * image_processor.merge_size
    out = []
    for start in range(0, len(scenes), batch):
        images = torch.from_numpy(np.stack([np.asarray(render(s)) for s in scenes[start : start + batch]]))
        if model is None:
            g = SIZE // cell
            x = images.float().div(255).reshape(-1, g, cell, g, cell, 3).permute(0, 1, 3, 2, 4, 5)
            out.append(x.reshape(len(images), g * g, -1))
            continue
        pixel_values, grid = patchify(images, image_processor)
        seen = vision_tower(model)(pixel_values.to(model.dtype), grid_thw=grid, return_dict=True)
        feats = [seen.pooler_output] + (list(seen.deepstack_features) if deepstack else [])
        out.append(torch.cat(feats, -1).float().reshape(len(images), -1, feats[0].shape[-1] * len(feats)))
    return torch.cat(out)


def linear_accuracy(train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor], classes: int,
                    seed: int) -> float:
    """Test accuracy of a softmax classifier fitted full-batch on standardised features (Adam, 300 iterations)."""
    torch.manual_seed(seed)
    (x, y), (xt, yt) = train, test
    mean, std = x.mean(0), x.std(0) + 1e-5
    x, xt = (x - mean) / std, (xt - mean) / std
    head = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(head(x), y).backward()
        opt.step()
    with torch.no_grad():
        return round((head(xt).argmax(1) == yt).float().mean().item(), 3)


def labels(scenes: list[dict], cell: int, tokens: str = "centre") -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per target: (scene index, token index, class) of every object or sign at its centre's token, or with
    `tokens="other"` at each other token it covers, for gathering those tokens."""
    rows: dict[str, list[tuple[int, int, int]]] = {t: [] for t in TARGETS}
    for i, scene in enumerate(scenes):
        centres = labelled_cells(scene, cell)
        for token, target, cls in centres if tokens == "centre" else labelled_cells(scene, cell, "covered"):
            if tokens == "other" and (token, target, cls) in centres:
                continue
            rows[target].append((i, token, cls))
    return {t: tuple(torch.tensor(column) for column in zip(*r, strict=True)) for t, r in rows.items()}


def probe(model_dir: str, n_train: int, n_test: int, seed: int, deepstack: bool, device: str = "cpu",
          tokens: str = "centre") -> dict:
    train_scenes, test_scenes = draw_scenes(seed, n_train), draw_scenes(seed + 1, n_test)
    model, processor = load_backbone(model_dir, device=device, dtype="auto")
    image_processor = processor.image_processor
    try:
        cell = token_cell(model, image_processor, f"--model: {model_dir}")
    except JudgeError as e:
        raise SystemExit(str(e)) from None
    train_labels, test_labels = labels(train_scenes, cell, tokens), labels(test_scenes, cell, tokens)
    rows = {}
    for name in ("tower", "random tower", "pixels"):
        if name == "random tower":  # the same architecture, every weight matrix re-drawn: what no training gives
            torch.manual_seed(seed)
            for p in vision_tower(model).parameters():
                if p.dim() > 1:
                    torch.nn.init.normal_(p, std=0.02)
        net = None if name == "pixels" else model
        train_feats = token_features(net, image_processor, train_scenes, deepstack)
        test_feats = token_features(net, image_processor, test_scenes, deepstack)
        rows[name] = {}
        for t, k in TARGETS.items():
            (si, ti, y), (sj, tj, yt) = train_labels[t], test_labels[t]
            rows[name][t] = linear_accuracy((train_feats[si, ti], y), (test_feats[sj, tj], yt), k, seed)
    return {"model": model_dir, "seed": seed, "tokens": tokens, "deepstack": deepstack,
            "train_objects": len(train_labels["colour"][2]), "test_objects": len(test_labels["colour"][2]),
            "test_signs": len(test_labels["symbol"][2]), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=f"models/{DEFAULT_BASE}", help="a base folder (default: the committed default base)")
    parser.add_argument("--train", type=int, default=1500, help="scenes whose tokens fit the linear classifiers")
    parser.add_argument("--test", type=int, default=500, help="other scenes that score them")
    parser.add_argument("--seed", type=int, default=777, help="scene seed (the test scenes use seed + 1)")
    parser.add_argument("--deepstack", action="store_true",
                        help="also give the classifier the deepstack features of the same token (what the language "
                             "model's early layers receive)")
    parser.add_argument("--tokens", choices=["centre", "other"], default="centre",
                        help="read each object's and plate's centre token, or each other token it covers")
    parser.add_argument("--device", default="auto", help="auto (a CUDA GPU when there is one), cpu, cuda or cuda:N")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    if args.train < 50 or args.test < 50:
        parser.error("--train and --test: at least 50 scenes each")
    result = probe(args.model, args.train, args.test, args.seed, args.deepstack, args.device, args.tokens)
    if args.json:
        print(json.dumps(result))
        return
    where = "the visual token at each object's centre" if args.tokens == "centre" else "each object's other tokens"
    print(f"{args.model}: linear probes on {where} "
          f"({result['test_objects']} test labels of objects, {result['test_signs']} of signs)")
    print(f"{'features':<14}" + "".join(f"{t:>8}" for t in TARGETS))
    for name, accs in result["rows"].items():
        print(f"{name:<14}" + "".join(f"{accs[t]:8.3f}" for t in TARGETS))


if __name__ == "__main__":
    main()
