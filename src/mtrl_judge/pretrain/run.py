"""`mtrl-judge pretrain`: train the off-the-shelf base from scratch on the general corpus (TRL SFT)."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import datasets

from ..errors import JudgeError
from ..io import atomic_dir, write_json

logger = logging.getLogger(__name__)


def build_dataset(n: int, seed: int) -> datasets.Dataset:
    """n prompt-completion rows with their image, alternating reasoning and direct styles."""
    from ..progress import progress_bar
    from .corpus import examples, to_messages

    rows = []
    with progress_bar("drawing the pretraining corpus", total=n) as advance:
        for example, style in examples(n, seed):
            prompt, completion = to_messages(example, style)
            rows.append({"prompt": prompt, "completion": completion, "images": example.images, "kind": example.kind, "style": style})
            advance(1)
    return datasets.Dataset.from_list(rows)


def pretrain(
    world: str | Path | None,
    out: str | Path,
    *,
    preset: str = "small",
    max_steps: int = 3000,
    n_examples: int | None = None,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    overwrite: bool = False,
    zero_shot_examples: int = 100,
) -> Path:
    """Build `preset` with a tokenizer that covers the corpus, train it with SFT on the general
    corpus, save it to `out` (atomically) and, given a world, measure its zero-shot judge macro-F1
    on the world's validation splits (out/zero_shot.json). A killed run resumes from its last
    checkpoint when called again with the same arguments."""
    from transformers.trainer_callback import ProgressCallback
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTConfig, SFTTrainer
    from trl.trainer.callbacks import RichProgressCallback

    from ..backbone import build_backbone, load_backbone
    from ..train.callbacks import MetricsJsonlCallback

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise JudgeError(f"{out}: folder exists and is not empty; pass --overwrite to replace it")
    work = out.with_name(f".{out.name}.pretrain")  # checkpoints live beside the output until it is complete
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    n = n_examples or min(max_steps * batch_size, 24_000)
    data = build_dataset(n, seed)
    init = work / "init"
    if not (init / "config.json").is_file():
        # the tokenizer learns the corpus' words too (byte-level, so nothing is ever unknown)
        corpus_text = [row["completion"][0]["content"] for row in data.select(range(min(len(data), 4000)))]
        corpus_text += [row["prompt"][0]["content"][-1]["text"] for row in data.select(range(min(len(data), 2000)))]
        build_backbone(preset, init, seed=seed, overwrite=True, extra_text=iter(corpus_text))
    model, processor = load_backbone(init)
    args = SFTConfig(
        output_dir=str(work / "checkpoints"), max_steps=max_steps, per_device_train_batch_size=batch_size,
        learning_rate=learning_rate, lr_scheduler_type="cosine", warmup_steps=min(100, max_steps // 10), weight_decay=0.0,
        use_cpu=True, bf16=False, gradient_checkpointing=False, max_length=None, logging_steps=25, save_steps=250,
        save_total_limit=1, report_to="none", seed=seed, dataloader_num_workers=0,
    )
    trainer = SFTTrainer(model=model, processing_class=processor, args=args, train_dataset=data.remove_columns(["kind", "style"]))
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(RichProgressCallback)
    trainer.add_callback(MetricsJsonlCallback(work))  # loss curve, readable while it runs
    last = get_last_checkpoint(args.output_dir) if Path(args.output_dir).is_dir() else None
    if last:
        logger.info("resuming pretraining from %s", last)
    trainer.train(resume_from_checkpoint=last)
    losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    with atomic_dir(out, overwrite=True) as tmp:
        trainer.save_model(str(tmp))
        (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle of the settings: pretrain.json records them as text
        shutil.copy(work / "metrics.jsonl", tmp / "pretrain_metrics.jsonl")
        write_json(tmp / "pretrain.json", {
            "command": f"mtrl-judge pretrain --world {world} --out {out} --preset {preset} --steps {max_steps} --seed {seed}",
            "preset": preset, "max_steps": max_steps, "examples": n, "batch_size": batch_size, "learning_rate": learning_rate,
            "seed": seed, "minutes": round((time.perf_counter() - started) / 60, 1), "loss": losses,
        })
    shutil.rmtree(work, ignore_errors=True)
    logger.info("pretrained base saved to %s", out)
    if world is not None:
        zero_shot(out, world, max_examples=zero_shot_examples)
    return out


def zero_shot(model_dir: str | Path, world: str | Path, *, max_examples: int = 100, split: str = "validation") -> dict:
    """The base's zero-shot macro-F1 per judge task (reason style), written to model_dir/zero_shot.json."""
    from ..data.dataset import available_tasks
    from ..evaluate.runner import EvalSettings, evaluate
    from ..judge import Judge

    judge = Judge.from_pretrained(model_dir, max_new_tokens=96, batch_size=32)
    results, _ = evaluate(judge, world, EvalSettings(tasks=available_tasks(world), split=split, max_examples=max_examples))
    summary = {"split": split, "max_examples": max_examples, "mean_macro_f1": results["mean_macro_f1"],
               "tasks": {t: {k: m[k] for k in ("macro_f1", "accuracy", "parse_failure_rate")} for t, m in results["tasks"].items()}}
    write_json(Path(model_dir) / "zero_shot.json", summary)
    logger.info("zero-shot mean macro-F1 %.4f: %s", summary["mean_macro_f1"],
                ", ".join(f"{t} {m['macro_f1']:.3f}" for t, m in summary["tasks"].items()))
    return summary
