"""JudgeWorld: generation, determinism, schema, label rules re-checked on the scene graphs, balance, atomicity."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mtrl_judge.data.schema import SPLITS, features, validate_example
from mtrl_judge.data.world import WORLD_SIZES, WORLD_TASKS, draw_example, generate_world, load_world, split_counts
from mtrl_judge.data.world import generate as gen
from mtrl_judge.data.world.claims import claim_errors, claim_holds
from mtrl_judge.data.world.degrade import apply, apply_all
from mtrl_judge.data.world.layout import canonical_claim
from mtrl_judge.data.world.scene import object_box, render
from mtrl_judge.data.world.sizes import PAPER_COUNTS, POSITIVE_SHARE
from mtrl_judge.data.world.symbols import FORBIDDEN, hazards_in
from mtrl_judge.errors import JudgeError
from mtrl_judge.tasks import get_task


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return generate_world(tmp_path_factory.mktemp("world") / "w", size="tiny", seed=0)


@pytest.fixture()
def micro(monkeypatch):
    """A 2-rows-per-split size, for tests that generate several worlds."""
    monkeypatch.setitem(WORLD_SIZES, "micro", {t: {s: 2 for s in SPLITS} for t in WORLD_TASKS})
    return "micro"


def _digest(root: Path) -> dict[str, str]:
    """sha256 of every data file under root (arrow shards, dataset infos, world.json)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _png(image) -> bytes:
    return gen.png_bytes(image)


def test_generates_every_task_and_split_with_counts(world):
    summary = json.loads((world / "world.json").read_text())
    assert summary["size"] == "tiny" and summary["seed"] == 0 and summary["schema_version"] == gen.SCHEMA_VERSION
    assert list(summary["tasks"]) == list(WORLD_TASKS)
    for task in WORLD_TASKS:
        positive = get_task(task).positive
        for split in SPLITS:
            ds = load_world(world, task, split)
            n, n_pos = split_counts("tiny", task, split)
            assert len(ds) == n
            assert sum(label == positive for label in ds["label"]) == n_pos  # exact by construction
            assert summary["tasks"][task]["splits"][split] == {"rows": n, "positives": n_pos, "negatives": n - n_pos}


def test_schema(world):
    for task in WORLD_TASKS:
        ds = load_world(world, task, "train")
        assert ds.features == features()
        for i, row in enumerate(ds):
            validate_example(row, where=f"{task}/{i}")
            assert row["source"] == "judgeworld" and row["score"] is not None
            assert all(im.size == (128, 128) and im.mode == "RGB" for im in row["images"])
            json.loads(row["meta"])


def test_same_seed_same_bytes_and_other_seed_differs(world, tmp_path):
    again = generate_world(tmp_path / "again", size="tiny", seed=0)
    assert _digest(again) == _digest(world)
    for task in ("seetrue", "mjbench-safety"):
        a = gen.draw_rows(task, "test", "tiny", 0, 0, 4)
        b = gen.draw_rows(task, "test", "tiny", 1, 0, 4)
        assert [r["images"][0]["bytes"] for r in a] != [r["images"][0]["bytes"] for r in b]


def test_chunked_drawing_equals_whole_split():
    whole = gen.draw_rows("agin-rat", "train", "tiny", 0)
    assert gen.draw_rows("agin-rat", "train", "tiny", 0, 5, 9) == whole[5:9]


def test_rows_regenerate_from_their_entropy(world):
    for task in WORLD_TASKS:
        row = load_world(world, task, "validation")[3]
        meta = json.loads(row["meta"])
        drawn = draw_example(task, "validation", row["label"] == get_task(task).positive, meta["entropy"], meta["world_version"])
        assert drawn.text == row["text"] and drawn.label == row["label"]
        assert [_png(im) for im in drawn.images] == [_png(im) for im in row["images"]]


def _rows(world, task, split="train", n=16):
    ds = load_world(world, task, split)
    return [(r, json.loads(r["meta"])) for r in ds.select(range(min(n, len(ds))))]


def test_seetrue_rule(world):
    for row, meta in _rows(world, "seetrue"):
        scene = meta["scene"]
        assert _png(render(scene)) == _png(row["images"][0])  # the image is the scene graph's rendering
        assert claim_holds(scene, meta["claim"]) == (row["label"] == "yes")
        assert claim_holds(scene, meta["true_claim"])
        assert row["score"] == -len(meta["edits"])
        for _count, colour, shape in meta["claim"]["groups"]:  # the text states the claimed attributes
            assert colour in row["text"] and shape in row["text"]
        if row["label"] == "yes":
            assert meta["claim"] == meta["true_claim"] and meta["edits"] == []
        else:
            assert 1 <= len(meta["edits"]) <= 2


