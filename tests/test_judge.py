import json
import subprocess
import sys

import pytest
from PIL import Image

from mtrl_judge import Judge, JudgeError, JudgeRequest
from mtrl_judge.cli import main
from mtrl_judge.data.images import load_image
from mtrl_judge.prompts import Verdict


def test_judge_one_and_many(tiny_judge, image_files):
    verdict = tiny_judge.judge(images=[image_files["red"]], text="a red circle", task="seetrue")
    assert isinstance(verdict, Verdict) and verdict.task == "seetrue"
    assert verdict.choice in (None, "yes", "no") and isinstance(verdict.completion, str)
    requests = [
        JudgeRequest(task="seetrue", images=[image_files["red"]], text="a red circle"),
        JudgeRequest(task="agin-tech", images=[image_files["blue"]]),
        {"task": "mjbench-alignment", "images": [image_files["red"], image_files["blue"]], "text": "a red circle"},
    ] * 2
    verdicts = tiny_judge.judge_many(requests)
    assert [v.task for v in verdicts] == ["seetrue", "agin-tech", "mjbench-alignment"] * 2
    # batching (batch_size 4 splits the 6 requests unevenly) must not change greedy answers
    assert [v.completion for v in verdicts[:3]] == [v.completion for v in verdicts[3:]]
    single = [tiny_judge.judge_many([r])[0].completion for r in requests[:3]]
    assert single == [v.completion for v in verdicts[:3]]


def test_judge_parses_with_the_shared_parser(tiny_judge, image_files, monkeypatch):
    monkeypatch.setattr(Judge, "generate_scored",
                        lambda self, batch: [("<think>It is red.</think><answer>Yes</answer>", 0.75)] * len(batch))
    verdict = tiny_judge.judge(images=[image_files["red"]], text="a red circle", task="seetrue")
    assert (verdict.choice, verdict.valid, verdict.reasoning, verdict.score) == ("yes", True, "It is red.", 0.75)


@pytest.mark.parametrize(
    "request_, message",
    [
        ({"task": "nope", "images": ["red"], "text": "x"}, "unknown task"),
        ({"task": "seetrue", "images": ["red", "blue"], "text": "x"}, "takes 1 image"),
        ({"task": "mjbench-safety", "images": ["red"], "text": "x"}, "takes 2 image"),
        ({"task": "seetrue", "images": ["red"], "text": ""}, "field 'text'"),
        ({"task": "seetrue", "images": ["missing"], "text": "x"}, "image file not found"),
        ({"task": "agin-tech", "images": ["huge"]}, "exceeds the limit"),
        ({"task": "agin-tech", "images": ["notimage"]}, "not a readable image"),
        ({"task": "agin-tech", "images": "red"}, "must be a list"),
    ],
)
def test_bad_requests_name_the_field(tiny_judge, image_files, tmp_path, request_, message):
    (tmp_path / "notimage.png").write_text("this is not a png")
    files = {**image_files, "missing": tmp_path / "missing.png", "notimage": tmp_path / "notimage.png"}
    request = dict(request_)
    if isinstance(request["images"], list):
        request["images"] = [files[name] for name in request["images"]]
    judge = Judge(tiny_judge.model, tiny_judge.processor, max_pixels=100_000)
    with pytest.raises(JudgeError, match=message):
        judge.judge_many([request])


def test_truncated_image_is_caught_before_batching(tmp_path, image_files):
    data = image_files["red"].read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(JudgeError, match="cut.png: not a readable image"):
        load_image(tmp_path / "cut.png")


def test_pil_decompression_bomb_guard_stays_on(tmp_path):
    assert Image.MAX_IMAGE_PIXELS is not None
    with pytest.raises(JudgeError, match="exceeds the limit"):
        load_image(Image.new("RGB", (300, 300)), max_pixels=1000)


# --- the CLI ---------------------------------------------------------------------------------


