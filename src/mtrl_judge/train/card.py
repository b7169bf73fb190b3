"""The README.md of a training run: what the folder holds and how to use or continue the judge.

TRL writes a generic model card into the output folder at every checkpoint (it names no base model when the base is
a local folder, lists no tasks and quotes a chat example that has nothing to do with judging). A run of ours replaces
it, after each save and at the end, with one that says what was trained on what, how far it got, which checkpoint
validation picked, and the commands that use it.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from transformers import TrainerCallback

from ..errors import JudgeError
from ..io import atomic_file
from ..tasks import get_task
from .callbacks import BEST_DIR, FINAL_DIR, METRICS_FILE, SCORE_FILE
from .checkpoints import RECIPE_FILE, SOURCE_KEY

CARD_FILE = "README.md"
METHOD_WORDS = {"grpo": "GRPO (group-relative policy optimisation, TRL's GRPOTrainer)",
                "sft": "supervised fine-tuning (TRL's SFTTrainer)"}
STYLE_WORDS = {"reason": "reason first (`<think>...</think>`), then answer (`<answer>yes</answer>`)",
               "direct": "answer only (`<answer>yes</answer>`)"}


def _best_line(out: Path) -> str:
    """The best checkpoint as validation picked it (best/score.json), or why there is none yet."""
    score = out / BEST_DIR / SCORE_FILE
    if not score.is_file():
        return "none yet (best/ is written at the first validation that improves on the last)"
    values = json.loads(score.read_text())
    tasks = sorted({k.split("/")[1] for k in values if k.startswith("val/") and k.endswith("/macro_f1")})
    per_task = ", ".join(f"{t} {values[f'val/{t}/macro_f1']:.3f}" for t in tasks)
    line = f"`best/`, step {values.get('step')}: validation mean macro-F1 {values.get('val/mean_macro_f1', float('nan')):.3f}"
    if len(tasks) > 1:
        line += f" ({per_task})"
    if values.get("val/mean_roc_auc") is not None:
        line += f", ROC-AUC {values['val/mean_roc_auc']:.3f}"
    return line


def _quarters(rows: list[dict], key: str) -> str | None:
    """The mean of `key` over each quarter of the logged steps ("0.51 / 0.52 / 0.67 / 0.88"), or None if never logged."""
    values = [r[key] for r in rows if isinstance(r.get(key), int | float)]
    if not values:
        return None
    n = len(values)
    parts = [values[i * n // 4 : (i + 1) * n // 4] for i in range(4)]  # fewer than 4 steps: fewer parts
    return " / ".join(f"{sum(p) / len(p):.2f}" for p in parts if p)


def _progress_section(out: Path) -> str:
    """Validation at every check, and for GRPO how the sampled completions went, from metrics.jsonl: the numbers
    that show a judge learning, or settling on one answer, while the run goes on."""
    path = out / METRICS_FILE
    if not path.is_file():
        return ""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = []
    checks = [r for r in rows if "val/mean_macro_f1" in r]
    if checks:
        lines += ["| step | validation mean macro-F1 | mean ROC-AUC | largest share of one answer (any task) |",
                  "|---|---|---|---|"]
        for r in checks:
            auc = r.get("val/mean_roc_auc")
            shares = [v for k, v in r.items() if "/answer_share/" in k and isinstance(v, int | float)]
            auc_text = "-" if auc is None else f"{auc:.3f}"
            share_text = f"{max(shares):.2f}" if shares else "-"
            lines.append(f"| {r.get('step')} | {r['val/mean_macro_f1']:.3f} | {auc_text} | {share_text} |")
    trained = [r for r in rows if "loss" in r]
    accuracy, flat = _quarters(trained, "rewards/accuracy/mean"), _quarters(trained, "frac_reward_zero_std")
    if accuracy and flat:
        lines += ["", f"Sampled completions, by quarter of the {len(trained)} steps so far: accuracy {accuracy}; share of "
                  f"groups whose completions all got the same reward (no gradient) {flat}."]
    return "## Training so far\n\n" + "\n".join(lines) + "\n\n" if lines else ""


def run_card(out: Path, values: dict, step: int, max_steps: int, finished: bool) -> str:
    """The card's markdown for the run in `out` trained with recipe `values` (recipe.yaml), at `step` of `max_steps`."""
    tasks = list(values.get("tasks") or [])
    recipe = values.get(SOURCE_KEY) or str(out / RECIPE_FILE)
    first_task = tasks[0] if tasks else "seetrue"
    progress = f"step {step} of {max_steps}" + (", finished (`final/`)" if finished else ", unfinished")
    rows = [
        ("method", METHOD_WORDS.get(values.get("method", ""), str(values.get("method")))),
        ("tasks", ", ".join(tasks) or "-"),
        ("prompt style", STYLE_WORDS.get(values.get("style", ""), str(values.get("style")))),
        ("base model", f"`{values.get('model')}`"),
        ("data", f"`{values.get('data')}`"),
        ("recipe", f"`{recipe}`; every setting of this run, command-line overrides included: `recipe.yaml`"),
        ("progress", progress),
        ("best checkpoint", _best_line(out)),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    judge = out / BEST_DIR if (out / BEST_DIR).is_dir() else out / FINAL_DIR
    data = values.get("data")
    try:
        text = ' --text "what the image should show"' if get_task(first_task).uses_text else ""
    except JudgeError:  # a task registered from a file the card cannot see
        text = ""
    resume = ("" if finished else
              f"\n## Continue it\n\nRun the command that started it again with `--resume` (it goes on from the newest "
              f"`checkpoint-N`), or replay this run's settings:\n\n```bash\nmtrl-judge train {out}/recipe.yaml --resume\n```\n")
    return f"""# {out.name}: a judge trained with mtrl-judge

| | |
|---|---|
{table}

{_progress_section(out)}Files: `metrics.jsonl` (every logged value, validation included), `alarms.jsonl` (collapse
warnings), `best/` (the checkpoint validation picked, with `score.json`), `final/` (the last step), `checkpoint-N/`
(resume points). Each model folder carries `judge_config.json`, so it judges with the prompt style it was trained with.

## Use it

```bash
mtrl-judge judge --model {judge} --task {first_task} --image picture.png{text}
mtrl-judge eval --model {judge} --data {data} --tasks {' '.join(tasks) or first_task} --split test --out {out}/test
mtrl-judge serve --model {judge}
```

```python
from mtrl_judge import Judge

judge = Judge.from_pretrained("{judge}")
```
{resume}"""


def write_run_card(out: Path, values: dict, step: int, max_steps: int, finished: bool) -> None:
    with atomic_file(out / CARD_FILE) as f:
        f.write(run_card(out, values, step, max_steps, finished))


class RunCardCallback(TrainerCallback):
    """Rewrites the run's README.md after every save, over the card TRL writes there just before (on_save runs after
    the checkpoint is written). It reads the run's recipe.yaml, which `train` writes before training starts."""

    def __init__(self, output_dir: str | Path) -> None:
        self.output_dir = Path(output_dir)

    def on_save(self, args, state, control, **kwargs):
        recipe = self.output_dir / RECIPE_FILE
        if state.is_world_process_zero and recipe.is_file():
            write_run_card(self.output_dir, yaml.safe_load(recipe.read_text()), state.global_step, state.max_steps,
                           finished=False)
        return control
