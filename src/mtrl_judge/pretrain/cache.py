"""The pretraining corpus drawn once, stored as pixels and token ids, and batched without a processor.

Per-batch image processing bounded pretraining at 23 examples/s on 2 CPU cores and at about 500/s on
a 16-core GPU machine with the GPU mostly idle. Here every example is rendered and tokenized once,
in parallel worker processes, into chunk files of raw uint8 pixels, token ids and which ids are answers (the loss);
training then batches them with `PixelCollator`, which turns pixels into the Qwen-VL patch layout
with a few tensor reshapes. `tests/test_pretrain.py` checks that its batches equal what the
model's processor gives for the same examples, token for token and value for value.

Images are stored at the size the processor would give (our renders are 128 px, a multiple of the
patch grid, so the processor never resizes them); a backbone whose processor would resize is refused.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..errors import JudgeError
from ..progress import progress_bar
from .corpus import DEFAULT_VERSION, STYLES

logger = logging.getLogger(__name__)

CHUNK = 2000  # examples per chunk file: one work item, and what a killed build loses at most
CACHE_VERSION = 1


def image_token_count(image_processor, height: int, width: int) -> int:
    """Visual tokens the processor gives an image of this size; refuses sizes it would resize."""
    patch, merge = image_processor.patch_size, image_processor.merge_size
    unit = patch * merge
    # Qwen2-VL's processor keeps its pixel budget in size.shortest_edge (min) and size.longest_edge (max).
    lo, hi = image_processor.size.shortest_edge, image_processor.size.longest_edge
    if height % unit or width % unit or not (lo <= height * width <= hi):
        raise JudgeError(f"pretraining cache: {width}x{height} images would be resized by the processor "
                         f"(sides must be multiples of {unit}, pixels within {lo}..{hi})")
    return (height // patch) * (width // patch) // (merge * merge)


def encode(processor, messages: list[dict], n_images: int, tokens_per_image: int) -> tuple[list[int], list[int]]:
    """(token ids, targets) of a conversation: the ids the processor gives, image placeholders expanded, and a
    0/1 per id marking what the model learns to say, every assistant turn closed by <|im_end|> so it learns to stop.

    Each assistant turn starts with an added token (<think> or <answer>) and ends with <|im_end|>, so the text
    tokenized in pieces (the context before a turn, the turn) gives the ids of the whole; the template must
    render every turn's context as a prefix of the whole conversation, which is checked."""
    pad = "<|image_pad|>"
    tok = processor.tokenizer
    whole = processor.apply_chat_template(messages, tokenize=False)
    if whole.count(pad) != n_images:
        raise AssertionError(f"chat template gave {whole.count(pad)} image placeholders for {n_images} images")
    ids: list[int] = []
    targets: list[int] = []
    done = 0  # characters of `whole` tokenized so far
    for j, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        context = processor.apply_chat_template(messages[:j], add_generation_prompt=True, tokenize=False)
        said = message["content"] + "<|im_end|>"
        if not whole.startswith(context) or not whole.startswith(said, len(context)):
            raise AssertionError("the chat template does not render a turn's context as a prefix of the conversation")
        for text, target in ((context[done:].replace(pad, pad * tokens_per_image), 0), (said, 1)):
            piece = tok(text, add_special_tokens=False)["input_ids"]
            ids += piece
            targets += [target] * len(piece)
        done = len(context) + len(said)
    return ids, targets


# --- building -----------------------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(model_dir: str, single_thread: bool = True) -> None:
    from ..backbone.load import load_processor

    if single_thread:  # one worker per core
        torch.set_num_threads(1)
    _WORKER["processor"] = load_processor(model_dir)