def _jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_cli_single_judgment(tiny_model_dir, image_files, capsys):
    code = main(["judge", "--model", str(tiny_model_dir), "--task", "seetrue", "--image", str(image_files["red"]),
                 "--text", "a red circle", "--max-new-tokens", "4"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"choice", "reasoning", "completion", "valid", "model", "task"} and out["task"] == "seetrue"


def test_cli_good_jsonl(tiny_model_dir, image_files, tmp_path):
    rows = [
        {"id": "a", "task": "seetrue", "images": ["red.png"], "text": "a red circle"},  # relative to the file
        {"id": "b", "task": "mjbench-alignment", "images": [str(image_files["red"]), str(image_files["blue"])], "text": "red"},
        {"id": "c", "task": "agin-nat", "images": ["blue.png"]},
    ]
    source = _jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    assert main(["judge", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(out),
                 "--max-new-tokens", "4"]) == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["line"], r["id"], r["task"]) for r in written] == [
        (1, "a", "seetrue"), (2, "b", "mjbench-alignment"), (3, "c", "agin-nat")
    ]


def test_cli_bad_jsonl_reports_lines_and_still_judges_good_rows(tiny_model_dir, image_files, tmp_path, capsys):
    rows = [
        {"id": "ok1", "task": "seetrue", "images": ["red.png"], "text": "a red circle"},
        "{not json",
        {"id": "bad-task", "task": "nope", "images": ["red.png"], "text": "x"},
        {"id": "bad-count", "task": "seetrue", "images": ["red.png", "blue.png"], "text": "x"},
        {"id": "missing", "task": "agin-nat", "images": ["gone.png"]},
        "",
        {"id": "ok2", "task": "agin-nat", "images": ["blue.png"]},
        [1, 2],
    ]
    source = _jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    code = main(["judge", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(out), "--max-new-tokens", "4"])
    assert code == 1
    err = capsys.readouterr().err
    for line, reason in [(2, "not valid JSON"), (3, "unknown task"), (4, "takes 1 image"), (5, "gone.png: image file not found"),
                         (8, "JSON object")]:
        assert f"in.jsonl:{line}: " in err and reason in err
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["ok1", "ok2"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "nope", "--image", "{red}", "--text", "x"], "unknown task 'nope'"),
        (["--task", "seetrue", "--image", "{red}", "--image", "{blue}", "--text", "x"], "takes 1 image"),
        (["--task", "seetrue", "--image", "{tmp}/none.png", "--text", "x"], "none.png: image file not found"),
        (["--task", "agin-tech", "--image", "{huge}", "--max-pixels", "1000"], "exceeds the limit"),
        (["--input", "{tmp}/absent.jsonl", "--output", "{tmp}/o.jsonl"], "absent.jsonl: input file not found"),
        (["--input", "{tmp}/absent.jsonl"], "--input needs --output"),
    ],
)
def test_cli_user_errors_are_one_line(tiny_model_dir, image_files, tmp_path, capsys, args, message):
    fill = {"red": image_files["red"], "blue": image_files["blue"], "huge": image_files["huge"], "tmp": tmp_path}
    argv = ["judge", "--model", str(tiny_model_dir)] + [a.format(**fill) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mtrl-judge: error: ") and message in err and len(err.splitlines()) == 1


def test_cli_not_a_vlm_folder_without_traceback(tmp_path, image_files):
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    result = subprocess.run(
        [sys.executable, "-m", "mtrl_judge.cli", "judge", "--model", str(tmp_path / "gpt"), "--image", str(image_files["red"]),
         "--text", "x"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "not a vision-language model" in result.stderr and "Traceback" not in result.stderr


def test_cli_backbone_build_and_tasks(tmp_path, capsys):
    assert main(["backbone", "build", "--preset", "tiny", "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "model.safetensors").is_file()
    assert main(["backbone", "build", "--preset", "tiny", "--out", str(tmp_path / "m")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["tasks"]) == 0
    names = [json.loads(line)["name"] for line in capsys.readouterr().out.splitlines()]
    assert "seetrue" in names and "mjbench-safety" in names


def test_a_checkpoint_folder_is_named_with_its_run(tmp_path):
    from mtrl_judge.judge import model_name

    assert model_name(tmp_path / "runs" / "mt-rl-judge" / "best") == "mt-rl-judge/best"
    assert model_name(tmp_path / "runs" / "sft" / "checkpoint-50") == "sft/checkpoint-50"
    assert model_name(tmp_path / "models" / "base-small-p8") == "base-small-p8"