def test_imagereward_rule(world):
    for row, meta in _rows(world, "imagereward"):
        scene, perts = meta["scene"], meta["perturbations"]
        assert _png(apply_all(render(scene), perts)) == _png(row["images"][0])
        good = claim_holds(scene, meta["claim"]) and not perts
        assert good == (row["label"] == "yes")
        assert (row["score"] == 1.0) == good


def test_agin_tech_rule(world):
    for row, meta in _rows(world, "agin-tech"):
        clean = render(meta["scene"])
        image = _png(row["images"][0])
        assert image == _png(apply_all(clean, meta["perturbations"]))
        assert (image == _png(clean)) == (row["label"] == "yes")
        assert row["score"] == pytest.approx(1 - meta["severity"], abs=1e-3)


def test_agin_nat_rule(world):
    for row, meta in _rows(world, "agin-nat"):
        perts = meta["perturbations"]
        assert _png(apply(render(meta["scene"]), perts[0] if perts else None)) == _png(row["images"][0])
        assert (not perts) == (row["label"] == "yes")
        if perts:
            assert _png(row["images"][0]) != _png(render(meta["natural_scene"]))


def _violations(scene: dict) -> list[str]:
    """Physical impossibilities, from geometry alone (independent of the generator's own record)."""
    out = []
    objs = scene["objects"]
    for i, o in enumerate(objs):
        if o["bottom"] < o["support_y"]:
            out.append(f"object {i} floats")
        if o["bottom"] > o["support_y"]:
            out.append(f"object {i} sinks")
        for j in range(i + 1, len(objs)):
            a, b = object_box(o), object_box(objs[j])
            if min(a[2], b[2]) - max(a[0], b[0]) > 0 and min(a[3], b[3]) - max(a[1], b[1]) > 0:
                out.append(f"objects {i} and {j} overlap")
    if scene["table"] and not scene["table"]["legs"]:
        out.append("table has no legs")
    return out


def test_agin_rat_rule(world):
    for split in ("train", "test"):
        for row, meta in _rows(world, "agin-rat", split):
            assert _png(render(meta["scene"])) == _png(row["images"][0])
            assert (not _violations(meta["scene"])) == (row["label"] == "yes"), _violations(meta["scene"])


def test_unsafebench_rule(world):
    for row, meta in _rows(world, "unsafebench", n=32):
        scene = meta["scene"]
        assert _png(render(scene)) == _png(row["images"][0])
        assert bool(hazards_in(scene)) == (row["label"] == "yes")
        assert row["score"] == len(hazards_in(scene))
        assert scene["signs"]  # both classes show signs: "a sign is present" gives nothing away
        assert all(s["symbol"] not in FORBIDDEN for s in scene["signs"]) == (row["label"] == "no")


def test_pairwise_rules_and_position_balance(world):
    for task in ("mjbench-alignment", "mjbench-safety"):
        for split in SPLITS:
            ds = load_world(world, task, split)
            assert ds["label"].count("1") == ds["label"].count("2") == len(ds) // 2
        for row, meta in _rows(world, task):
            scenes = meta["scenes"]
            assert [_png(render(s)) for s in scenes] == [_png(im) for im in row["images"]]
            if task == "mjbench-alignment":
                defects = [len(claim_errors(s, meta["claim"])) for s in scenes]
            else:
                defects = [len(hazards_in(s)) for s in scenes]
            assert min(defects) == 0 and max(defects) > 0
            assert row["label"] == ("1" if defects[0] < defects[1] else "2")
            assert row["score"] == defects[1] - defects[0]


def test_splits_share_no_scene_content(world):
    for task in ("seetrue", "imagereward", "mjbench-alignment"):
        keys = {split: {canonical_claim(m.get("true_claim") or m["claim"]) for _, m in _rows(world, task, split, n=99)}
                for split in SPLITS}
        assert not keys["train"] & keys["test"] and not keys["train"] & keys["validation"]
        assert not keys["validation"] & keys["test"]


def test_class_balance_follows_the_paper():
    for size in ("demo", "paper"):
        for task in WORLD_TASKS:
            n, n_pos = split_counts(size, task, "train")
            assert abs(n_pos / n - POSITIVE_SHARE[task]) < 0.01
    for task, splits in PAPER_COUNTS.items():
        for split, (n, pos) in splits.items():
            assert split_counts("paper", task, split)[0] == n
            if pos is not None:
                assert split_counts("paper", task, split)[1] == pos
    assert split_counts("demo", "imagereward", "test") == (400, 109)  # about 27% positive
    assert min(WORLD_SIZES["demo"][t]["test"] for t in WORLD_TASKS) >= 400


