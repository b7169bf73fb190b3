"""The judge service: batcher, endpoints, errors, auth, metrics, clients (all on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from mtrl_judge import Judge, Verdict  # noqa: E402
from mtrl_judge.client import JudgeClient, JudgeServiceError, OpenAICompatibleJudge, judge_via_openai  # noqa: E402
from mtrl_judge.errors import JudgeError, RequestTooLargeError  # noqa: E402
from mtrl_judge.requests import RequestLimits, prepare_request  # noqa: E402
from mtrl_judge.serve import ServiceLimits, background_server, create_app  # noqa: E402
from mtrl_judge.serve.batcher import BatcherClosed, BatcherFull, BatchTimeout, MicroBatcher  # noqa: E402
from mtrl_judge.serve.server import read_api_key  # noqa: E402
from mtrl_judge.tasks import list_tasks  # noqa: E402


def png(colour: str = "red", size: tuple[int, int] = (48, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


RED = b64(png("red"))
BLUE = b64(png("blue"))


class FakeJudge:
    """Stands in for Judge where a test needs control of the model: slow, or failing on a text."""

    def __init__(self, delay_s: float = 0.0, fail_on: str | None = None, error: Exception | None = None) -> None:
        self.name = "fake"
        self.limits = RequestLimits(max_pixels=1_000_000)
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.error = error or RuntimeError("model exploded")  # what a batch holding `fail_on` raises
        self.calls: list[int] = []

    def prepare(self, request, where=""):
        return prepare_request(request, self.limits, where)

    def judge_many(self, requests):
        self.calls.append(len(requests))
        time.sleep(self.delay_s)
        if self.fail_on is not None and any(r.text == self.fail_on for r in requests):
            raise self.error
        return [Verdict.from_completion("<think>looks fine</think><answer>yes</answer>", ("yes", "no"), r.task, score=0.9)
                for r in requests]


# -- the batcher, without a model ------------------------------------------------------------


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def test_batcher_gathers_concurrent_items_into_batches_off_the_event_loop():
    threads = set()

    def double(items):
        threads.add(threading.current_thread().name)
        time.sleep(0.05)
        return [2 * x for x in items]

    async def main():
        batcher = MicroBatcher(double, max_batch_size=8, max_wait_ms=20)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
        await batcher.stop()
        return results, batcher.stats

    results, stats = _run(main())
    assert results == [2 * i for i in range(20)]
    assert stats.items == 20 and stats.max_batch_size_seen == 8 and stats.batches <= 4
    assert all(size <= 8 for size in stats.batch_sizes)
    assert threads and all(name.startswith("mtrl-judge-model") for name in threads)


def test_batcher_item_errors_fail_only_that_item():
    def fn(items):
        return [ValueError(f"bad {x}") if x == 3 else x for x in items]

    async def main():
        batcher = MicroBatcher(fn, max_batch_size=8, max_wait_ms=20)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(i) for i in range(6)), return_exceptions=True)
        await batcher.stop()
        return results

    results = _run(main())
    assert [r for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5]
    assert isinstance(results[3], ValueError)


def test_batcher_whole_batch_failure_is_retried_item_by_item():
    calls = []

    def fn(items):
        calls.append(list(items))
        if "poison" in items:
            raise RuntimeError("boom")
        return [x.upper() for x in items]

    async def main():
        batcher = MicroBatcher(fn, max_batch_size=8, max_wait_ms=20)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(x) for x in ["a", "poison", "b"]), return_exceptions=True)
        await batcher.stop()
        return results, batcher.stats

    results, stats = _run(main())
    assert results[0] == "A" and results[2] == "B" and isinstance(results[1], RuntimeError)
    assert calls[0] == ["a", "poison", "b"] and stats.failed_items == 1


def test_batcher_stop_drains_queued_items_and_then_refuses():
    def slow(items):
        time.sleep(0.02)
        return list(items)

    async def main():
        batcher = MicroBatcher(slow, max_batch_size=2, max_wait_ms=0)
        await batcher.start()
        pending = [asyncio.ensure_future(batcher.submit(i)) for i in range(7)]
        await asyncio.sleep(0)  # let them queue
        await batcher.stop()
        results = await asyncio.gather(*pending)
        with pytest.raises(BatcherClosed):
            await batcher.submit(99)
        return results

    assert _run(main()) == list(range(7))


def _blocked_worker():
    """A batch function that holds its batch until the returned event is set (at most 5 s)."""
    release = threading.Event()

    def blocked(items):
        release.wait(5)
        return list(items)

    return release, blocked


def test_batcher_sheds_load_when_the_queue_is_full():
    release, blocked = _blocked_worker()
    async def main():
        batcher = MicroBatcher(blocked, max_batch_size=1, max_wait_ms=0, max_queue_size=2)
        await batcher.start()
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.05)  # the worker holds item 0
        queued = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0.01)
        with pytest.raises(BatcherFull):
            await batcher.submit(3)
        release.set()
        results = await asyncio.gather(first, *queued)
        await batcher.stop()
        return results

    assert _run(main()) == [0, 1, 2]


def test_batcher_rejects_a_result_count_mismatch_and_bad_settings():
    async def main():
        batcher = MicroBatcher(lambda items: [], max_batch_size=4, max_wait_ms=0)
        await batcher.start()
        try:
            return await batcher.submit(1)
        finally:
            await batcher.stop()

    with pytest.raises(RuntimeError, match="returned 0 result"):
        _run(main())
    with pytest.raises(ValueError):
        MicroBatcher(list, max_batch_size=0)


def test_batcher_bounds_the_queue_in_pixels_as_well_as_items():
    release, blocked = _blocked_worker()
    async def main():
        batcher = MicroBatcher(blocked, max_batch_size=1, max_wait_ms=0, max_queue_pixels=1000)
        await batcher.start()
        first = asyncio.ensure_future(batcher.submit("a", pixels=600))
        await asyncio.sleep(0.05)  # the worker holds "a": its pixels still count
        second = asyncio.ensure_future(batcher.submit("b", pixels=300))
        await asyncio.sleep(0.01)
        assert batcher.held_pixels == 900
        with pytest.raises(BatcherFull, match=r"900 pixels .* at most 1,000 \(max_queue_pixels\)"):
            await batcher.submit("c", pixels=200)
        small = asyncio.ensure_future(batcher.submit("d", pixels=100))  # still fits
        release.set()
        results = await asyncio.gather(first, second, small)
        held_after = batcher.held_pixels
        lone_big = await batcher.submit("e", pixels=5000)  # nothing held: one item always gets in
        await batcher.stop()
        return results, held_after, lone_big

    assert _run(main()) == (["a", "b", "d"], 0, "e")
    with pytest.raises(ValueError, match="max_queue_pixels"):
        MicroBatcher(list, max_queue_pixels=0)


def test_batcher_time_limit_fails_a_stuck_batch_and_refuses_until_it_returns():
    release = threading.Event()

    def stuck_on_x(items):
        if "x" in items:
            release.wait(5)
        return list(items)

    async def main():
        batcher = MicroBatcher(stuck_on_x, max_batch_size=4, max_wait_ms=0, batch_timeout_s=0.2)
        await batcher.start()
        start = time.monotonic()
        with pytest.raises(BatchTimeout, match="batch time limit of 0.2 s"):
            await batcher.submit("x")
        answered_after = time.monotonic() - start
        stuck = batcher.stuck_seconds
        with pytest.raises(BatcherFull, match="stuck"):
            await batcher.submit("y")
        release.set()
        while batcher.busy_seconds is not None:  # the model returns from the stuck batch
            await asyncio.sleep(0.01)
        after = (batcher.stuck_seconds, await batcher.submit("z"), batcher.stats.timed_out_batches, batcher.stats.failed_items)
        await batcher.stop()
        return answered_after, stuck, after

    answered_after, stuck, after = _run(main())
    assert 0.2 <= answered_after < 2.0  # answered at the limit, not when the model returned
    assert stuck is not None and stuck > 0.2
    assert after == (None, "z", 1, 1)
    with pytest.raises(ValueError, match="batch_timeout_s"):
        MicroBatcher(list, batch_timeout_s=0)


def test_service_limits_are_checked_with_one_line_errors():
    assert ServiceLimits().max_queue_pixels > 0
    for bad in ({"batch_timeout_s": 0}, {"body_timeout_s": float("nan")}, {"max_queue_pixels": -1},
                {"limit_concurrency": 1.5}, {"max_header_bytes": True}):
        with pytest.raises(JudgeError, match=next(iter(bad))) as e:
            ServiceLimits(**bad)
        assert "\n" not in str(e.value)


# -- the app, with the tiny model --------------------------------------------------------------


@pytest.fixture(scope="module")
def client(tiny_judge):
    with TestClient(create_app(tiny_judge, limits=ServiceLimits(max_body_bytes=256 * 1024, max_items_per_batch=8))) as c:
        yield c


def test_judge_json_answers_a_verdict(client, tiny_judge):
    r = client.post("/v1/judge", json={"task": "seetrue", "text": "a red circle", "images": [RED]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"] == "seetrue" and body["model"] == tiny_judge.name
    assert body["choice"] in (None, "yes", "no") and isinstance(body["valid"], bool)
    assert isinstance(body["reasoning"], str) and body["latency_ms"] > 0 and 0.0 <= body["score"] <= 1.0


def test_judge_pairwise_and_data_urls(client):
    r = client.post("/v1/judge", json={"task": "mjbench-alignment", "text": "a red circle",
                                        "images": [f"data:image/png;base64,{RED}", BLUE]})
    assert r.status_code == 200, r.text
    assert r.json()["choice"] in (None, "1", "2")


def test_judge_multipart_upload(client):
    r = client.post("/v1/judge", data={"task": "seetrue", "text": "a red circle"},
                    files=[("images", ("red.png", png("red"), "image/png"))])
    assert r.status_code == 200, r.text
    assert r.json()["task"] == "seetrue"
    r = client.post("/v1/judge", data={"task": "agin-tech"},
                    files=[("images", ("a.png", png(), "image/png")), ("images", ("b.png", png(), "image/png"))])
    assert r.status_code == 422 and "takes 1 image(s), got 2" in r.json()["detail"]
    r = client.post("/v1/judge", data={"task": "nope"}, files=[("images", ("a.png", png(), "image/png"))])
    assert r.status_code == 404


def test_unknown_task_is_404_listing_known_tasks(client):
    r = client.post("/v1/judge", json={"task": "nope", "text": "x", "images": [RED]})
    assert r.status_code == 404
    assert "unknown task 'nope'" in r.json()["detail"] and "seetrue" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"task": "seetrue", "text": "x", "images": [RED, BLUE]}, "takes 1 image(s), got 2"),
        ({"task": "mjbench-safety", "text": "x", "images": [RED]}, "takes 2 image(s), got 1"),
        ({"task": "seetrue", "text": "x", "images": []}, "got 0"),
        ({"task": "seetrue", "images": [RED]}, "none was given"),
        ({"task": "seetrue", "text": "x", "images": "not-a-list"}, "field 'images'"),
        ({"text": "x", "images": [RED]}, "field 'task'"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_wrong_shape_is_422(client, body, fragment):
    r = client.post("/v1/judge", json=body)
    assert r.status_code == 422, r.text
    assert fragment in r.json()["detail"]


def test_malformed_json_is_422_and_other_media_types_415(client):
    r = client.post("/v1/judge", content=b'{"task": "seetrue", ', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "malformed JSON" in r.json()["detail"]
    r = client.post("/v1/judge/batch", content=b"\xff\xfe", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    r = client.post("/v1/judge", content=b"task=seetrue", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        (b64(b"this is not an image at all"), "not a readable image"),
        ("!!!not base64!!!", "not valid base64"),
        ("https://example.com/cat.png", "not fetched"),
        ("file:///etc/passwd", "not fetched"),
        ("data:image/png,rawbytes", "must be base64"),
        (b64(png()[:40]), "not a readable image"),  # truncated PNG
    ],
)
def test_bad_images_are_400_with_the_reason(client, image, fragment):
    r = client.post("/v1/judge", json={"task": "seetrue", "text": "x", "images": [image]})
    assert r.status_code == 400, r.text
    assert fragment in r.json()["detail"]


def test_images_over_the_pixel_limit_are_400(tiny_judge, image_files):
    small_limit = Judge(tiny_judge.model, tiny_judge.processor, max_new_tokens=4, max_pixels=100_000, name="limited")
    with TestClient(create_app(small_limit)) as c:
        huge = b64(image_files["huge"].read_bytes())  # 600 x 600
        r = c.post("/v1/judge", json={"task": "agin-nat", "images": [huge]})
        assert r.status_code == 400 and "exceeds the limit of 100,000" in r.json()["detail"]
        upload = [("images", ("huge.png", image_files["huge"].read_bytes(), "image/png"))]
        r = c.post("/v1/judge", data={"task": "agin-nat"}, files=upload)
        assert r.status_code == 400 and "exceeds the limit" in r.json()["detail"]


def test_oversized_bodies_are_413_with_or_without_content_length(client):
    big = {"task": "seetrue", "text": "x", "images": ["A" * (300 * 1024)]}
    r = client.post("/v1/judge", json=big)
    assert r.status_code == 413 and "exceeds the limit" in r.json()["detail"]

    def chunks():  # a streamed body: no Content-Length, so the limit is enforced while reading
        for _ in range(40):
            yield b"x" * 8192

    r = client.post("/v1/judge", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = client.post("/v1/judge", data={"task": "seetrue", "text": "x"},
                    files=[("images", ("big.png", b"\0" * (300 * 1024), "image/png"))])
    assert r.status_code == 413


def test_batch_bad_items_fail_alone(client):
    items = [
        {"task": "seetrue", "text": "a red circle", "images": [RED], "id": "good-1"},
        {"task": "nope", "text": "x", "images": [RED], "id": "unknown"},
        {"task": "seetrue", "text": "x", "images": ["%%%"]},
        {"task": "seetrue", "text": "x", "images": [RED, BLUE]},
        "not an object",
        {"task": "mjbench-alignment", "text": "which is red", "images": [RED, BLUE], "id": "good-2"},
    ]
    r = client.post("/v1/judge/batch", json={"items": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n_ok"] == 2 and body["n_failed"] == 4
    results = body["results"]
    assert [x["index"] for x in results] == list(range(6))
    assert [x["status"] for x in results] == [200, 404, 400, 422, 422, 200]
    assert results[0]["ok"] and results[0]["id"] == "good-1" and results[0]["result"]["task"] == "seetrue"
    assert results[5]["ok"] and results[5]["result"]["choice"] in (None, "1", "2")
    assert results[1]["id"] == "unknown" and "items[1]" in results[1]["error"]
    assert all(x["error"] for x in results[1:5]) and results[0]["error"] is None


def test_batch_limits(client):
    assert client.post("/v1/judge/batch", json={"items": []}).status_code == 422
    assert client.post("/v1/judge/batch", json={"nope": 1}).status_code == 422
    many = [{"task": "agin-nat", "images": [RED]}] * 9
    r = client.post("/v1/judge/batch", json={"items": many})
    assert r.status_code == 422 and "at most 8" in r.json()["detail"]


def test_tasks_health_metrics_docs(client, tiny_judge):
    tasks = client.get("/v1/tasks").json()["tasks"]
    assert [t["name"] for t in tasks] == [t.name for t in list_tasks()]
    seetrue = next(t for t in tasks if t["name"] == "seetrue")
    assert seetrue["choices"] == ["yes", "no"] and seetrue["criterion"] and seetrue["num_images"] == 1
    assert client.get("/health").json() == {"status": "ok", "model": tiny_judge.name, "queue_depth": 0,
                                            "worker": "idle", "batch_seconds": None}
    client.post("/v1/judge", json={"task": "agin-nat", "images": [RED]})
    client.post("/v1/judge", json={"task": "nope", "images": [RED]})
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'mtrl_judge_requests_total{endpoint="/v1/judge",status="200"}' in text
    assert 'mtrl_judge_requests_total{endpoint="/v1/judge",status="404"}' in text
    assert 'mtrl_judge_request_duration_seconds_bucket{endpoint="/v1/judge",le="+Inf"}' in text
    assert "# TYPE mtrl_judge_batch_size histogram" in text and "mtrl_judge_batches_total" in text
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/judge", "/v1/judge/batch", "/v1/tasks", "/health", "/metrics"} <= set(paths)
    assert "multipart/form-data" in paths["/v1/judge"]["post"]["requestBody"]["content"]


def test_garbage_never_crashes_the_server(client):
    payloads = [b"", b"null", b"[]", b'"x"', b"{}", b'{"items": 5}', b'{"task": 1, "images": [1]}', b"\x00" * 64,
                b'{"task": "seetrue", "text": 5, "images": ["' + RED.encode() + b'"]}', b"[" * 100_000,
                b'{"items": [' + b"[" * 50_000 + b"]}"]
    for path in ("/v1/judge", "/v1/judge/batch"):
        for payload in payloads:
            r = client.post(path, content=payload, headers={"Content-Type": "application/json"})
            assert 400 <= r.status_code < 500, (path, payload, r.status_code)
    assert client.get("/health").status_code == 200


def test_api_key_is_required_except_for_health(tiny_judge):
    with TestClient(create_app(tiny_judge, api_key="s3cret")) as c:
        body = {"task": "agin-nat", "images": [RED]}
        assert c.post("/v1/judge", json=body).status_code == 401
        assert c.post("/v1/judge", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/v1/judge", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/v1/tasks").status_code == 401 and c.get("/metrics").status_code == 401
        assert c.post("/v1/judge/batch", json={"items": [body]}).status_code == 401
        r = c.post("/v1/judge", json=body)
        assert r.headers.get("www-authenticate") == "Bearer" and "API key" in r.json()["detail"]
        assert c.post("/v1/judge", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.post("/v1/judge", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/health").status_code == 200
    from mtrl_judge import JudgeError

    with pytest.raises(JudgeError, match="api_key is empty"):
        create_app(tiny_judge, api_key=" ")


def test_api_key_env(monkeypatch):
    from mtrl_judge import JudgeError

    assert read_api_key(None) is None
    monkeypatch.setenv("MTRL_TEST_KEY", " k3y ")
    assert read_api_key("MTRL_TEST_KEY") == "k3y"
    monkeypatch.setenv("MTRL_TEST_KEY", "")
    with pytest.raises(JudgeError, match="MTRL_TEST_KEY"):
        read_api_key("MTRL_TEST_KEY")


def test_serve_refuses_bad_settings_before_loading_the_model(tmp_path, tiny_model_dir, monkeypatch):
    from mtrl_judge import JudgeError
    from mtrl_judge.serve import serve

    monkeypatch.delenv("MTRL_TEST_UNSET_KEY", raising=False)
    with pytest.raises(JudgeError, match="MTRL_TEST_UNSET_KEY"):
        serve(tiny_model_dir, api_key_env="MTRL_TEST_UNSET_KEY")
    with pytest.raises(JudgeError, match="model folder not found"):
        serve(tmp_path / "missing")
    with pytest.raises(JudgeError, match="max_text_chars"):
        serve(tiny_model_dir, max_text_chars=0)


def test_serve_options_carry_the_limits(tiny_model_dir, capsys):
    import argparse

    from mtrl_judge.serve.__main__ import main
    from mtrl_judge.serve.limits import add_limit_arguments, limits_from_args

    parser = argparse.ArgumentParser()
    add_limit_arguments(parser)
    args = parser.parse_args(["--max-queue-pixels", "1000", "--batch-timeout-s", "2.5", "--limit-concurrency", "8",
                              "--max-text-chars", "100"])
    limits = limits_from_args(args)
    assert (limits.max_queue_pixels, limits.batch_timeout_s, limits.limit_concurrency) == (1000, 2.5, 8)
    assert args.max_text_chars == 100 and limits.body_timeout_s == ServiceLimits().body_timeout_s
    assert main(["--model", str(tiny_model_dir), "--body-timeout-s", "0"]) == 2  # before the model loads
    assert "body_timeout_s must be a positive number" in capsys.readouterr().err


def test_model_failure_is_500_for_that_item_and_the_server_keeps_serving():
    judge = FakeJudge(fail_on="explode")
    with TestClient(create_app(judge, max_wait_ms=50), raise_server_exceptions=False) as c:
        items = [{"task": "seetrue", "text": t, "images": [RED]} for t in ("fine", "explode", "also fine")]
        results = c.post("/v1/judge/batch", json={"items": items}).json()["results"]
        assert [x["status"] for x in results] == [200, 500, 200]
        assert c.post("/v1/judge", json=items[1]).status_code == 500
        assert c.post("/v1/judge", json=items[0]).status_code == 200
        assert c.get("/health").status_code == 200


def test_a_40kB_text_is_413_at_once_without_reaching_the_model(client):
    batcher = client.app.state.batcher
    before = batcher.stats.items
    start = time.monotonic()
    r = client.post("/v1/judge", json={"task": "seetrue", "text": "a" * 40_000, "images": [RED]})
    assert r.status_code == 413 and "max_text_chars" in r.json()["detail"]
    upload = [("images", ("r.png", png(), "image/png"))]
    r = client.post("/v1/judge", data={"task": "seetrue", "text": "a" * 40_000}, files=upload)
    assert r.status_code == 413
    r = client.post("/v1/judge/batch", json={"items": [{"task": "seetrue", "text": "a" * 40_000, "images": [RED]}]})
    assert r.json()["results"][0]["status"] == 413
    assert time.monotonic() - start < 3.0  # the issue: 45 s of the model's time
    assert batcher.stats.items == before


def test_a_text_over_the_token_bound_is_413(tiny_judge):
    few_tokens = Judge(tiny_judge.model, tiny_judge.processor, max_new_tokens=4, max_text_tokens=5, name="few")
    with TestClient(create_app(few_tokens)) as c:
        r = c.post("/v1/judge", json={"task": "seetrue", "text": "a red circle on a white square " * 4, "images": [RED]})
        assert r.status_code == 413 and "max_text_tokens" in r.json()["detail"]
        assert c.app.state.batcher.stats.items == 0


def _png_b64(size):
    return b64(png(size=size))


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b'{"task": "seetrue", "text": "x", "images": [], "n": ' + b"1" * 100_000 + b"}", 422, "malformed JSON"),
        (b'{"items": [' + b"9" * 100_000 + b"]}", 422, "malformed JSON"),
        (b'{"task": "seetrue", "text": "a \\ud800 b", "images": ["' + RED.encode() + b'"]}', 422, "not valid Unicode"),
        (json.dumps({"task": "seetrue", "text": "x", "images": [_png_b64((201, 1))]}).encode(), 400, "aspect ratio"),
        (json.dumps({"task": "seetrue", "text": "x", "images": [_png_b64((1, 201))]}).encode(), 400, "aspect ratio"),
    ],
)
def test_hostile_inputs_are_4xx_with_one_line(client, body, status, fragment):
    path = "/v1/judge/batch" if body.startswith(b'{"items"') else "/v1/judge"
    r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert fragment in detail and "\n" not in detail and len(detail) < 300


def test_batch_items_with_lone_surrogates_fail_alone(client):
    body = ('{"items": [{"task": "seetrue", "text": "\\udfff", "images": ["%s"]},'
            ' {"task": "agin-nat", "images": ["%s"], "id": "\\ud800"},'
            ' {"task": "agin-nat", "images": ["%s"], "id": "fine"}]}' % (RED, RED, RED))
    r = client.post("/v1/judge/batch", content=body.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [422, 422, 200]
    assert "not valid Unicode" in results[0]["error"] and "field 'id'" in results[1]["error"]


@pytest.mark.parametrize(("error", "status"), [(RequestTooLargeError("too long for the model"), 413),
                                                (JudgeError("the model refused it"), 400)])
def test_a_judge_error_inside_the_batcher_gets_its_class_status(error, status):
    judge = FakeJudge(fail_on="bad", error=error)
    with TestClient(create_app(judge, max_wait_ms=50), raise_server_exceptions=False) as c:
        r = c.post("/v1/judge", json={"task": "seetrue", "text": "bad", "images": [RED]})
        assert r.status_code == status and r.json()["detail"] == str(error)
        items = [{"task": "seetrue", "text": t, "images": [RED]} for t in ("fine", "bad")]
        results = c.post("/v1/judge/batch", json={"items": items}).json()["results"]
        assert [x["status"] for x in results] == [200, status]


def test_a_batch_over_the_time_limit_is_504_and_health_says_stuck_until_it_returns():
    judge = FakeJudge(delay_s=1.5)
    with TestClient(create_app(judge, max_wait_ms=0, limits=ServiceLimits(batch_timeout_s=0.3))) as c:
        start = time.monotonic()
        r = c.post("/v1/judge", json={"task": "agin-nat", "images": [RED]})
        assert r.status_code == 504 and "batch_timeout_s" in r.json()["detail"]
        assert time.monotonic() - start < 1.4  # answered at the limit, while the model still runs
        health = c.get("/health")
        assert health.status_code == 503
        body = health.json()
        assert body["worker"] == "stuck" and body["status"] == "unavailable" and body["batch_seconds"] >= 0.3
        r = c.post("/v1/judge", json={"task": "agin-nat", "images": [RED]})
        assert r.status_code == 503 and "stuck" in r.json()["detail"]
        deadline = time.monotonic() + 10
        while c.get("/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/health").json()["worker"] == "idle"
        judge.delay_s = 0.0
        assert c.post("/v1/judge", json={"task": "agin-nat", "images": [RED]}).status_code == 200
        assert "mtrl_judge_batch_timeouts_total 1.0" in c.get("/metrics").text


def test_the_queue_in_pixels_sheds_load_with_503():
    judge = FakeJudge(delay_s=0.5)
    limits = ServiceLimits(max_queue_pixels=3000)  # 48 x 48 = 2304 pixels an image
    with TestClient(create_app(judge, max_wait_ms=0, limits=limits)) as c:
        body = {"items": [{"task": "agin-nat", "images": [RED]}] * 3}
        results = c.post("/v1/judge/batch", json=body).json()["results"]
        statuses = sorted(x["status"] for x in results)
        assert statuses[0] == 200 and statuses[-1] == 503, statuses
        refused = next(x for x in results if x["status"] == 503)
        assert "max_queue_pixels" in refused["error"] and "\n" not in refused["error"]
        assert c.app.state.batcher.held_pixels == 0


def test_each_app_counts_its_own_metrics():
    with TestClient(create_app(FakeJudge())) as one, TestClient(create_app(FakeJudge())) as two:
        assert one.post("/v1/judge", json={"task": "agin-nat", "images": [RED]}).status_code == 200
        series = 'mtrl_judge_requests_total{endpoint="/v1/judge",status="200"}'
        assert f"{series} 1.0" in one.get("/metrics").text
        text = two.get("/metrics").text
        assert series not in text and "mtrl_judge_queued_pixels 0.0" in text and "mtrl_judge_in_flight_requests 1.0" in text


# -- a live server on 127.0.0.1 ----------------------------------------------------------------


def test_concurrent_requests_are_batched_on_a_live_server(tiny_judge):
    app = create_app(tiny_judge, max_batch_size=8, max_wait_ms=200)
    with background_server(app) as url:
        client = JudgeClient(url, timeout=60)
        with ThreadPoolExecutor(8) as pool:
            verdicts = list(pool.map(lambda i: client.judge("agin-nat", [png(("red", "blue")[i % 2])]), range(8)))
        assert all(v["task"] == "agin-nat" for v in verdicts)
        stats = app.state.batcher.stats
        assert stats.items == 8 and stats.max_batch_size_seen > 1 and stats.batches < 8
        text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
        assert "mtrl_judge_items_judged_total 8" in text


def test_streamed_body_over_the_limit_is_413_on_a_live_server(tiny_judge):
    import httpx

    with background_server(create_app(tiny_judge, limits=ServiceLimits(max_body_bytes=64 * 1024))) as url:
        def chunks():
            for _ in range(32):
                yield b"x" * 8192

        r = httpx.post(url + "/v1/judge", content=chunks(), headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 413
        assert httpx.get(url + "/health", timeout=10).status_code == 200


def test_python_client_against_a_live_server(tiny_judge, image_files):
    with background_server(create_app(tiny_judge, api_key="k")) as url:
        client = JudgeClient(url, api_key="k", timeout=60)
        assert client.health()["status"] == "ok"
        assert {t["name"] for t in client.tasks()} >= {"seetrue", "mjbench-alignment"}
        v = client.judge("seetrue", [image_files["red"]], text="a red circle")  # a path
        assert v["task"] == "seetrue" and v["model"] == tiny_judge.name
        v = client.judge("mjbench-alignment", [png("red"), Image.new("RGB", (32, 32), "blue")], text="red")  # bytes and PIL
        assert v["choice"] in (None, "1", "2")
        out = client.judge_batch([{"task": "agin-nat", "images": [image_files["blue"]], "id": "a"},
                                  {"task": "nope", "images": [image_files["blue"]]}])
        assert out["n_ok"] == 1 and out["results"][0]["id"] == "a" and out["results"][1]["status"] == 404
        with pytest.raises(JudgeServiceError) as e:
            client.judge("nope", [image_files["red"]])
        assert e.value.status == 404 and "known tasks" in e.value.detail
        with pytest.raises(JudgeServiceError) as e:
            JudgeClient(url).tasks()
        assert e.value.status == 401
    with pytest.raises(JudgeServiceError) as e:  # the server is gone
        JudgeClient(url, timeout=5).health()
    assert e.value.status == 0


def test_graceful_shutdown_finishes_requests_in_flight():
    judge = FakeJudge(delay_s=0.6)
    app = create_app(judge, max_wait_ms=0)
    results = []
    with background_server(app) as url:
        client = JudgeClient(url, timeout=30)
        worker = threading.Thread(target=lambda: results.append(client.judge("agin-nat", [png()])))
        worker.start()
        deadline = time.monotonic() + 10
        while not judge.calls and time.monotonic() < deadline:  # the request is inside the model
            time.sleep(0.01)
        assert judge.calls
    worker.join(timeout=30)  # leaving the block shut the server down while the request ran
    assert results and results[0]["choice"] == "yes"
    assert not app.state.batcher.running


def _raw_request(url: str, data: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(data)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        sock.close()
    return received


def test_half_sent_bodies_and_headers_time_out_while_others_are_served():
    app = create_app(FakeJudge(), max_wait_ms=0, limits=ServiceLimits(body_timeout_s=0.5, header_timeout_s=0.5))
    with background_server(app) as url:
        start = time.monotonic()
        half_body = _raw_request(url, b"POST /v1/judge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                      b"Content-Length: 1000\r\n\r\n" + b'{"task": "agin-nat", "images": [')
        half_headers = _raw_request(url, b"POST /v1/judge HTTP/1.1\r\nHost: x\r\nContent-Le")
        idle = _raw_request(url, b"")
        verdict = JudgeClient(url, timeout=10).judge("agin-nat", [png()])  # answered beside them
        assert verdict["choice"] == "yes"
        body_answer, header_answer, idle_answer = (_read_until_closed(s) for s in (half_body, half_headers, idle))
        assert time.monotonic() - start < 5.0  # closed by the server, not by our 10 s socket timeout
        assert body_answer.startswith(b"HTTP/1.1 408") and b"body_timeout_s" in body_answer
        assert header_answer.startswith(b"HTTP/1.1 408") and b"header_timeout_s" in header_answer
        assert idle_answer == b""  # nothing was asked: just closed
        endless_headers = _raw_request(url, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000)
        assert _read_until_closed(endless_headers).startswith(b"HTTP/1.1 400")  # past max_header_bytes (16 KiB), at once
        assert JudgeClient(url, timeout=10).health()["status"] == "ok"


def test_connections_over_limit_concurrency_get_503():
    with background_server(create_app(FakeJudge(), limits=ServiceLimits(limit_concurrency=3))) as url:
        idle = [_raw_request(url, b"") for _ in range(2)]
        time.sleep(0.1)
        with pytest.raises(JudgeServiceError) as e:
            JudgeClient(url, timeout=10).health()
        assert e.value.status == 503
        for sock in idle:
            sock.close()
        time.sleep(0.1)
        assert JudgeClient(url, timeout=10).health()["status"] == "ok"


# -- the OpenAI-compatible (vLLM) path, against a fake endpoint ---------------------------------


def test_judge_via_openai_builds_our_prompt_and_parses_with_the_shared_parser(image_files):
    seen = []
    fake = FastAPI()

    @fake.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        seen.append(body)
        answer = "<think>the circle is red</think><answer> YES </answer>"
        return {"choices": [{"message": {"role": "assistant", "content": answer}}]}

    with background_server(fake) as url:
        verdict = judge_via_openai(url, "judge", "seetrue", [image_files["red"]], "a red circle", api_key="k")
        assert verdict.choice == "yes" and verdict.valid and verdict.task == "seetrue"
        assert verdict.reasoning == "the circle is red"
        pair = OpenAICompatibleJudge(url + "/v1", "judge").judge("mjbench-alignment", [png("red"), png("blue")], "red")
        assert pair.choice is None and not pair.valid  # "YES" is not a pairwise choice
    body = seen[0]
    assert body["model"] == "judge" and body["temperature"] == 0.0
    content = body["messages"][0]["content"]
    assert content[0]["type"] == "image_url" and content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "a red circle" in content[-1]["text"] and "Does the text accurately describe the image?" in content[-1]["text"]
    pair_content = seen[1]["messages"][0]["content"]
    assert [p["type"] for p in pair_content] == ["text", "image_url", "text", "image_url", "text"]
    assert json.dumps(seen)  # plain JSON, nothing but base64 inside