def _draw_chunk(job: tuple) -> str:
    from .corpus import QUESTION_KINDS, examples, to_conversation

    n, seed, start, stop, path, curriculum, weights, version, styles, questions_per_image = job
    processor = _WORKER["processor"]
    images, counts, ids, targets, offsets, kinds = [], [], [], [], [0], []
    per_image = None
    for example, style in examples(n, seed, start=start, stop=stop, curriculum=curriculum, weights=weights,
                                   version=version, styles=styles, questions_per_image=questions_per_image):
        arrays = [np.asarray(im.convert("RGB"), dtype=np.uint8) for im in example.images]
        if per_image is None:
            per_image = image_token_count(processor.image_processor, *arrays[0].shape[:2])
        seq, said = encode(processor, to_conversation(example, style), len(arrays), per_image)
        images.extend(arrays)
        counts.append(len(arrays))
        ids.extend(seq)
        targets.extend(said)
        offsets.append(len(ids))
        kinds.append(QUESTION_KINDS.index(example.kind))
    tmp = Path(path).with_suffix(".tmp.npz")
    np.savez(tmp, images=np.stack(images), image_counts=np.array(counts, np.int8), ids=np.array(ids, np.int32),
             targets=np.array(targets, np.uint8), offsets=np.array(offsets, np.int64), kinds=np.array(kinds, np.int8))
    os.replace(tmp, path)  # a chunk file exists only once complete: a killed build redraws only missing chunks
    return path


