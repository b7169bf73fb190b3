"""Trivial baselines for JudgeWorld: logistic regression on colour histograms (and caption words).

If a task is solvable from pixel statistics alone, it tests nothing a judge should learn. This fits,
per task, a logistic regression on train and reports macro-F1 on test:
  hist       joint RGB histogram (4x4x4 bins) + per-channel histograms (16 bins each) + mean/std;
             pairwise tasks use the difference of the two images' features;
  hist+text  the same plus bag-of-words of the text (catches captions that give the answer away).
Usage: .venv/bin/python benchmarks/world_trivial_baseline.py [--world DIR] [--size demo] [--seed 0]
(without --world it draws a world into a temporary folder first).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler

from mtrl_judge.data.world import WORLD_TASKS, generate_world, load_world


def image_features(image: Image.Image) -> np.ndarray:
    a = np.asarray(image.convert("RGB"), dtype=np.uint8).reshape(-1, 3)
    q = (a // 64).astype(np.int32)
    joint = np.bincount(q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2], minlength=64) / len(a)
    per = [np.bincount(a[:, c] // 16, minlength=16) / len(a) for c in range(3)]
    stats = np.concatenate([a.mean(0) / 255, a.std(0) / 255])
    return np.concatenate([joint, *per, stats])


def features(ds) -> tuple[np.ndarray, list[str], np.ndarray]:
    rows = []
    for images in ds["images"]:
        f = [image_features(im if isinstance(im, Image.Image) else Image.open(io.BytesIO(im["bytes"]))) for im in images]
        rows.append(f[0] if len(f) == 1 else f[0] - f[1])
    return np.stack(rows), list(ds["text"]), np.array(ds["label"])


def macro_f1(world: Path, task: str, with_text: bool) -> float:
    xtr, ttr, ytr = features(load_world(world, task, "train"))
    xte, tte, yte = features(load_world(world, task, "test"))
    scaler = StandardScaler().fit(xtr)
    xtr, xte = csr_matrix(scaler.transform(xtr)), csr_matrix(scaler.transform(xte))
    if with_text and any(ttr):
        vec = CountVectorizer(ngram_range=(1, 2)).fit(ttr)
        xtr, xte = hstack([xtr, vec.transform(ttr)]).tocsr(), hstack([xte, vec.transform(tte)]).tocsr()
    clf = LogisticRegression(max_iter=3000, class_weight="balanced", C=1.0).fit(xtr, ytr)
    return float(f1_score(yte, clf.predict(xte), average="macro"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, help="a folder generate_world wrote (default: draw one now)")
    parser.add_argument("--size", default="demo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        world = args.world
        if world is None:
            world = Path(tmp) / "world"
            start = time.time()
            generate_world(world, size=args.size, seed=args.seed)
            print(f"drew JudgeWorld {args.size} (seed {args.seed}) in {time.time() - start:.1f} s", file=sys.stderr)
        print("| task | train | test | hist macro-F1 | hist+text macro-F1 |")
        print("|---|---|---|---|---|")
        for task in WORLD_TASKS:
            n_train, n_test = len(load_world(world, task, "train")), len(load_world(world, task, "test"))
            hist, both = macro_f1(world, task, False), macro_f1(world, task, True)
            print(f"| {task} | {n_train} | {n_test} | {hist:.3f} | {both:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