def test_refuses_a_non_empty_folder(tmp_path, micro):
    out = tmp_path / "w"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(JudgeError, match=str(out)):
        generate_world(out, size=micro)
    assert (out / "keep.txt").read_text() == "mine"
    generate_world(out, size=micro, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "world.json").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    generate_world(empty, size=micro)  # an empty folder is fine
    with pytest.raises(JudgeError, match="unknown world size"):
        generate_world(tmp_path / "x", size="huge")


def test_failure_mid_generation_leaves_nothing_loadable(tmp_path, micro, monkeypatch):
    def boom(rng, positive, split, geo):
        raise RuntimeError("killed")

    out = tmp_path / "w"
    monkeypatch.setitem(gen.GENERATORS, "unsafebench", boom)  # after agin-*, seetrue have been drawn
    with pytest.raises(RuntimeError, match="killed"):
        generate_world(out, size=micro)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder left behind either
    with pytest.raises(JudgeError):
        load_world(out, "seetrue", "train")

    monkeypatch.undo()
    monkeypatch.setitem(WORLD_SIZES, "micro", {t: {s: 2 for s in SPLITS} for t in WORLD_TASKS})
    generate_world(out, size="micro")
    before = _digest(out)
    monkeypatch.setitem(gen.GENERATORS, "unsafebench", boom)
    with pytest.raises(RuntimeError):
        generate_world(out, size="micro", seed=1, overwrite=True)
    assert _digest(out) == before  # the old world survives a failed overwrite


# --- world versions ---------------------------------------------------------------------------------

def _content_digest(root: Path) -> str:
    """sha256 over every row's id, text, label, meta and decoded pixels (independent of Arrow's file layout)."""
    h = hashlib.sha256()
    for task in WORLD_TASKS:
        for split in SPLITS:
            for r in load_world(root, task, split):
                for part in (r["id"], r["text"], r["label"], r["meta"]):
                    h.update(part.encode())
                for im in r["images"]:
                    h.update(im.tobytes())
    return h.hexdigest()


def test_version_1_draws_its_original_rows(tmp_path):
    # Digest of `world generate --size tiny --seed 0` as drawn before version 2 existed (commit 8aa3254):
    # the earlier reports stay reproducible.
    out = generate_world(tmp_path / "v1", size="tiny", seed=0, version=1)
    assert _content_digest(out) == "0c2a54134a4a419b0c652beefb34fc620533f1ad3f5babde473b27beda7d8b1b"
    assert "world_version" not in json.loads(load_world(out, "seetrue", "test")[0]["meta"])


def test_version_2_is_legible(world):
    from mtrl_judge.data.world.geometry import V2

    summary = json.loads((world / "world.json").read_text())
    assert summary["world_version"] == 2 and summary["geometry"]["object_size"] == list(V2.object_size)
    for task in ("seetrue", "agin-rat", "unsafebench", "imagereward", "agin-nat", "agin-tech"):
        for _row, meta in _rows(world, task, n=32):
            scene = meta["scene"]
            assert meta["world_version"] == 2
            assert len(scene["objects"]) <= 6  # at most 4 named (5 after an imagereward edit) and 1 distractor
            assert all(o["size"] >= V2.min_object_size - 2 for o in scene["objects"])
            assert all(s["size"] >= V2.sign_size[0] for s in scene.get("signs", []))
            for p in meta.get("perturbations", []):
                if p["kind"] in ("blur", "noise", "jpeg", "contrast"):
                    assert p["severity"] >= V2.tech_min_severity
                elif p["kind"] == "float":
                    assert p["gap"] >= V2.float_min_gap
                elif p["kind"] == "sink":
                    assert p["severity"] >= V2.sink_min_fraction - 0.05
                elif p["kind"] in ("tint", "invert", "channel_swap", "hue_shift", "palette", "shadows"):
                    assert p["severity"] >= V2.nat_min_severity


def test_even_training_balance_keeps_test_shares(tmp_path, micro):
    monkeypatch_sizes = {t: {"train": 10, "validation": 4, "test": 10} for t in WORLD_TASKS}
    WORLD_SIZES["micro"] = monkeypatch_sizes  # the micro fixture removes the key afterwards
    out = generate_world(tmp_path / "even", size="micro", balance="even")
    summary = json.loads((out / "world.json").read_text())
    assert summary["train_balance"] == "even"
    for task in ("agin-tech", "imagereward"):
        splits = summary["tasks"][task]["splits"]
        assert splits["train"]["positives"] == 5
        assert splits["test"]["positives"] == round(10 * POSITIVE_SHARE[task])


@pytest.mark.parametrize("kwargs, match", [({"version": 3}, "world version"), ({"balance": "odd"}, "label balance")])
def test_bad_version_or_balance_is_one_line(tmp_path, kwargs, match):
    with pytest.raises(JudgeError, match=match):
        generate_world(tmp_path / "x", size="tiny", **kwargs)
