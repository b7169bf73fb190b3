"""The one check for a judge request: each kind of mistake raises its class, on every surface."""

from __future__ import annotations

import io
import json
import os

import pytest
from PIL import Image

from mtrl_judge.data.schema import validate_example
from mtrl_judge.errors import InvalidImageError, InvalidRequestError, JudgeError, RequestTooLargeError, UnknownTaskError
from mtrl_judge.prompts import render
from mtrl_judge.requests import JudgeRequest, RequestLimits, check_request, prepare_request
from mtrl_judge.tasks import get_task


def png(size=(32, 32), colour="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "task, n_images, text, error, fragment",
    [
        ("nope", 1, "a cat", UnknownTaskError, "unknown task 'nope'"),
        (None, 1, "a cat", InvalidRequestError, "field 'task' is missing"),
        ("seetrue", 2, "a cat", InvalidRequestError, "takes 1 image(s), got 2"),
        ("mjbench-alignment", 1, "a cat", InvalidRequestError, "takes 2 image(s), got 1"),
        ("seetrue", 1, "  ", InvalidRequestError, "none was given"),
        ("seetrue", 1, 7, InvalidRequestError, "must be a string, got int"),
        ("seetrue", 1, "x" * 4001, RequestTooLargeError, "4,001 characters; at most 4,000"),
        ("seetrue", 1, "a cat \ud800", InvalidRequestError, "not valid Unicode"),
    ],
)
def test_check_request_refuses_each_mistake_with_its_class(task, n_images, text, error, fragment):
    with pytest.raises(error) as info:
        check_request(task, n_images, text, RequestLimits(), where="in.jsonl:3")
    assert str(info.value).startswith("in.jsonl:3: ") and fragment in str(info.value)
    assert isinstance(info.value, JudgeError)


def test_text_free_tasks_take_no_text_and_the_limit_is_configurable():
    assert check_request("agin-nat", 1, None).name == "agin-nat"
    assert check_request("seetrue", 1, "x" * 50, RequestLimits(max_text_chars=50)).name == "seetrue"
    with pytest.raises(RequestTooLargeError):
        check_request("seetrue", 1, "x" * 51, RequestLimits(max_text_chars=50))
    with pytest.raises(JudgeError, match="max_text_chars must be a positive integer"):
        RequestLimits(max_text_chars=0)
    with pytest.raises(JudgeError, match="max_aspect_ratio"):
        RequestLimits(max_aspect_ratio=float("nan"))


@pytest.mark.parametrize(
    "blob, fragment",
    [
        (png((201, 1)), "more elongated than the model accepts"),  # the processor would raise mid-batch
        (png((1, 250)), "more elongated"),
        (png((3000, 3000)), "exceeds the limit"),
        (b"not an image", "not a readable image"),
        (png()[:40], "not a readable image"),  # truncated
    ],
)
def test_prepare_refuses_images_the_model_step_would_crash_on(blob, fragment):
    request = JudgeRequest(task="agin-nat", images=[blob])
    with pytest.raises(InvalidImageError, match=fragment):
        prepare_request(request, RequestLimits(max_pixels=4_000_000), where="row 1")


def test_prepare_decodes_and_fits_images_to_the_budget():
    request = {"task": "agin-nat", "images": [png((400, 100))], "text": None}
    kept = prepare_request(request)
    assert kept.images[0].size == (400, 100) and kept.images[0].mode == "RGB"
    fitted = prepare_request(request, RequestLimits(fit_pixels=10_000))
    width, height = fitted.images[0].size
    assert width * height <= 10_000 and abs(width / height - 4) < 0.1
    with pytest.raises(InvalidRequestError, match="must be a list of images"):
        prepare_request({"task": "agin-nat", "images": "cat.png"})


