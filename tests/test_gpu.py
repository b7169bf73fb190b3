"""The CUDA path, on the tiny backbone: bf16 forward and generate, `mtrl-judge train` (SFT and GRPO
without vLLM), `mtrl-judge eval`, `mtrl-judge pretrain-tower`, and the service answering a request.

Deselected by default (pyproject's addopts has `-m 'not slow and not gpu'`) and skipped where torch
sees no GPU. Run them on a CUDA machine with:

    python -m pytest -q -m gpu tests/test_gpu.py

Each test takes seconds on a GPU (the tiny preset is a few MB of weights)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from mtrl_judge import Judge, JudgeError
from mtrl_judge.backbone.load import load_backbone
from mtrl_judge.cli import main
from mtrl_judge.devices import resolve_device
from mtrl_judge.prompts import render

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _inputs(processor, device):
    image = Image.new("RGB", (64, 64), "red")
    text = processor.apply_chat_template(render({"task": "seetrue", "text": "a red square", "images": [image]}, "reason"),
                                         add_generation_prompt=True, tokenize=False)
    return processor(text=[text], images=[image], padding=True, return_tensors="pt").to(device)


def test_auto_picks_the_gpu_in_bfloat16_and_refuses_a_missing_index(tiny_model_dir):
    judge = Judge.from_pretrained(tiny_model_dir, max_new_tokens=4)
    assert judge.device.type == "cuda"
    assert judge.model.dtype == (torch.bfloat16 if torch.cuda.get_device_capability()[0] >= 8 else torch.float32)
    with pytest.raises(JudgeError, match="no such GPU"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_bf16_forward_and_generate_on_cuda(tiny_model_dir):
    model, processor = load_backbone(tiny_model_dir, device="cuda", dtype="bfloat16")
    assert model.dtype == torch.bfloat16
    assert all(p.device.type == "cuda" for p in model.parameters())
    inputs = _inputs(processor, model.device)
    with torch.inference_mode():
        logits = model(**inputs).logits
        assert logits.device.type == "cuda" and logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()
        reference, _ = load_backbone(tiny_model_dir, device="cuda", dtype="float32")
        expected = reference(**inputs).logits
        # bf16 keeps about 3 significant digits: the logits must point the same way as fp32's
        similarity = torch.nn.functional.cosine_similarity(logits.float().flatten(), expected.flatten(), dim=0)
        assert similarity > 0.99, float(similarity)
        output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert output.device.type == "cuda" and output.shape[1] > inputs["input_ids"].shape[1]  # new tokens (EOS may end it early)
    judge = Judge(model, processor, max_new_tokens=8)
    verdict = judge.judge(images=[Image.new("RGB", (64, 64), "blue")], text="a red square", task="seetrue")
    assert verdict.task == "seetrue" and verdict.score is not None and 0.0 <= verdict.score <= 1.0


@pytest.fixture()
def gpu_recipe(tmp_path, tiny_model_dir, tiny_data_dir):
    """A recipe for a few bf16 steps on CUDA, like tests/test_train.py's CPU one."""

    def write(method: str) -> Path:
        fields = {
            "method": method, "model": str(tiny_model_dir), "data": str(tiny_data_dir), "tasks": ["seetrue", "agin-tech"],
            "output_dir": str(tmp_path / f"run-{method}"), "max_steps": 2, "per_device_train_batch_size": 4,
            "learning_rate": 1e-2, "val_every": 2, "val_max_examples": 4, "val_max_new_tokens": 8, "save_steps": 1,
            "report_to": "none", "use_cpu": False, "bf16": True, "activation_checkpointing": False, "logging_steps": 1,
        }
        if method == "grpo":
            fields.update(num_generations=4, max_completion_length=8, use_vllm=False,
                          rewards=["format", "accuracy", "gpu-distinct-chars"], reward_weights=[0.1, 0.9, 1.0])
        path = tmp_path / f"{method}.yaml"
        path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in fields.items()))
        return path

    return write