def build_cache(cache_dir: str | Path, model_dir: str | Path, n: int, seed: int, *, workers: int | None = None,
                curriculum: bool = True, weights: dict[str, int] | None = None,
                version: int = DEFAULT_VERSION, styles: tuple[str, ...] = STYLES, questions_per_image: int = 1) -> Path:
    """Draw the `n`-example corpus of `seed` into `cache_dir` (chunk files plus cache.json), in parallel.

    Chunks already present are kept, so a killed build resumes; a cache drawn with other settings is
    refused. `model_dir` supplies the processor (tokenizer, chat template, patch grid); `weights` are
    the question kinds' weights (corpus.kind_cycle), `version` the corpus version, `styles` the answer styles,
    `questions_per_image` the packing (corpus.examples)."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    spec = {"cache_version": CACHE_VERSION, "n": n, "seed": seed, "curriculum": curriculum, "chunk": CHUNK,
            "tokenizer": _tokenizer_digest(model_dir)}
    if weights:  # only when given, so that caches of the default corpus keep their spec
        spec["kind_weights"] = dict(sorted(weights.items()))
    if version != DEFAULT_VERSION:  # likewise
        spec["corpus_version"] = version
    if tuple(styles) != STYLES:  # likewise
        spec["styles"] = list(styles)
    if questions_per_image != 1:  # likewise
        spec["questions_per_image"] = questions_per_image
    spec_file = cache_dir / "cache.json"
    if spec_file.is_file():
        existing = json.loads(spec_file.read_text())
        if existing != spec:
            raise JudgeError(f"{cache_dir}: holds a corpus drawn with other settings ({existing}); "
                             "remove it or choose another folder")
    else:
        spec_file.write_text(json.dumps(spec, indent=1))
    jobs = [(n, seed, a, min(a + CHUNK, n), str(cache_dir / f"chunk-{a // CHUNK:05d}.npz"), curriculum, weights,
             version, tuple(styles), questions_per_image) for a in range(0, n, CHUNK)]
    todo = [j for j in jobs if not Path(j[4]).is_file()]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    if todo:
        logger.info("drawing %d pretraining examples into %s with %d workers", sum(j[3] - j[2] for j in todo), cache_dir, workers)
        with progress_bar("drawing the pretraining corpus", total=len(todo)) as advance:
            if workers == 1:  # in this process: a worker's start-up (importing torch) costs more than one chunk
                _init_worker(str(model_dir), single_thread=False)
                for job in todo:
                    _draw_chunk(job)
                    advance(1)
                return cache_dir
            # spawn, not fork: the caller holds torch threads, which do not survive a fork.
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                                     initargs=(str(model_dir),)) as pool:
                for _ in pool.map(_draw_chunk, todo):
                    advance(1)
    return cache_dir


def _tokenizer_digest(model_dir: str | Path) -> str:
    import hashlib

    h = hashlib.sha256()
    for name in ("tokenizer.json", "chat_template.jinja", "processor_config.json"):
        path = Path(model_dir) / name
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


# --- reading and batching -----------------------------------------------------------------------------

class CachedCorpus(torch.utils.data.Dataset):
    """The cached corpus as a map-style dataset: item i = {"ids", "targets" (1 where the model learns the id),
    "images" (k x H x W x 3 uint8), "kind" (of its first question)}."""

    def __init__(self, cache_dir: str | Path):
        files = sorted(Path(cache_dir).glob("chunk-*.npz"))
        spec = json.loads((Path(cache_dir) / "cache.json").read_text())
        expected = -(-spec["n"] // spec["chunk"])
        if len(files) != expected:
            raise JudgeError(f"{cache_dir}: {len(files)} of {expected} chunk files; run the build again to finish it")
        self.chunks = [dict(np.load(f)) for f in files]
        for c in self.chunks:
            if "targets" not in c:  # drawn before packing: one answer per example, after its prompt (prompt_lens)
                c["targets"] = np.concatenate([(np.arange(b - a) >= p).astype(np.uint8) for a, b, p in
                                               zip(c["offsets"][:-1], c["offsets"][1:], c["prompt_lens"], strict=True)])
        self.image_start = [np.concatenate([[0], np.cumsum(c["image_counts"].astype(np.int64))]) for c in self.chunks]
        self.sizes = [len(c["offsets"]) - 1 for c in self.chunks]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, i: int) -> dict:
        c = int(np.searchsorted(self.starts, i, side="right") - 1)
        j = i - int(self.starts[c])
        chunk = self.chunks[c]
        a, b = chunk["offsets"][j], chunk["offsets"][j + 1]
        s, e = self.image_start[c][j], self.image_start[c][j + 1]
        return {"ids": chunk["ids"][a:b], "targets": chunk["targets"][a:b], "images": chunk["images"][s:e],
                "kind": int(chunk["kinds"][j])}

    def questions(self) -> int:
        """Questions answered in the whole corpus (above the number of examples when packed): assistant turns."""
        # every answer is one run of targets, and a prompt or another turn's question stands before each
        return sum(int((np.diff(c["targets"].astype(np.int8), prepend=0) == 1).sum()) for c in self.chunks)


def patchify(images: torch.Tensor, image_processor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N x H x W x 3, all one size) -> (pixel_values, image_grid_thw) exactly as the
    Qwen2-VL image processor lays them out: rescaled, normalised, each image repeated over the
    temporal patch, patches ordered by 2x2 merge window."""
    p, m, t = image_processor.patch_size, image_processor.merge_size, image_processor.temporal_patch_size
    n, h, w, c = images.shape
    mean = torch.tensor(image_processor.image_mean, dtype=torch.float32).view(1, c, 1, 1)
    std = torch.tensor(image_processor.image_std, dtype=torch.float32).view(1, c, 1, 1)
    x = (images.permute(0, 3, 1, 2).float() * image_processor.rescale_factor - mean) / std  # N C H W
    gh, gw = h // p, w // p
    x = x.unsqueeze(1).expand(n, t, c, h, w)
    x = x.reshape(n, 1, t, c, gh // m, m, p, gw // m, m, p)
    x = x.permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
    pixel_values = x.reshape(n * gh * gw, c * t * p * p)
    grid = torch.tensor([[1, gh, gw]] * n, dtype=torch.long)
    return pixel_values, grid


class PixelCollator:
    """Batches of CachedCorpus items for a causal VLM: right-padded ids, loss on the answers only."""

    def __init__(self, image_processor, pad_token_id: int, image_token_id: int):
        self.image_processor = image_processor
        self.pad_token_id = pad_token_id
        self.image_token_id = image_token_id

    @classmethod
    def for_processor(cls, processor) -> PixelCollator:
        """The collator for a model's processor: its image processor, pad token and image token."""
        tok = processor.tokenizer
        return cls(processor.image_processor, tok.pad_token_id, tok.convert_tokens_to_ids("<|image_pad|>"))

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(it["ids"]) for it in items)
        input_ids = torch.full((len(items), longest), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), longest), -100, dtype=torch.long)
        attention = torch.zeros((len(items), longest), dtype=torch.long)
        for row, it in enumerate(items):
            ids = torch.as_tensor(it["ids"], dtype=torch.long)
            input_ids[row, : len(ids)] = ids
            attention[row, : len(ids)] = 1
            said = torch.as_tensor(it["targets"], dtype=torch.bool)
            labels[row, : len(ids)] = torch.where(said, ids, -100)
        images = torch.from_numpy(np.concatenate([it["images"] for it in items]))
        pixel_values, grid = patchify(images, self.image_processor)
        # Qwen3-VL places its multimodal rotary positions by these types (1 = image token), as its processor marks them.
        mm_types = (input_ids == self.image_token_id).long()
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels, "pixel_values": pixel_values,
                "image_grid_thw": grid, "mm_token_type_ids": mm_types}
