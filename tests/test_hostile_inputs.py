"""Hostile inputs on the CLI, importer and training surfaces: each one ends in a one-line error
naming the file (and line or row), or in that row being reported and the good rows kept.

Every file here is built by hand in tmp_path: a 10 MB text, a 201x1 image (aspect ratio over the
200 Qwen-VL processors crash on), bytes that are not UTF-8, a 100,000-digit JSON number, a damaged
zip, a corrupt parquet, a damaged saved dataset.
"""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from pathlib import Path
from types import SimpleNamespace

import datasets
import fixtures_publishers as fp
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mtrl_judge import Judge, JudgeError
from mtrl_judge.cli import _read_jsonl, main
from mtrl_judge.data.adapters import REPORT_FILE, import_dataset
from mtrl_judge.data.dataset import load_task_split
from mtrl_judge.data.schema import COLUMNS, features
from mtrl_judge.requests import RequestLimits, prepare_request

BIG_TEXT = "x" * 10_000_000  # the issue's 10 MB text
HEADER = b"image,text,label,original_dataset_id,dataset_source\n"


@pytest.fixture(autouse=True)
def restore_registry():
    """Some imports and task files register tasks; leave the registry as it was found."""
    from mtrl_judge.tasks import _REGISTRY

    saved = dict(_REGISTRY)
    yield
    _REGISTRY.clear()
    _REGISTRY.update(saved)


def png(size: tuple[int, int] = (64, 64), colour: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def error_lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("mtrl-judge: error:")]


# ---------------------------------------------------------------------------------------------
# The CLI's JSONL reader and `judge --input`.


def test_read_jsonl_isolates_each_bad_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + json.dumps({"id": "a"}).encode() + b"\n"  # a BOM is tolerated on line 1
        + b'{"id": "caf\xe9"}\n'  # latin-1, not UTF-8
        + b'{"id": "n", "n": ' + b"1" * 100_000 + b"}\n"  # over Python's int digit limit
        + b"[" * 100_000 + b"\n"  # deeper than the recursion limit
        + b"\n"
        + b"not json\n"
        + b"[1]\n"
        + json.dumps({"id": "b"}).encode() + b"\n"
    )
    rows = _read_jsonl(path)
    good = {n: r for n, r in rows if isinstance(r, dict)}
    bad = {n: str(r) for n, r in rows if isinstance(r, JudgeError)}
    assert good == {1: {"id": "a"}, 8: {"id": "b"}}
    assert sorted(bad) == [2, 3, 4, 6, 7]
    assert re.fullmatch(rf"{re.escape(str(path))}:2: not valid UTF-8 \(byte 0xe9 at position 11\)", bad[2])
    assert bad[3].startswith(f"{path}:3: not usable JSON (Exceeds the limit")
    assert bad[4] == f"{path}:4: not usable JSON (nested too deeply)"
    assert all("\n" not in message for message in bad.values())


class FakeJudge(Judge):
    """The request check without a model: answers yes to everything."""

    def __init__(self):
        self.style, self.name, self.batch_size, self.max_new_tokens = "reason", "fake", 4, 8
        self.pairwise_both_orders = True

    def prepare(self, request, where=""):
        return prepare_request(request, RequestLimits(max_pixels=10**7), where)

    def generate_scored(self, batch, **kwargs):
        return [("<think>x</think><answer>yes</answer>", 0.9) for _ in batch]