@pytest.fixture()
def varied_reward():
    """Rewards that differ between sampled completions, so GRPO's advantages and gradient are non-zero."""
    from mtrl_judge.rewards import REWARDS, completion_text, register_reward

    @register_reward("gpu-distinct-chars")
    def distinct_chars(completions, **_):
        return [len(set(completion_text(c))) / 10 for c in completions]

    yield
    REWARDS.pop("gpu-distinct-chars")


@pytest.mark.parametrize("method", ["sft", "grpo"])
def test_cli_train_runs_a_few_bf16_steps_on_cuda(gpu_recipe, tiny_model_dir, varied_reward, monkeypatch, method):
    from safetensors.torch import load_file

    import mtrl_judge.train.run as run
    from mtrl_judge.train.callbacks import FINAL_DIR, METRICS_FILE

    trainers = []
    real_build = run.build_trainer

    def recording_build(recipe, **kw):  # keep the trainer, to check where it trained
        trainers.append(real_build(recipe, **kw))
        return trainers[-1]

    monkeypatch.setattr(run, "build_trainer", recording_build)
    recipe = gpu_recipe(method)
    assert main(["train", str(recipe)]) == 0
    trainer = trainers[0]
    assert trainer.args.device.type == "cuda" and trainer.args.bf16
    assert next(trainer.model.parameters()).device.type == "cuda"
    if method == "grpo":
        assert not trainer.args.use_vllm
    out = Path(trainer.args.output_dir)
    rows = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows if "loss" in r)
    assert "val/mean_macro_f1" in set().union(*rows)
    before, after = load_file(str(tiny_model_dir / "model.safetensors")), load_file(str(out / FINAL_DIR / "model.safetensors"))
    # compared in the saved dtype, so that the bf16 cast alone does not count as a change
    assert any(not torch.equal(before[k].to(after[k].dtype), after[k]) for k in after), "no parameter changed"


def test_cli_eval_on_cuda(tiny_model_dir, tiny_data_dir, tmp_path):
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(tiny_model_dir), "--data", str(tiny_data_dir), "--out", str(out),
                 "--device", "cuda", "--dtype", "bfloat16", "--max-new-tokens", "4", "--max-examples", "4"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["tasks"]) == {"seetrue", "agin-tech", "mjbench-alignment"}
    assert all(0.0 <= m["macro_f1"] <= 1.0 for m in results["tasks"].values())
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 4 + 4 + 2 * 4  # pairwise: both orders


def test_pretrain_tower_warms_up_on_cuda_and_saves_an_fp32_base(tiny_model_dir, tmp_path):
    assert main(["pretrain-tower", "--init", str(tiny_model_dir), "--out", str(tmp_path / "warm"), "--steps", "3",
                 "--batch-size", "4", "--held-out", "4"]) == 0
    info = json.loads((tmp_path / "warm" / "pretrain.json").read_text())
    assert info["device"] == torch.cuda.get_device_name(0) and info["steps_done"] == 3
    model, _ = load_backbone(tmp_path / "warm")
    assert next(model.parameters()).dtype == torch.float32


def test_serve_answers_a_request_on_cuda(tiny_model_dir):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    import base64
    import io

    from fastapi.testclient import TestClient

    from mtrl_judge.serve import create_app

    judge = Judge.from_pretrained(tiny_model_dir, device="cuda", dtype="bfloat16", max_new_tokens=8)
    assert judge.device.type == "cuda"
    buffer = io.BytesIO()
    Image.new("RGB", (48, 48), "red").save(buffer, format="PNG")
    with TestClient(create_app(judge)) as client:
        r = client.post("/v1/judge", json={"task": "seetrue", "text": "a red circle",
                                           "images": [base64.b64encode(buffer.getvalue()).decode("ascii")]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"] == "seetrue" and body["choice"] in (None, "yes", "no") and 0.0 <= body["score"] <= 1.0
