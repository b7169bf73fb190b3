"""`mtrl-judge pretrain-tower`: per-token targets that say what each visual token shows, and a warm-up that trains the
vision tower only, saves a loadable base and resumes like `pretrain`."""

import json

import numpy as np
import pytest
import torch

from mtrl_judge.data.world.scene import COLOURS, SHAPES, SIZE, object_box
from mtrl_judge.errors import JudgeError
from mtrl_judge.pretrain.tower import (
    CELLS,
    IGNORE,
    SYMBOLS,
    TARGETS,
    SceneTargets,
    TargetCollator,
    TowerWithHeads,
    draw_scene,
    pretrain_tower,
    token_targets,
)

ROW = {t: i for i, t in enumerate(TARGETS)}


@pytest.mark.parametrize("cell", [16, 32])
def test_targets_name_what_sits_at_each_token(cell):
    """Every object is counted at the token holding its centre, with its colour and shape there unless another
    object of another kind shares the cell; every sign's symbol sits at its plate's token; nothing elsewhere."""
    rng = np.random.default_rng(3)
    per_row = SIZE // cell
    for _ in range(40):
        scene = draw_scene(rng)
        t = token_targets(scene, cell)
        assert t.shape == (len(TARGETS), per_row * per_row)
        centres = {}
        for o in scene["objects"]:
            x0, y0, x1, y1 = object_box(o)
            token = int(np.clip((y0 + y1) / 2, 0, SIZE - 1)) // cell * per_row + int(np.clip((x0 + x1) / 2, 0, SIZE - 1)) // cell
            centres.setdefault(token, []).append(o)
        for token in range(per_row * per_row):
            here = centres.get(token, [])
            assert t[ROW["objects"], token] == min(len(here), 2)
            colours = {list(COLOURS).index(o["colour"]) for o in here}
            assert t[ROW["colour"], token] == (colours.pop() if len(colours) == 1 else IGNORE)
            shapes = {list(SHAPES).index(o["shape"]) for o in here}
            assert t[ROW["shape"], token] == (shapes.pop() if len(shapes) == 1 else IGNORE)
        plates = {}
        for sign in scene["signs"]:
            x, y = sign["x"], sign["bottom"] - sign["post"] - sign["size"] / 2
            token = int(np.clip(y, 0, SIZE - 1)) // cell * per_row + int(np.clip(x, 0, SIZE - 1)) // cell
            plates.setdefault(token, set()).add(SYMBOLS.index(sign["symbol"]))
        for token in range(per_row * per_row):
            symbols = plates.get(token, set())
            assert t[ROW["symbol"], token] == (symbols.pop() if len(symbols) == 1 else IGNORE)


def test_covered_cells_name_every_token_of_an_object():
    """With cells="covered" every token whose cell's centre lies inside an object's box (or a plate) names that
    object (or symbol) unless something of another kind claims it too; the object counts stay at the centres."""
    rng = np.random.default_rng(5)
    cell, per_row = 16, SIZE // 16
    more = 0
    for _ in range(40):
        scene = draw_scene(rng)
        centre, covered = token_targets(scene, cell), token_targets(scene, cell, "covered")
        assert np.array_equal(centre[ROW["objects"]], covered[ROW["objects"]])
        claims: dict[tuple[str, int], set[int]] = {}
        for o in scene["objects"]:
            x0, y0, x1, y1 = object_box(o)
            for gy in range(per_row):
                for gx in range(per_row):
                    if x0 <= (gx + 0.5) * cell <= x1 and y0 <= (gy + 0.5) * cell <= y1:
                        claims.setdefault(("shape", gy * per_row + gx), set()).add(list(SHAPES).index(o["shape"]))
        for (_, token), shapes in claims.items():
            assert covered[ROW["shape"], token] == (shapes.pop() if len(shapes) == 1 else IGNORE)
        # the centre's own label stays wherever no other object's box reaches it
        kept = (centre[ROW["shape"]] != IGNORE) & (covered[ROW["shape"]] != IGNORE)
        assert np.array_equal(centre[ROW["shape"]][kept], covered[ROW["shape"]][kept])
        more += int((covered[ROW["shape"]] != IGNORE).sum() - (centre[ROW["shape"]] != IGNORE).sum())
        assert (covered[ROW["symbol"]] != IGNORE).sum() >= (centre[ROW["symbol"]] != IGNORE).sum()
    assert more > 40  # objects span several tokens: most gain some


def test_mixed_cells_spread_objects_and_keep_symbols_at_the_plate_centre():
    """cells="mixed" names objects as "covered" does and symbols as "centre" does."""
    rng = np.random.default_rng(6)
    for _ in range(30):
        scene = draw_scene(rng)
        centre, covered, mixed = (token_targets(scene, 16, cells) for cells in ("centre", "covered", "mixed"))
        for row in ("objects", "colour", "shape"):
            assert np.array_equal(mixed[ROW[row]], covered[ROW[row]])
        assert np.array_equal(mixed[ROW["symbol"]], centre[ROW["symbol"]])
        assert (mixed[ROW["symbol"]] != IGNORE).sum() == len(scene["signs"])


def test_items_are_drawn_from_their_own_seed():
    a, b = SceneTargets(4, seed=0, cell=16), SceneTargets(4, seed=0, cell=16)
    assert np.array_equal(a[2]["image"], b[2]["image"]) and np.array_equal(a[2]["targets"], b[2]["targets"])
    assert not np.array_equal(a[2]["image"], a[3]["image"])
    assert not np.array_equal(a[2]["image"], SceneTargets(4, seed=1, cell=16)[2]["image"])


