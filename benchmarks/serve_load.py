"""Load test of the judge service on loopback: 1 client against 16 concurrent clients.

Starts `python -m mtrl_judge.serve` (the `small` preset unless --model is given) on 127.0.0.1 in a
subprocess, sends pointwise seetrue requests through JudgeClient from N client threads, and
reports throughput and p50/p99 latency for each N, the batch sizes the server used (from
/metrics), and throughput(16)/throughput(1) (the goal: at least 4x on 2 CPU cores, with
zero failed requests). Every phase is bounded in requests and seconds; the server is stopped
with SIGTERM at the end. Run:

    .venv/bin/python benchmarks/serve_load.py [--model DIR] [--max-new-tokens 48]
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from PIL import Image, ImageDraw

from mtrl_judge.client import JudgeClient, JudgeServiceError

COLOURS = ["red", "green", "blue", "yellow"]


def images(n: int) -> list[tuple[bytes, str]]:
    out = []
    for i in range(n):
        image = Image.new("RGB", (96, 96), (235, 235, 235))
        ImageDraw.Draw(image).ellipse((20 + i % 7, 20, 70, 70 + i % 5), fill=COLOURS[i % 4])
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append((buffer.getvalue(), f"a {COLOURS[(i // 4) % 4]} circle"))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(client: JudgeClient, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            client.health()
            return
        except JudgeServiceError:
            time.sleep(0.25)
    raise SystemExit("the server did not become healthy in time")


def phase(client: JudgeClient, examples, clients: int, requests: int, max_seconds: float) -> dict:
    """`clients` threads, each sending one request at a time, until `requests` are done or time is up."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    issued = 0
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        nonlocal issued
        while time.monotonic() < deadline:
            with lock:
                if issued >= requests:
                    return
                i = issued
                issued += 1
            image, text = examples[i % len(examples)]
            t = time.perf_counter()
            try:
                client.judge("seetrue", [image], text=text)
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    failures.append(f"{type(e).__name__}: {e}")
                continue
            with lock:
                latencies.append(time.perf_counter() - t)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return {"clients": clients, "done": len(latencies), "failed": len(failures), "wall_s": wall, "latencies": latencies,
            "errors": failures[:3]}


def percentile(sorted_seconds: list[float], q: float) -> float:
    """Nearest-rank percentile in milliseconds."""
    if not sorted_seconds:
        return float("nan")
    return sorted_seconds[min(len(sorted_seconds) - 1, max(0, math.ceil(q * len(sorted_seconds)) - 1))] * 1000


def batch_sizes(base_url: str) -> tuple[float, float]:
    """(batches, items) counters from /metrics."""
    text = urllib.request.urlopen(base_url + "/metrics", timeout=10).read().decode()  # noqa: S310 - loopback
    get = lambda name: float(re.search(rf"^mtrl_judge_{name} (\S+)$", text, re.M).group(1))  # noqa: E731
    return get("batches_total"), get("items_judged_total")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: build the small preset)")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--requests", type=int, default=None, 
                        help="requests per concurrency level (default: 24 for 1 client, 12 per client above)")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="time limit per concurrency level (all rounds)")
    parser.add_argument("--rounds", type=int, default=3, help="alternate the concurrency levels this many times")
    args = parser.parse_args()

    if args.model is None:
        from mtrl_judge.backbone import build_backbone

        args.model = build_backbone("small", Path(tempfile.mkdtemp()) / "small", seed=0)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mtrl_judge.serve", "--model", str(args.model), "--port", str(port),
               "--max-new-tokens", str(args.max_new_tokens), "--max-batch-size", str(args.max_batch_size),
               "--max-wait-ms", str(args.max_wait_ms), "--log-level", "warning"]
    load = os.getloadavg()[0]
    proc = subprocess.Popen(command, env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"})
    client = JudgeClient(base_url, timeout=120)
    results = []
    try:
        wait_healthy(client, proc, timeout_s=180)
        examples = images(64)
        phase(client, examples, clients=4, requests=8, max_seconds=60)  # warm-up
        # Alternate the levels over rounds, so that noise from other work on the machine is spread over all.
        merged: dict[int, dict] = {}
        for _ in range(args.rounds):
            for clients in args.concurrency:
                before = batch_sizes(base_url)
                n = (args.requests or (24 if clients == 1 else 12 * clients)) // args.rounds
                r = phase(client, examples, clients, max(1, n), args.max_seconds / args.rounds)
                after = batch_sizes(base_url)
                m = merged.setdefault(clients, {"clients": clients, "done": 0, "failed": 0, "wall_s": 0.0, "latencies": [],
                                                "errors": [], "batches": 0.0, "items": 0.0})
                for key in ("done", "failed", "wall_s", "latencies", "errors"):
                    m[key] += r[key]
                m["batches"] += after[0] - before[0]
                m["items"] += after[1] - before[1]
        for m in merged.values():
            lat = sorted(m.pop("latencies"))
            m["throughput"] = m["done"] / m["wall_s"]
            m["p50_ms"], m["p99_ms"] = percentile(lat, 0.50), percentile(lat, 0.99)
            m["mean_batch"] = m["items"] / max(1.0, m["batches"])
            results.append(m)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()

    print(f"model {args.model}, max_new_tokens {args.max_new_tokens}, max_batch_size {args.max_batch_size}, "
          f"max_wait_ms {args.max_wait_ms}, {os.cpu_count()} CPU(s), load average at start {load:.2f}")
    print(f"{'clients':>7} {'done':>5} {'failed':>6} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'mean batch':>10}")
    for r in results:
        print(f"{r['clients']:>7} {r['done']:>5} {r['failed']:>6} {r['throughput']:>7.2f} "
              f"{r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f} {r['mean_batch']:>10.1f}")
        for error in r["errors"]:
            print(f"        error: {error}")
    if len(results) >= 2 and results[0]["throughput"] > 0:
        print(f"throughput ratio ({results[-1]['clients']} clients / {results[0]['clients']} client): "
              f"{results[-1]['throughput'] / results[0]['throughput']:.2f}x")
    failed = sum(r["failed"] for r in results)
    print(f"failed requests: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
