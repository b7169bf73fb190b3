import pytest

from mtrl_judge import JudgeError
from mtrl_judge.rewards import REWARDS, accuracy_reward, format_reward, get_reward, paper_reward_weights

GOOD_YES = "<think>The text names a red circle and I see one.</think><answer>yes</answer>"
GOOD_NO = "<think>The square is blue, not red.</think><answer>no</answer>"
DIRECT_YES = "<answer>yes</answer>"
GARBAGE = "then then then"
PAIR_2 = "<think>Image 2 has the star.</think><answer>2</answer>"


def test_format_reward_on_hand_made_completions():
    completions = [GOOD_YES, GOOD_NO, DIRECT_YES, GARBAGE, PAIR_2, PAIR_2]
    tasks = ["seetrue", "seetrue", "seetrue", "seetrue", "mjbench-safety", "seetrue"]
    assert format_reward(completions, task=tasks) == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]


def test_accuracy_reward_routes_by_task():
    completions = [GOOD_YES, GOOD_NO, DIRECT_YES, GARBAGE, PAIR_2, PAIR_2]
    tasks = ["seetrue", "unsafebench", "agin-nat", "seetrue", "mjbench-safety", "seetrue"]
    labels = ["yes", "yes", "yes", "no", "2", "2"]
    # the direct answer is still accurate; "2" is no valid answer for a pointwise task
    assert accuracy_reward(completions, task=tasks, label=labels) == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]


def test_accuracy_reward_skips_rows_without_a_label():
    assert accuracy_reward([GOOD_YES, GOOD_YES], task=["seetrue"] * 2, label=["yes", None]) == [1.0, None]


def test_conversational_completions():
    completions = [[{"role": "assistant", "content": GOOD_YES}],
                   [{"role": "assistant", "content": [{"type": "text", "text": GOOD_NO}]}]]
    assert format_reward(completions, task=["seetrue"] * 2) == [1.0, 1.0]
    assert accuracy_reward(completions, task=["seetrue"] * 2, label=["yes", "yes"]) == [1.0, 0.0]


@pytest.mark.parametrize("lam", [0.0, 0.1, 0.5, 1.0])
def test_total_is_the_papers_weighted_sum(lam):
    completions = [GOOD_YES, GOOD_NO, DIRECT_YES, GARBAGE]
    cols = {"task": ["seetrue"] * 4, "label": ["yes"] * 4}
    fmt, acc = [1, 1, 0, 0], [1, 0, 1, 0]
    expected = [lam * f + (1 - lam) * a for f, a in zip(fmt, acc, strict=True)]
    funcs, weights = [get_reward("format"), get_reward("accuracy")], paper_reward_weights(lam)
    weighted = [sum(w * r for w, r in zip(weights, rs, strict=True))
                for rs in zip(*(f(completions, **cols) for f in funcs), strict=True)]
    assert weighted == pytest.approx(expected)


def test_rewards_are_registered_by_name_for_trl_metric_keys():
    assert get_reward("format").__name__ == "format" and get_reward("accuracy").__name__ == "accuracy"
    assert set(REWARDS) >= {"format", "accuracy"}
    with pytest.raises(JudgeError, match="known rewards"):
        get_reward("fluency")


@pytest.mark.parametrize("lam", [-0.1, 1.5])
def test_lambda_out_of_range(lam):
    with pytest.raises(JudgeError, match="lambda"):
        paper_reward_weights(lam)


def test_missing_columns_are_explained():
    with pytest.raises(JudgeError, match="'task' column"):
        format_reward([GOOD_YES])
    with pytest.raises(JudgeError, match="'label' column"):
        accuracy_reward([GOOD_YES], task=["seetrue"])
    with pytest.raises(JudgeError, match="unknown task"):
        format_reward([GOOD_YES], task=["nope"])


def test_trl_grpo_logs_each_reward_component(tiny_model_dir, tmp_path):
    """The rewards plug into TRL's GRPOTrainer as they are: weights give the paper's total, and
    TRL logs format and accuracy separately under their registered names."""
    from datasets import Dataset
    from PIL import Image
    from trl import GRPOConfig, GRPOTrainer

    from mtrl_judge.backbone import load_backbone
    from mtrl_judge.prompts import render

    model, processor = load_backbone(tiny_model_dir)
    rows = [
        {"prompt": render({"task": "seetrue", "text": f"a {c} circle"}, "reason"), "images": [Image.new("RGB", (64, 64), c)],
         "task": "seetrue", "label": label}
        for c, label in [("red", "yes"), ("blue", "no")] * 2
    ]
    funcs, weights = [get_reward("format"), get_reward("accuracy")], paper_reward_weights(0.2)
    args = GRPOConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=8, max_steps=1, logging_steps=1, report_to=[], reward_weights=weights,
        gradient_checkpointing=False, save_strategy="no",
    )
    trainer = GRPOTrainer(model=model, processing_class=processor, reward_funcs=funcs, args=args,
                          train_dataset=Dataset.from_list(rows))
    trainer.train()
    logged = trainer.state.log_history[0]
    assert {"rewards/format/mean", "rewards/accuracy/mean", "reward"} <= set(logged)
    assert logged["reward"] == pytest.approx(0.2 * logged["rewards/format/mean"] + 0.8 * logged["rewards/accuracy/mean"])