def test_judge_input_reports_each_bad_row_and_writes_the_good_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Judge, "from_pretrained", classmethod(lambda cls, *a, **k: FakeJudge()))
    (tmp_path / "red.png").write_bytes(png())
    (tmp_path / "thin.png").write_bytes(png((201, 1)))
    assert len((tmp_path / "thin.png").read_bytes()) < 100  # the issue's 75-byte image

    def row(text="a red square", images=("red.png",), **extra) -> bytes:
        return json.dumps({"task": "seetrue", "images": list(images), "text": text, **extra}).encode() + b"\n"

    path = tmp_path / "in.jsonl"
    path.write_bytes(
        row(id="good-1")
        + row(text=BIG_TEXT)
        + b'{"task": "seetrue", "images": ["red.png"], "text": "lone \\ud800 surrogate"}\n'
        + row(images=("thin.png",))
        + b'{"task": "seetrue", "text": "caf\xe9"}\n'
        + b'{"task": "seetrue", "n": ' + b"9" * 100_000 + b"}\n"
        + row(id="good-7")
    )
    out = tmp_path / "out.jsonl"
    assert main(["judge", "--model", str(tmp_path / "m"), "--input", str(path), "--output", str(out), "--device", "cpu"]) == 1
    errors = error_lines(capsys)
    assert [re.match(rf"mtrl-judge: error: {re.escape(str(path))}:(\d+): ", e).group(1) for e in errors] == list("23456")
    assert "10,000,000 characters; at most 4,000 (max_text_chars)" in errors[0]
    assert "field 'text' is not valid Unicode" in errors[1]
    assert "201x1 is more elongated than the model accepts" in errors[2]
    assert "not valid UTF-8" in errors[3] and "not usable JSON" in errors[4]
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["line"], r["id"]) for r in written] == [(1, "good-1"), (7, "good-7")]


# ---------------------------------------------------------------------------------------------
# Output paths are checked before any model or data work.


@pytest.fixture()
def blocker(tmp_path) -> Path:
    """A plain file standing where an output folder's parent should be."""
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


def test_eval_refuses_an_unwritable_out_before_loading_the_model(tmp_path, blocker, capsys):
    # The model folder does not exist: any error about it would mean the model was looked at first.
    base = ["eval", "--model", str(tmp_path / "no-model"), "--data", str(tmp_path / "no-data"), "--device", "cpu"]
    assert main([*base, "--out", str(blocker / "results")]) == 2
    assert error_lines(capsys) == [
        f"mtrl-judge: error: {blocker / 'results'}: cannot write the evaluation results ({blocker} is a file, not a folder)"
    ]
    assert main([*base, "--out", str(blocker)]) == 2
    assert error_lines(capsys) == [
        f"mtrl-judge: error: {blocker}: cannot write the evaluation results (it is a file, not a folder)"
    ]


def test_world_generate_refuses_an_unwritable_out_first(blocker, capsys):
    assert main(["world", "generate", "--size", "tiny", "--out", str(blocker / "world")]) == 2
    assert error_lines(capsys) == [
        f"mtrl-judge: error: {blocker / 'world'}: cannot write the world ({blocker} is a file, not a folder)"
    ]


def test_import_refuses_an_unwritable_out_before_reading(tmp_path, blocker, capsys, monkeypatch):
    from mtrl_judge.data.adapters import ADAPTERS

    monkeypatch.setattr(ADAPTERS["seetrue"], "read", lambda *a, **k: pytest.fail("read before the output was checked"))
    source = fp.make_seetrue(tmp_path / "src", n=8)
    assert main(["data", "import", "seetrue", "--source", str(source), "--out", str(blocker / "data"), "--no-progress"]) == 2
    assert error_lines(capsys) == [
        f"mtrl-judge: error: {blocker / 'data'}: cannot write the output folder ({blocker} is a file, not a folder)"
    ]


def test_rank_checks_the_request_before_loading_the_model(tmp_path, capsys):
    image = tmp_path / "red.png"
    image.write_bytes(png())
    base = ["rank", "--model", str(tmp_path / "no-model"), "--image", str(image), "--device", "cpu"]
    assert main([*base, "--text", "y" * 5000]) == 2
    assert error_lines(capsys) == ["mtrl-judge: error: field 'text' has 5,000 characters; at most 4,000 (max_text_chars)"]
    assert main([*base, "--task", "mjbench-alignment", "--text", "a cat"]) == 2  # rank is pointwise: one image per request
    assert "takes 2 image(s), got 1" in error_lines(capsys)[0]


# ---------------------------------------------------------------------------------------------
# Task files and recipes.


