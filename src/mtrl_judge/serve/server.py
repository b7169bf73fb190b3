"""Running the app: `serve` (blocking, for the CLI) and `background_server` (tests, benchmarks)."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..data.images import DEFAULT_MAX_PIXELS
from ..devices import resolve_device_and_dtype
from ..errors import JudgeError
from .app import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ITEMS_PER_BATCH, create_app

logger = logging.getLogger(__name__)


def read_api_key(api_key_env: str | None) -> str | None:
    """The API key from the named environment variable (never from the command line, where `ps`
    would show it). Naming a variable that is unset or empty is an error, not an open server."""
    if api_key_env is None:
        return None
    value = os.environ.get(api_key_env, "").strip()
    if not value:
        raise JudgeError(f"API key variable {api_key_env} is not set or empty; export it or leave out --api-key-env")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    model_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key_env: str | None = None,
    *,
    style: str = "reason",
    max_new_tokens: int = 128,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_batch_size: int = 16,
    max_wait_ms: float = 10.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_items_per_batch: int = DEFAULT_MAX_ITEMS_PER_BATCH,
    tasks_file: str | Path | None = None,
    device: str = "auto",
    dtype: str = "auto",
    graceful_timeout_s: int = 60,
    log_level: str = "info",
) -> None:
    """Load the judge in `model_dir` and serve it with uvicorn until SIGINT/SIGTERM.

    Binds to 127.0.0.1 unless told otherwise; serving on another address without an API key is
    allowed (behind a gateway that authenticates) but logged as a warning. On SIGTERM uvicorn stops
    accepting connections, lets requests in flight finish (up to `graceful_timeout_s`), then the
    app's lifespan drains the batcher. `device` and `dtype` follow mtrl_judge.devices ("auto": a
    CUDA GPU in bfloat16 when there is one, else the CPU in float32).
    """
    import uvicorn

    from ..judge import Judge
    from ..tasks import register_tasks_from_yaml

    api_key = read_api_key(api_key_env)  # fail before the (slow) model load
    resolve_device_and_dtype(device, dtype)  # likewise: a GPU that is not there fails now
    if not Path(model_dir).is_dir():
        raise JudgeError(f"{model_dir}: model folder not found")
    if not 0 <= port <= 65535:
        raise JudgeError(f"port {port} is out of range 0-65535")
    if tasks_file is not None:
        register_tasks_from_yaml(tasks_file)
    if not _is_loopback(host) and api_key is None:
        logger.warning("serving on %s without an API key: anyone who can reach it can use the judge (set --api-key-env)", host)
    judge = Judge.from_pretrained(model_dir, dtype=dtype, device=device, style=style, max_new_tokens=max_new_tokens,
                                  batch_size=max_batch_size, max_pixels=max_pixels)
    app = create_app(judge, api_key=api_key, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
                     max_body_bytes=max_body_bytes, max_items_per_batch=max_items_per_batch)
    # Keep the caller's logging (the CLI's) when there is one; else uvicorn's default setup.
    log_config = None if logging.getLogger().handlers else uvicorn.config.LOGGING_CONFIG
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, log_config=log_config,
                            timeout_graceful_shutdown=graceful_timeout_s, server_header=False)
    logger.info("serving %s on http://%s:%d (docs at /docs), model on %s", judge.name, host, port, judge.device)
    uvicorn.Server(config).run()


@contextmanager
def background_server(
    app, host: str = "127.0.0.1", *, start_timeout_s: float = 30.0, log_level: str = "warning"
) -> Iterator[str]:
    """Run `app` with uvicorn in a thread on a free port of `host`; yields the base URL.

    For tests and benchmarks: the socket is bound before the server starts (no port race), and
    leaving the block shuts the server down gracefully (lifespan shutdown included)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, log_config=None, access_log=False,
                            timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="mtrl-judge-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the judge server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