def test_every_surface_uses_the_task_check():
    """render (training prompts) and the dataset schema refuse what the request check refuses."""
    with pytest.raises(InvalidRequestError, match="takes 1 image"):
        render({"task": "seetrue", "text": "a cat", "images": [1, 2]})
    with pytest.raises(InvalidRequestError, match="none was given"):
        render({"task": "seetrue", "text": ""})
    row = {"id": "r1", "task": "seetrue", "images": [png()], "text": "y" * 5000, "label": "yes",
           "source": "x", "score": None, "meta": "{}"}
    with pytest.raises(RequestTooLargeError, match="rows.jsonl:4: field 'text'"):
        validate_example(row, where="rows.jsonl:4")
    get_task("seetrue").check(1, "a cat")  # a good request passes


def test_judge_prepare_bounds_text_in_model_tokens(tiny_judge):
    limit = tiny_judge.max_text_tokens
    assert limit >= 1
    words = "red " * (limit + 10)
    request = JudgeRequest(task="seetrue", images=[png()], text=words[: tiny_judge.limits.max_text_chars])
    n_tokens = len(tiny_judge.processor.tokenizer(request.text, add_special_tokens=False)["input_ids"])
    if n_tokens > limit:
        with pytest.raises(RequestTooLargeError, match="tokens; at most"):
            tiny_judge.prepare(request)
    strict = type(tiny_judge)(tiny_judge.model, tiny_judge.processor, max_text_tokens=3)
    with pytest.raises(RequestTooLargeError, match="at most 3 \\(max_text_tokens\\)"):
        strict.prepare(JudgeRequest(task="seetrue", images=[png()], text="a red square and a blue circle"))
    assert strict.prepare(JudgeRequest(task="agin-nat", images=[png()])).task == "agin-nat"


def test_cli_judge_isolates_bad_rows(tmp_path, tiny_model_dir, capsys):
    """A JSONL batch with hostile rows: each bad row is reported with file:line, the good rows are judged."""
    from mtrl_judge.cli import main

    good = tmp_path / "good.png"
    good.write_bytes(png())
    thin = tmp_path / "thin.png"
    thin.write_bytes(png((201, 1)))
    rows = [
        {"task": "agin-nat", "images": [str(good)]},
        {"task": "agin-nat", "images": [str(thin)]},
        {"task": "seetrue", "images": [str(good)], "text": "z" * 10_000},
        {"task": "seetrue", "images": [str(good)], "text": "a cat"},
    ]
    lines = [json.dumps(r) for r in rows] + ['{"task": "seetrue", "text": "\\ud800", "images": ["' + str(good) + '"]}']
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code = main(["judge", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(out), "--max-new-tokens", "4"])
    assert code != 0  # some rows were bad
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in results] == [1, 4]
    err = capsys.readouterr().err
    assert f"{source}:2: field 'images'[0]" in err and "more elongated" in err
    assert f"{source}:3: field 'text'" in err and "characters; at most" in err
    assert f"{source}:5: field 'text' is not valid Unicode" in err


def test_output_paths_are_checked_before_any_work(tmp_path, capsys):
    from mtrl_judge.cli import main

    source = tmp_path / "in.jsonl"
    source.write_text('{"task": "agin-nat", "images": ["x.png"]}\n', encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    # the model folder does not exist: a refusal about the output proves it came first
    code = main(["judge", "--model", str(tmp_path / "no-model"), "--input", str(source), "--output", str(blocker / "out.jsonl")])
    assert code != 0 and "is a file, not a folder" in capsys.readouterr().err
    code = main(["judge", "--model", str(tmp_path / "no-model"), "--input", str(source), "--output", str(tmp_path)])
    assert code != 0 and "is a folder" in capsys.readouterr().err


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    from mtrl_judge.io import write_json

    target = tmp_path / "result.json"
    dead = tmp_path / ".result.json.tmp-999999999-abc"  # no such process
    dead.write_text("half")
    live = tmp_path / f".result.json.tmp-{os.getpid()}-xyz"  # this process: maybe a writer at work
    live.write_text("busy")
    write_json(target, {"ok": 1})
    assert json.loads(target.read_text()) == {"ok": 1}
    assert not dead.exists() and live.exists()
