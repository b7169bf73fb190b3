import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtrl_judge import parse_verdict
from mtrl_judge.prompts import answer_text, extract_reasoning, is_well_formed
from mtrl_judge.prompts.parse import Verdict

YES_NO = ("yes", "no")
# Text made of the characters that matter to the parser: tags, letters of the choices, whitespace.
TAGGY = st.lists(
    st.sampled_from(["<answer>", "</answer>", "<think>", "</think>", "yes", "no", "YES", " ", "\n", "1", "2", "<", ">", "/",
                     "x"]),
    max_size=12,
).map("".join)


@given(st.text())
def test_never_raises_on_any_text(text):
    assert parse_verdict(text, YES_NO) in (None, "yes", "no")
    assert isinstance(is_well_formed(text, YES_NO), bool)
    assert isinstance(extract_reasoning(text), str)


@given(TAGGY)
def test_parsed_verdict_comes_from_exactly_one_answer_block(text):
    verdict = parse_verdict(text, YES_NO)
    if verdict is not None:
        lowered = text.lower()
        assert lowered.count("<answer>") == 1 and lowered.count("</answer>") == 1
        inner = lowered.split("<answer>")[1].split("</answer>")[0]
        assert inner.strip() == verdict


@given(st.sampled_from(YES_NO), st.text(alphabet=string.ascii_letters + " .,\n", min_size=1), st.sampled_from(["", " ", "\n  "]))
def test_round_trip_of_a_well_formed_answer(choice, reasoning, pad):
    completion = pad + answer_text(choice, "reason", reasoning if reasoning.strip() else "looks fine") + pad
    assert parse_verdict(completion, YES_NO) == choice
    assert is_well_formed(completion, YES_NO)


@given(st.text(alphabet=string.printable.replace("<", "")))
def test_text_without_tags_has_no_verdict(text):
    assert parse_verdict(text, YES_NO) is None


@pytest.mark.parametrize(
    "text, choices, expected",
    [
        ("<answer>yes</answer>", YES_NO, "yes"),
        ("<ANSWER> Yes \n</Answer>", YES_NO, "yes"),
        ("<think>hm</think><answer>no</answer>", YES_NO, "no"),
        ("<answer>2</answer>", ("1", "2"), "2"),
        ("<answer>yes</answer>", ("1", "2"), None),
        ("<answer>yes</answer><answer>no</answer>", YES_NO, None),
        ("<answer>yes</answer><answer>yes</answer>", YES_NO, None),
        ("</answer>yes<answer>", YES_NO, None),
        ("<answer>yes", YES_NO, None),
        ("yes</answer>", YES_NO, None),
        ("<answer>yes no</answer>", YES_NO, None),
        ("<answer><think>yes</think></answer>", YES_NO, None),
        ("<answer></answer>", YES_NO, None),
        ("the answer is yes", YES_NO, None),
        ("", YES_NO, None),
        (None, YES_NO, None),
        (b"<answer>yes</answer>", YES_NO, None),
    ],
)
def test_parse_verdict_cases(text, choices, expected):
    assert parse_verdict(text, choices) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>a red circle</think><answer>yes</answer>", True),
        ("  <think>a red circle</think>\n<answer> no </answer>\n", True),
        ("<answer>yes</answer>", False),  # no reasoning
        ("<think>  </think><answer>yes</answer>", False),  # empty reasoning
        ("<answer>yes</answer><think>late</think>", False),  # wrong order
        ("<think>a</think>extra<answer>yes</answer>", False),  # text between blocks
        ("<think>a</think><answer>yes</answer> trailing", False),
        ("lead <think>a</think><answer>yes</answer>", False),
        ("<think>a</think></think><answer>yes</answer>", False),  # nested close tag
        ("<think>a<think>b</think><answer>yes</answer>", False),
        ("<think>a</think><think>b</think><answer>yes</answer>", False),  # two think blocks
        ("<think>a</think><answer>maybe</answer>", False),  # not a choice
        ("<think>a</think><answer>yes</answer><answer>yes</answer>", False),
    ],
)
def test_is_well_formed_cases(text, expected):
    assert is_well_formed(text, YES_NO) is expected


def test_verdict_from_completion():
    verdict = Verdict.from_completion("<think>The caption says red.</think><answer>YES</answer>", YES_NO, "seetrue")
    assert (verdict.choice, verdict.valid, verdict.reasoning, verdict.task) == ("yes", True, "The caption says red.", "seetrue")
    unparsed = Verdict.from_completion("then then then", YES_NO)
    assert unparsed.choice is None and not unparsed.valid and unparsed.reasoning == "then then then"
