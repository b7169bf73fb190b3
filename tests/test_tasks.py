import pytest

from mtrl_judge import JudgeError, get_task, list_tasks, register_tasks_from_yaml
from mtrl_judge.errors import UnknownTaskError
from mtrl_judge.tasks import _REGISTRY, HELDOUT_TASKS, PAPER_TASKS


def test_paper_tasks_are_registered_with_their_formats():
    for name in PAPER_TASKS:
        task = get_task(name)
        assert task.format == "pointwise" and task.choices == ("yes", "no") and task.num_images == 1
    for name in HELDOUT_TASKS:
        task = get_task(name)
        assert task.format == "pairwise" and task.choices == ("1", "2") and task.num_images == 2
    assert {t.capability for t in list_tasks()} == {"alignment", "safety", "quality"}
    assert [t.name for t in list_tasks("pairwise")] == list(HELDOUT_TASKS)


def test_unknown_task_names_the_known_ones():
    with pytest.raises(UnknownTaskError, match="known tasks: .*seetrue"):
        get_task("seetru")


@pytest.fixture()
def clean_registry():
    saved = dict(_REGISTRY)
    yield
    _REGISTRY.clear()
    _REGISTRY.update(saved)


def test_register_tasks_from_yaml(tmp_path, clean_registry):
    path = tmp_path / "tasks.yaml"
    path.write_text(
        "tasks:\n"
        "  - name: logo-safety\n    capability: safety\n    format: pointwise\n"
        "    question: Does this ad show a forbidden logo?\n    criterion: A forbidden logo is visible.\n    uses_text: false\n"
    )
    (task,) = register_tasks_from_yaml(path)
    assert get_task("logo-safety") == task and not task.uses_text and task.choices == ("yes", "no")


@pytest.mark.parametrize(
    "body, message",
    [
        ("tasks: 3\n", "list under 'tasks'"),
        ("tasks:\n  - name: x\n", "missing field"),
        ("tasks:\n  - {name: x, capability: taste, format: pointwise, question: q, criterion: c}\n", "capability"),
        ("tasks:\n  - {name: x, capability: safety, format: triple, question: q, criterion: c}\n", "format"),
        ("tasks:\n  - {name: x, capability: safety, format: pointwise, question: q, criterion: c, colour: red}\n",
         "unknown field"),
        ("tasks: [\n", "not valid YAML"),
    ],
)
def test_bad_task_yaml_names_file_and_field(tmp_path, clean_registry, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(JudgeError, match=message) as info:
        register_tasks_from_yaml(path)
    assert str(path) in str(info.value)
    assert "x" not in _REGISTRY


def test_a_bad_row_registers_nothing(tmp_path, clean_registry):
    path = tmp_path / "tasks.yaml"
    path.write_text(
        "tasks:\n  - {name: good-one, capability: safety, format: pointwise, question: q, criterion: c}\n"
        "  - {name: bad-one, capability: nope, format: pointwise, question: q, criterion: c}\n"
    )
    with pytest.raises(JudgeError, match=r"tasks\[1\]"):
        register_tasks_from_yaml(path)
    assert "good-one" not in _REGISTRY
