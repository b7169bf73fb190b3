"""Pretraining data throughput: the cached corpus (`PixelCollator`) against processing images per batch.

Before the cache, every pretraining batch went through the model's processor (chat template,
tokenizer, image processor on PIL images), as TRL's SFT collator does; on a 16-core GPU machine that
bounded training at about 500 examples/s with the GPU mostly idle. The cache renders and tokenizes
once; a batch is then a few tensor reshapes. This prints examples/s of batch preparation both ways
and their ratio, measured in one run on this machine, plus the forward and backward step of the
committed base for scale (on a CPU the model, not the data, bounds a step), with the whole model
trained and with its vision tower frozen (`pretrain --freeze-tower`, the continuation after
`pretrain-tower`), and their ratio; then, with the tower frozen and direct answers, questions answered a
second when each image carries one question against `--questions-per-image` questions in one conversation
(`pretrain --questions-per-image`), and their ratio:

    .venv/bin/python benchmarks/pretrain_throughput.py [--model models/base-small-p8] [--n 512] [--batch-size 32] \
        [--questions-per-image 6]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from mtrl_judge.backbone import load_backbone, vision_tower
from mtrl_judge.pretrain.cache import CachedCorpus, PixelCollator, build_cache
from mtrl_judge.pretrain.corpus import examples, to_messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/base-small-p8")
    parser.add_argument("--n", type=int, default=512, help="examples per measurement")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--questions-per-image", type=int, default=6, help="the packing to compare with one question")
    args = parser.parse_args()
    model, processor = load_backbone(args.model)
    processor.tokenizer.padding_side = "right"
    drawn = list(examples(args.n, seed=7))
    batches = [drawn[i : i + args.batch_size] for i in range(0, len(drawn), args.batch_size)]

    start = time.perf_counter()
    for batch in batches:  # what a processor-based collator does for every batch
        texts = [processor.apply_chat_template(sum(to_messages(ex, style), []), tokenize=False) for ex, style in batch]
        processor(text=texts, images=[im for ex, _ in batch for im in ex.images], padding=True, return_tensors="pt")
    per_batch = args.n / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build_cache(tmp, args.model, n=args.n, seed=7, workers=1)
        drawing = args.n / (time.perf_counter() - start)
        data = CachedCorpus(tmp)
        collate = PixelCollator.for_processor(processor)
        start = time.perf_counter()
        for i in range(0, len(data), args.batch_size):
            last = collate([data[j] for j in range(i, min(i + args.batch_size, len(data)))])
        cached = args.n / (time.perf_counter() - start)

    model.train()

    def step_seconds() -> float:  # the faster of two timed steps after one warm-up step
        times = []
        for _ in range(3):
            model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            model(**last).loss.backward()
            times.append(time.perf_counter() - start)
        return min(times[1:])

    step = step_seconds()
    vision_tower(model).requires_grad_(False)  # what `pretrain --freeze-tower` freezes
    frozen = step_seconds()

    packing = {}  # questions per image -> (seconds a step, questions in the batch), direct answers, tower frozen
    for k in (1, args.questions_per_image):
        with tempfile.TemporaryDirectory() as tmp:
            data = CachedCorpus(build_cache(tmp, args.model, n=args.batch_size, seed=7, workers=1, styles=("direct",),
                                            questions_per_image=k))
            last = collate([data[j] for j in range(len(data))])
            packing[k] = (step_seconds(), data.questions())
    print(f"batch preparation, {args.n} examples in batches of {args.batch_size}, {torch.get_num_threads()} threads:")
    print(f"  processor per batch   {per_batch:9.1f} examples/s")
    print(f"  cached (PixelCollator){cached:9.1f} examples/s   "
          f"(drawing the cache once: {drawing:.1f} examples/s, rendering included)")
    print(f"  ratio cached / per-batch: {cached / per_batch:.1f}x")
    print(f"  for scale: one forward+backward step of {args.model} on this machine: {step:.2f} s "
          f"({args.batch_size / step:.1f} examples/s)")
    print(f"  the same step with the vision tower frozen (--freeze-tower): {frozen:.2f} s "
          f"({args.batch_size / frozen:.1f} examples/s); ratio full / frozen: {step / frozen:.2f}x")
    (one, q1), (packed, qk) = packing[1], packing[args.questions_per_image]
    print(f"questions answered a second, direct answers, tower frozen, {args.batch_size} images a step:")
    print(f"  one question an image          {q1 / one:7.1f} questions/s ({one:.2f} s a step, {q1} questions)")
    print(f"  up to {args.questions_per_image} questions an image      {qk / packed:7.1f} questions/s "
          f"({packed:.2f} s a step, {qk} questions)")
    print(f"  ratio packed / one: {(qk / packed) / (q1 / one):.2f}x")


if __name__ == "__main__":
    main()
