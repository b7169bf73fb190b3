import json
from pathlib import Path

import pytest

from mtrl_judge import JudgeError, render
from mtrl_judge.prompts import STYLES, answer_text
from mtrl_judge.tasks import list_tasks

GOLDEN = json.loads((Path(__file__).parent / "golden" / "prompts.json").read_text())
TEXT = "two red circles left of a blue square"


@pytest.mark.parametrize("task", [t.name for t in list_tasks()])
@pytest.mark.parametrize("style", STYLES)
def test_every_task_renders_exactly_as_pinned(task, style):
    from mtrl_judge import get_task

    example = {"task": task, "text": TEXT if get_task(task).uses_text else None}
    assert render(example, style) == GOLDEN[f"{task}/{style}"]


def test_golden_covers_every_task_and_style():
    assert set(GOLDEN) == {f"{t.name}/{s}" for t in list_tasks() for s in STYLES}


def test_styles_differ_in_what_they_ask_for():
    reason = render({"task": "seetrue", "text": TEXT}, "reason")[0]["content"][-1]["text"]
    direct = render({"task": "seetrue", "text": TEXT}, "direct")[0]["content"][-1]["text"]
    assert "<think>" in reason and "<think>" not in direct


def test_images_are_placed_in_order():
    content = render({"task": "mjbench-alignment", "text": TEXT, "images": ["a", "b"]})[0]["content"]
    assert [part["type"] for part in content] == ["text", "image", "text", "image", "text"]
    assert content[0]["text"] == "Image 1:" and content[2]["text"] == "Image 2:"


def test_chat_template_renders_the_prompt(tiny_judge):
    messages = render({"task": "seetrue", "text": TEXT}, "reason")
    messages.append({"role": "assistant", "content": answer_text("yes", "reason", "I see them.")})
    text = tiny_judge.processor.apply_chat_template(messages, tokenize=False)
    prompt = GOLDEN["seetrue/reason"][0]["content"][-1]["text"]
    assert text == (
        f"<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>{prompt}<|im_end|>\n"
        "<|im_start|>assistant\n<think>I see them.</think><answer>yes</answer><|im_end|>\n"
    )


@pytest.mark.parametrize(
    "example, message",
    [
        ({"task": "seetrue", "text": ""}, "but none was given"),
        ({"task": "seetrue", "text": TEXT, "images": ["a", "b"]}, "takes 1 image"),
        ({"task": "nope", "text": TEXT}, "unknown task"),
    ],
)
def test_render_rejects_bad_examples(example, message):
    with pytest.raises(JudgeError, match=message):
        render(example)


def test_unknown_style():
    with pytest.raises(JudgeError, match="prompt style"):
        render({"task": "seetrue", "text": TEXT}, "chatty")