def test_heads_and_tower_learn_a_batch(tiny_model_dir):
    """The loss reaches both the heads and the tower: one batch is fitted far below where it starts."""
    from mtrl_judge.backbone import load_backbone

    model, processor = load_backbone(tiny_model_dir)
    cell = processor.image_processor.patch_size * processor.image_processor.merge_size
    net = TowerWithHeads(model.model.visual, model.config.vision_config.out_hidden_size)
    batch = TargetCollator(processor.image_processor)([SceneTargets(8, seed=0, cell=cell)[i] for i in range(8)])
    tower_before = {k: v.clone() for k, v in net.visual.state_dict().items()}
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        out = net(**batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert set(TARGETS) == {k.removeprefix("loss_") for k in out if k.startswith("loss_")}
    assert losses[-1] < 0.5 * losses[0]
    assert any(not torch.equal(v, net.visual.state_dict()[k]) for k, v in tower_before.items())


def test_warm_up_changes_the_tower_only_and_resumes(tmp_path, tiny_model_dir, caplog):
    """The saved base loads, differs from its init in vision weights only, records its command and lineage; a run
    stopped by its time limit saves and keeps its work folder, and the same call with overwrite finishes."""
    from safetensors.torch import load_file

    from mtrl_judge.backbone import load_backbone

    kwargs = {"max_steps": 3, "batch_size": 4, "held_out": 4, "seed": 0}
    out = pretrain_tower(tiny_model_dir, tmp_path / "warm", time_limit=1e-9, **kwargs)
    work = tmp_path / ".warm.tower"
    assert json.loads((out / "pretrain.json").read_text())["steps_done"] == 1 and work.is_dir()
    with caplog.at_level("INFO", logger="mtrl_judge.pretrain"):  # the resume is logged by run.py
        out = pretrain_tower(tiny_model_dir, tmp_path / "warm", overwrite=True, **kwargs)
    assert "resuming the tower warm-up from" in caplog.text and not work.exists()
    info = json.loads((out / "pretrain.json").read_text())
    assert info["steps_done"] == 3 and info["stage"] == "tower" and info["init"]["model"] == str(tiny_model_dir)
    assert info["command"].startswith("mtrl-judge pretrain-tower --init") and set(info["held_out"]["after"]) == set(TARGETS)
    before, after = load_file(tiny_model_dir / "model.safetensors"), load_file(out / "model.safetensors")
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".visual." in k for k in changed), sorted(changed)[:5]
    load_backbone(out)


@pytest.mark.parametrize("args, option", [(["--steps", "0"], "--steps"), (["--batch-size", "-1"], "--batch-size"),
                                          (["--learning-rate", "nan"], "--learning-rate"),
                                          (["--held-out", "0"], "--held-out"), (["--time-limit", "0"], "--time-limit")])
def test_bad_tower_arguments_end_in_one_line(tmp_path, tiny_model_dir, args, option, capsys):
    from mtrl_judge.cli import main

    assert main(["pretrain-tower", "--init", str(tiny_model_dir), "--out", str(tmp_path / "b"), *args]) != 0
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err and not (tmp_path / "b").exists()
    assert main(["pretrain-tower", "--init", str(tmp_path), "--out", str(tmp_path / "b")]) != 0
    assert "--init" in capsys.readouterr().err


def test_unknown_cells_are_refused_by_the_cli_and_the_function(tmp_path, tiny_model_dir, capsys):
    from conftest import cli_choices

    from mtrl_judge.cli import main

    with pytest.raises(SystemExit):  # argparse names the option and its choices
        main(["pretrain-tower", "--init", str(tiny_model_dir), "--out", str(tmp_path / "b"), "--cells", "all"])
    assert "--cells" in capsys.readouterr().err
    with pytest.raises(JudgeError, match="--cells"):
        pretrain_tower(tiny_model_dir, tmp_path / "b", cells="all")
    assert not (tmp_path / "b").exists()
    assert cli_choices("pretrain-tower", "cells") == CELLS  # spelled out in the CLI: they must stay tower.CELLS


def tiny_llava():
    """A LLaVA-style model (CLIP tower, no patch merging, no grid_thw): one a Qwen-VL tower warm-up cannot drive."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
                              image_size=30, patch_size=6)
    text = LlamaConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
                       num_key_value_heads=2, vocab_size=100)
    return LlavaForConditionalGeneration(LlavaConfig(vision_config=vision.to_dict(), text_config=text.to_dict(),
                                                     image_token_index=99))


def test_a_llava_style_tower_is_found_but_not_warmed(tmp_path, tiny_model_dir, monkeypatch, capsys):
    """`vision_tower` finds a LLaVA-style tower (what freeze_vision_tower freezes); pretrain-tower, whose heads read
    Qwen-VL's merged tokens, refuses such a base in one line naming --init instead of failing inside the tower call."""
    from types import SimpleNamespace

    import mtrl_judge.backbone
    from mtrl_judge.backbone import vision_tower
    from mtrl_judge.cli import main

    model = tiny_llava()
    assert vision_tower(model) is model.model.vision_tower
    processor = SimpleNamespace(image_processor=SimpleNamespace(patch_size=6))  # a CLIP processor has no merge_size
    monkeypatch.setattr(mtrl_judge.backbone, "load_backbone", lambda path: (model, processor))
    assert main(["pretrain-tower", "--init", str(tiny_model_dir), "--out", str(tmp_path / "w")]) != 0
    err = capsys.readouterr().err
    assert "--init" in err and "LlavaForConditionalGeneration" in err and "Qwen-VL" in err and "Traceback" not in err
    assert not (tmp_path / "w").exists()
