"""How much compute a reproduction spends: smoke (CI minutes, tiny preset), demo (the README's
main job: the paper's headline comparison in about 20 minutes on 2 cores), full (every baseline; the
long CPU run whose report lives in docs/)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import JudgeError
from .paper import TRAINED_METHODS


@dataclass(frozen=True)
class Budget:
    """Sizes of every stage. Steps are optimizer steps of TRL's trainers."""

    name: str
    # The judges trained (the off-the-shelf base is always evaluated): all four of the paper's, or a subset whose
    # report leaves the others' rows out.
    methods: tuple[str, ...] = TRAINED_METHODS
    world_size: str = "demo"  # JudgeWorld size: tiny | demo | paper
    world_version: int = 2  # 1 regenerates the reports made before JudgeWorld v2 (with preset "small")
    preset: str = "small-p8"  # backbone preset of the base
    pretrain_steps: int = 0  # 0: use a committed base (see `base`)
    # The committed base under models/ used when pretrain_steps is 0; None: models/base-<preset>.
    base: str | None = None
    sft_steps: int = 300  # SFT-Unified
    sft_single_steps: int = 100  # SFT-Single, per task
    grpo_steps: int = 300  # MT-RL-Judge
    rl_single_steps: int = 100  # RL-Single, per task
    per_device_train_batch_size: int = 16  # SFT: examples per step
    # GRPO: prompts per step, each sampled num_generations times, and the learning rate. Given here rather than taken
    # from the recipe so that a budget's report stays reproducible when the recipe's defaults move.
    grpo_prompts_per_step: int = 2
    num_generations: int = 8
    grpo_learning_rate: float = 3e-5
    grpo_beta: float = 0.0  # KL to the base; 0: no reference model
    max_completion_length: int = 64
    val_every: int = 50
    val_max_examples: int = 64
    eval_max_examples: int | None = None  # per task on the test split; None = all
    eval_max_new_tokens: int = 96
    eval_batch_size: int = 32

    def steps_of(self, method: str) -> int:
        """Optimizer steps of one training run of `method` (per task for the single-task methods)."""
        return {"sft-single": self.sft_single_steps, "sft-unified": self.sft_steps, "rl-single": self.rl_single_steps,
                "mt-rl-judge": self.grpo_steps}[method]

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in TRAINED_METHODS]
        if unknown or not self.methods:
            raise JudgeError(f"budget {self.name!r}: methods must be some of {', '.join(TRAINED_METHODS)}; got "
                             f"{', '.join(self.methods) or 'none'}")


# The default off-the-shelf base under models/: base-small-p8 continued for 68 CPU minutes on corpus v3 (docs/base.md),
# the default since 2026-11-24. The CPU recipes name the same folder (tests/test_reproduce.py checks it), and the
# benchmarks that start from "the committed base" default to it.
DEFAULT_BASE = "base-small-p8-v3"

BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        name="smoke", world_size="tiny", preset="tiny", pretrain_steps=4, sft_steps=2, sft_single_steps=1, grpo_steps=2,
        rl_single_steps=1, per_device_train_batch_size=4, grpo_prompts_per_step=1, num_generations=4, max_completion_length=8,
        val_every=0,
        val_max_examples=4, eval_max_examples=6, eval_max_new_tokens=8, eval_batch_size=8,
    ),
    # The paper's headline comparison, off-the-shelf vs SFT-Unified vs MT-RL-Judge on the six pointwise and the two
    # held-out pairwise tasks, within the README's 20 minutes on 2 cores (measured: 17.8): a GRPO step of the recipes'
    # setting costs about 8 s there, so MT-RL-Judge gets 50 of them; SFT-Unified needs its 250 (at 120 its validation
    # verdicts were constant on five tasks); 128 test rows per task. The single-task baselines (another 40 minutes at
    # the former demo's sizes) are the full budget's. docs/reproduce.md says where the minutes go.
    "demo": Budget(
        name="demo", base=DEFAULT_BASE, methods=("sft-unified", "mt-rl-judge"), sft_steps=250, grpo_steps=50,
        grpo_prompts_per_step=16, num_generations=4, grpo_learning_rate=1e-4, grpo_beta=0.04, val_every=50, val_max_examples=32,
        eval_max_examples=128, eval_max_new_tokens=80,
    ),
    # GRPO as the recipes since 2026-11-23: 16 prompts x 4 at lr 1e-4, the setting that learned AGIN-Nat from the base
    # in 150 RL-Single steps (docs/training.md), with the recipes' KL term (beta 0.04, which kept multi-task runs out of
    # the all-groups-flat state); MT-RL-Judge gets as many prompts per task (6 x 150 steps). About 7 hours on 2 cores
    # (the SFT-Single stages took 1.8 of them on the former base; not yet run to the end); `--device cuda` for a GPU.
    "full": Budget(
        name="full", base=DEFAULT_BASE, sft_steps=1500, sft_single_steps=400, grpo_steps=900, rl_single_steps=150,
        val_every=100, val_max_examples=128, eval_max_examples=None, eval_max_new_tokens=96, grpo_prompts_per_step=16,
        num_generations=4, grpo_learning_rate=1e-4, grpo_beta=0.04,
    ),
}