def test_task_file_not_utf8_or_too_deep(tmp_path, capsys):
    from mtrl_judge.tasks import register_tasks_from_yaml

    path = tmp_path / "tasks.yaml"
    path.write_bytes(b"tasks:\n  - name: logo\n    question: caf\xe9?\n")
    with pytest.raises(JudgeError, match=rf"^{re.escape(str(path))}:3: not valid UTF-8 \(byte 0xe9\)$"):
        register_tasks_from_yaml(path)
    path.write_text("tasks: " + "[" * 20_000)
    with pytest.raises(JudgeError, match=r"not usable YAML \(nested too deeply\)$"):
        register_tasks_from_yaml(path)
    path.write_bytes(b"\xff\xfe")
    args = ["judge", "--model", str(tmp_path / "m"), "--image", "x.png", "--tasks-file", str(path)]
    assert main(args) == 2
    assert error_lines(capsys) == [f"mtrl-judge: error: {path}:1: not valid UTF-8 (byte 0xff)"]


def test_recipe_not_utf8(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_bytes(b"method: sft\nmodel: caf\xe9\n")
    assert main(["train", str(path), "--dry-run"]) == 2
    assert error_lines(capsys) == [f"mtrl-judge: error: {path}:2: not valid UTF-8 (byte 0xe9)"]
    base = tmp_path / "base.yaml"
    base.write_bytes(b"\x80")
    path.write_text("base: base.yaml\n")  # the error names the file that is broken, not the one that includes it
    assert main(["train", str(path), "--dry-run"]) == 2
    assert error_lines(capsys) == [f"mtrl-judge: error: {base.resolve()}:1: not valid UTF-8 (byte 0x80)"]


# ---------------------------------------------------------------------------------------------
# Importers: CSV.


def seetrue_source(root: Path, lines: list[bytes], images: dict[str, bytes], *, zipped: bool = False) -> Path:
    """SeeTRUE.csv from raw lines (after the header) and its images, as a folder or images.zip."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "SeeTRUE.csv").write_bytes(HEADER + b"".join(lines))
    if zipped:
        with zipfile.ZipFile(root / "images.zip", "w", compression=zipfile.ZIP_STORED) as zf:
            for name, data in images.items():
                zf.writestr(name, data)
    else:
        (root / "images").mkdir(exist_ok=True)
        for name, data in images.items():
            (root / "images" / name).write_bytes(data)
    return root


def good_line(i: int) -> bytes:
    return f"{i}.png,a square number {i},{i % 2},orig-{i},drawbench\n".encode()


def good_images(n: int) -> dict[str, bytes]:
    return {f"{i}.png": fp.image_bytes(i) for i in range(n)}


def hostile_seetrue(root: Path) -> Path:
    """Good rows on lines 2, 3, 6, 10 and 12-15; one hostile row on each of lines 4, 5, 7, 8, 9, 11."""
    images = good_images(8) | {"thin.png": png((201, 1))}
    lines = [
        good_line(0),  # 2
        good_line(1),  # 3
        b"2.png," + BIG_TEXT.encode() + b",1,o,drawbench\n",  # 4: over csv's field size limit
        b"2.png,caf\xe9 au lait,1,o,drawbench\n",  # 5: not UTF-8
        good_line(2),  # 6
        b"3.png," + b"y" * 5000 + b",1,o,drawbench\n",  # 7: over the text cap
        b"thin.png,a thin line,1,o,drawbench\n",  # 8: aspect ratio 201
        b"4.png,a square,inf,o,drawbench\n",  # 9: a label that is not 0 or 1
        good_line(3),  # 10
        b"z" * 5000 + b".png,a square,1,o,drawbench\n",  # 11: a file name too long for the file system
        *(good_line(i) for i in range(4, 8)),  # 12-15
    ]
    return seetrue_source(root, lines, images)


def test_csv_import_skips_hostile_rows_and_keeps_the_good_ones(tmp_path):
    source = hostile_seetrue(tmp_path / "src")
    report = import_dataset("seetrue", source, tmp_path / "out", on_error="skip", progress=False)
    reasons = {s["row"]: s["reason"] for s in report.skipped}
    assert sorted(reasons) == [4, 5, 7, 8, 9, 11]
    assert reasons[4] == "a field is longer than 131,072 characters (the CSV field size limit)"
    assert reasons[5] == "not valid UTF-8 (byte 0xe9 at position 9)"
    assert reasons[7] == "field 'text' has 5,000 characters; at most 4,000 (max_text_chars)"
    assert "201x1 is more elongated than the model accepts" in reasons[8]
    assert reasons[9] == "unexpected label value 'inf'; expected 0 or 1"
    assert reasons[11].startswith("z") and reasons[11].endswith("not found in images/")
    assert all(s["message"].startswith(f"SeeTRUE.csv:{s['row']}: ") for s in report.skipped)
    parts = {split: load_task_split(tmp_path / "out", "seetrue", split) for split in ("train", "validation", "test")}
    assert sorted(m for ds in parts.values() for m in ds["id"]) == sorted(f"seetrue-{n}" for n in (2, 3, 6, 10, 12, 13, 14, 15))
    assert json.loads((tmp_path / "out" / REPORT_FILE).read_text())["skipped_rows"] == 6


def test_csv_import_fails_on_the_first_hostile_row_naming_file_and_line(tmp_path, capsys):
    source = hostile_seetrue(tmp_path / "src")
    out = tmp_path / "out"
    assert main(["data", "import", "seetrue", "--source", str(source), "--out", str(out), "--no-progress"]) == 2
    assert error_lines(capsys) == [
        "mtrl-judge: error: SeeTRUE.csv:4: a field is longer than 131,072 characters (the CSV field size limit) "
        "(nothing was written; --on-error skip imports the good rows and lists the bad ones)"
    ]
    assert not out.exists()


def test_csv_header_not_utf8_fails_the_file(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "SeeTRUE.csv").write_bytes(b"im\xe4ge,text,label,original_dataset_id,dataset_source\n" + good_line(0))
    (source / "images").mkdir()
    with pytest.raises(JudgeError, match=r"^SeeTRUE\.csv:1: header is not valid UTF-8"):
        import_dataset("seetrue", source, tmp_path / "out", on_error="skip", progress=False)


# ---------------------------------------------------------------------------------------------
# Importers: zip files.


def test_a_file_that_is_not_a_zip_fails_naming_it(tmp_path):
    source = seetrue_source(tmp_path / "src", [good_line(0)], {}, zipped=True)
    (source / "images.zip").write_bytes(b"PK\x03\x04 not really a zip")
    message = rf"^{re.escape(str(source / 'images.zip'))}: not a readable zip file \(File is not a zip file\)$"
    with pytest.raises(JudgeError, match=message):
        import_dataset("seetrue", source, tmp_path / "out", progress=False)


def test_a_damaged_zip_member_is_one_bad_row(tmp_path):
    images = good_images(6)
    source = seetrue_source(tmp_path / "src", [good_line(i) for i in range(6)], images, zipped=True)
    archive = (source / "images.zip").read_bytes()
    at = archive.index(images["3.png"]) + len(images["3.png"]) // 2  # stored uncompressed: flip a byte of 3.png
    (source / "images.zip").write_bytes(archive[:at] + bytes([archive[at] ^ 0xFF]) + archive[at + 1:])
    report = import_dataset("seetrue", source, tmp_path / "out", on_error="skip", progress=False)
    assert [(s["row"], s["field"]) for s in report.skipped] == [(5, "image")]
    assert re.match(r"cannot read 3\.png from images\.zip \(Bad CRC-32", report.skipped[0]["reason"])
    assert sum(c["rows"] for c in report.counts["seetrue"].values()) == 5


def test_an_oversized_image_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from mtrl_judge.data.adapters import base

    monkeypatch.setattr(base, "IMPORT_MAX_IMAGE_BYTES", 100)  # stands in for a zip bomb's declared size
    for zipped in (True, False):
        source = seetrue_source(tmp_path / f"src-{zipped}", [good_line(0)], good_images(1), zipped=zipped)
        with pytest.raises(JudgeError, match=r"^SeeTRUE\.csv:2: field 'image': .*0\.png.* is [\d,]+ bytes; at most 100$"):
            import_dataset("seetrue", source, tmp_path / "out", progress=False)


# ---------------------------------------------------------------------------------------------
# Importers: parquet.


def strings_with_invalid_utf8(values: list[bytes]) -> pa.Array:
    """A string column holding bytes that are not UTF-8 (pyarrow writes it unchecked)."""
    return pa.array(values, type=pa.binary()).view(pa.string())


def mjbench_source(root: Path, captions: pa.Array, image1: list[bytes]) -> Path:
    n = len(image1)
    table = pa.table({
        "caption": captions,
        "image0": pa.array([{"bytes": fp.image_bytes(100 + i), "path": f"a{i}.png"} for i in range(n)], type=fp.IMAGE_STRUCT),
        "image1": pa.array([{"bytes": b, "path": f"b{i}.png"} for i, b in enumerate(image1)], type=fp.IMAGE_STRUCT),
        "label": pa.array([i % 2 for i in range(n)], type=pa.int64()),
    })
    root.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "alignment.parquet", row_group_size=3)
    return root


def test_parquet_import_skips_hostile_rows_and_keeps_the_good_ones(tmp_path):
    captions = [b"a red cat"] * 8
    captions[1] = BIG_TEXT.encode()
    captions[2] = b"caf\xe9"  # not UTF-8: pyarrow cannot turn this row into Python values
    image1 = [fp.image_bytes(i) for i in range(8)]
    image1[4] = png((1, 201))
    source = mjbench_source(tmp_path / "src", strings_with_invalid_utf8(captions), image1)
    report = import_dataset("mjbench", source, tmp_path / "out", on_error="skip", progress=False)
    reasons = {s["row"]: s["reason"] for s in report.skipped}
    assert sorted(reasons) == [1, 2, 4]
    assert reasons[1] == "field 'text' has 10,000,000 characters; at most 4,000 (max_text_chars)"
    assert reasons[2].startswith("cannot read the row (")
    assert "1x201 is more elongated than the model accepts" in reasons[4]
    test = load_task_split(tmp_path / "out", "mjbench-alignment", "test")
    assert len(test) == 5 and len({*test["id"]}) == 5


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_parquet_fails_naming_it(tmp_path, damage):
    source = fp.make_unsafebench(tmp_path / "src", n_train=6, n_test=3)
    path = source / "data" / "train-00000-of-00001.parquet"
    path.write_bytes(b"not a parquet file" if damage == "garbage" else path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(JudgeError, match=r"^train-00000-of-00001\.parquet: not a readable parquet file \(.+\)$"):
        import_dataset("unsafebench", source, tmp_path / "out", on_error="skip", progress=False)


# ---------------------------------------------------------------------------------------------
# Training data: rows that fail the request check are dropped; the rest train.


def save_seetrue(data: Path, rows: list[dict], split: str = "train") -> Path:
    full = [{"task": "seetrue", "label": "yes", "source": "test", "score": None, "meta": "{}", **r} for r in rows]
    empty = datasets.Dataset.from_dict({name: [] for name in COLUMNS}, features=features())
    parts = {s: empty for s in ("train", "validation", "test")}
    parts[split] = datasets.Dataset.from_list(full, features=features())
    datasets.DatasetDict(parts).save_to_disk(str(data / "seetrue"), num_shards={s: 1 for s in parts})
    return data


def good_row(i: int) -> dict:
    image = Image.new("RGB", (32, 32), "red")
    return {"id": f"good-{i}", "images": [image], "text": "a red square", "label": "yes" if i % 2 else "no"}


def test_training_drops_rows_that_fail_the_request_check(tmp_path, caplog):
    from mtrl_judge.train.data import build_mixture

    data = save_seetrue(tmp_path / "data", [
        good_row(0),
        {"id": "thin", "images": [Image.open(io.BytesIO(png((201, 1))))], "text": "a thin line"},
        good_row(1),
        {"id": "long", "images": [Image.new("RGB", (32, 32))], "text": "z" * 5000},
        {"id": "two", "images": [Image.new("RGB", (32, 32))] * 2, "text": "two images"},
        good_row(2),
    ])
    args = SimpleNamespace(data=str(data), tasks=["seetrue"], mixture="proportional", task_weights=None,
                           balance_labels=False, max_examples_per_task=None)
    with caplog.at_level(logging.WARNING, logger="mtrl_judge.train.data"):
        mixed = build_mixture(args, "train", seed=0)
    assert sorted(mixed["id"]) == ["good-0", "good-1", "good-2"]
    assert all(row["images"][0].size == (32, 32) for row in mixed)  # what is left decodes
    lines = [r.getMessage() for r in caplog.records if r.name == "mtrl_judge.train.data"]
    folder = data / "seetrue"
    assert len(lines) == 4
    assert lines[0] == (f"{folder}: split train, task seetrue: row 'thin' dropped: field 'images'[0]: "
                        "201x1 is more elongated than the model accepts (aspect ratio at most 200)")
    assert lines[1] == (f"{folder}: split train, task seetrue: row 'long' dropped: "
                        "field 'text' has 5,000 characters; at most 4,000 (max_text_chars)")
    assert "row 'two' dropped: field 'images': task 'seetrue' (pointwise) takes 1 image(s), got 2" in lines[2]
    assert lines[3] == f"{folder}: dropped 3 of 6 row(s) of task seetrue split train that fail the request check"


def test_training_refuses_a_task_whose_rows_all_fail(tmp_path):
    from mtrl_judge.train.data import drop_unusable_rows

    stored = features().copy()
    stored["images"] = datasets.List(datasets.Image(decode=False))  # stored bytes as they are, unchecked
    rows = [
        {"id": "thin", "images": [{"bytes": png((201, 1)), "path": None}], "text": "a thin line"},
        {"id": "broken", "images": [{"bytes": b"GIF89a?", "path": None}], "text": "a square"},  # a header cut short
    ]
    ds = datasets.Dataset.from_list(
        [{"task": "seetrue", "label": "yes", "source": "test", "score": None, "meta": "{}", **r} for r in rows], features=stored
    )
    data = tmp_path / "data"
    message = (r"every one of the 2 rows of task 'seetrue' split 'train' fails the request check "
               r"\(first: field 'images'\[0\]: 201x1")
    with pytest.raises(JudgeError, match=message):
        drop_unusable_rows(ds, data, "seetrue", "train")


def test_training_keeps_a_clean_dataset_as_it_is(tmp_path):
    from mtrl_judge.train.data import drop_unusable_rows

    data = save_seetrue(tmp_path / "data", [good_row(i) for i in range(3)])
    ds = load_task_split(data, "seetrue", "train")
    assert drop_unusable_rows(ds, data, "seetrue", "train") is ds


@pytest.mark.parametrize("state", ["{}", "[]", "{nope"])
def test_a_damaged_saved_dataset_is_a_one_line_error(tmp_path, state):
    data = save_seetrue(tmp_path / "data", [good_row(0)])
    (data / "seetrue" / "train" / "state.json").write_text(state)
    with pytest.raises(JudgeError, match=rf"^{re.escape(str(data / 'seetrue' / 'train'))}: cannot load \(.+\)$"):
        load_task_split(data, "seetrue", "train")


def test_cli_import_says_how_to_keep_the_good_rows(tmp_path, capsys):
    """With the default --on-error fail, a bad row stops the import; the message names the way out."""
    import fixtures_publishers as fp

    from mtrl_judge.cli import main

    source = fp.make_seetrue(tmp_path / "src", bad="bad-label")
    code = main(["data", "import", "seetrue", "--source", str(source), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0 and "--on-error skip imports the good rows" in err and not (tmp_path / "out").exists()
    code = main(["data", "import", "seetrue", "--source", str(source), "--out", str(tmp_path / "out"), "--no-progress",
                 "--on-error", "skip"])
    assert code == 0 and (tmp_path / "out").is_dir()
