"""Running the app: `serve` (blocking, for the CLI) and `background_server` (tests, benchmarks).

Both run uvicorn with the connection-side limits of ServiceLimits: at most `limit_concurrency`
connections and requests, idle keep-alive connections closed after `timeout_keep_alive_s`,
headers bounded in size (`max_header_bytes`) and in time (`header_timeout_s`). uvicorn has no
header read timeout of its own: a client that opens a connection and sends half a request line
would hold it (and a slot of `limit_concurrency`) forever, so `_H11WithHeaderTimeout` adds one.
The body's size and time limits are the app's (middleware.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..data.images import DEFAULT_MAX_PIXELS
from ..devices import resolve_device_and_dtype
from ..errors import JudgeError
from ..requests import DEFAULT_MAX_TEXT_CHARS, RequestLimits
from .app import create_app
from .limits import DEFAULT_LIMITS, ServiceLimits

logger = logging.getLogger(__name__)


class _H11WithHeaderTimeout(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers take over `header_timeout_s`.

    The timer runs while the client owes us a request's headers: from the connection's start,
    and from the first bytes of each next request on a kept-alive connection (an idle kept-alive
    connection is closed by uvicorn's own keep-alive timeout). h11 stays in state IDLE until it
    has a whole request line and headers. Relies on uvicorn 0.54's H11Protocol (`conn`,
    `transport`, `loop`), pinned in pyproject.toml."""

    header_timeout_s: float = 10.0  # set per server by `_protocol_class`

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._start_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # bytes of a request whose headers are not all here
            self._start_header_timer()
        else:
            self._stop_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_timed_out)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:  # half a request: say why before closing
            body = json.dumps({"detail": f"request headers not received within {self.header_timeout_s:g} s (header_timeout_s)"})
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                + f"content-length: {len(body)}\r\n\r\n{body}".encode()
            )
        self.transport.close()


def _protocol_class(header_timeout_s: float) -> type[H11Protocol]:
    return type("H11WithHeaderTimeout", (_H11WithHeaderTimeout,), {"header_timeout_s": header_timeout_s})


def _uvicorn_config(app, host: str, port: int, limits: ServiceLimits, **kwargs):
    """A uvicorn.Config carrying the connection-side limits (the only place they are set)."""
    return uvicorn.Config(app, host=host, port=port, http=_protocol_class(limits.header_timeout_s),
                          limit_concurrency=limits.limit_concurrency, timeout_keep_alive=limits.timeout_keep_alive_s,
                          h11_max_incomplete_event_size=limits.max_header_bytes, server_header=False, **kwargs)


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
    style: str | None = None,  # None: the checkpoint's own (judge_config.json), else reason
    max_new_tokens: int = 128,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    max_text_tokens: int | None = None,
    max_batch_size: int = 16,
    max_wait_ms: float = 10.0,
    limits: ServiceLimits = DEFAULT_LIMITS,
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
    CUDA GPU in bfloat16 when there is one, else the CPU in float32). `limits`: the service's
    bounds (serve/limits.py); `max_pixels`, `max_text_chars` and `max_text_tokens` (None: half the
    model's context) are the judge's per-request bounds (docs/limits.md#the-http-service).
    """
    from ..judge import Judge
    from ..tasks import register_tasks_from_yaml

    api_key = read_api_key(api_key_env)  # fail before the (slow) model load
    if not isinstance(limits, ServiceLimits):
        raise JudgeError(f"limits must be a ServiceLimits, got {type(limits).__name__}")
    RequestLimits(max_text_chars=max_text_chars, max_pixels=max_pixels)  # checks both, before the model loads
    if max_text_tokens is not None and max_text_tokens < 1:
        raise JudgeError(f"max_text_tokens must be positive, got {max_text_tokens}")
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
                                  batch_size=max_batch_size, max_pixels=max_pixels, max_text_chars=max_text_chars,
                                  max_text_tokens=max_text_tokens, fit_images=True)
    app = create_app(judge, api_key=api_key, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, limits=limits)
    # Keep the caller's logging (the CLI's) when there is one; else uvicorn's default setup.
    log_config = None if logging.getLogger().handlers else uvicorn.config.LOGGING_CONFIG
    config = _uvicorn_config(app, host, port, limits, log_level=log_level, log_config=log_config,
                             timeout_graceful_shutdown=graceful_timeout_s)
    logger.info("serving %s on http://%s:%d (docs at /docs), model on %s", judge.name, host, port, judge.device)
    uvicorn.Server(config).run()


@contextmanager
def background_server(
    app, host: str = "127.0.0.1", *, limits: ServiceLimits | None = None, start_timeout_s: float = 30.0,
    log_level: str = "warning"
) -> Iterator[str]:
    """Run `app` with uvicorn in a thread on a free port of `host`; yields the base URL.

    For tests and benchmarks: the socket is bound before the server starts (no port race), and
    leaving the block shuts the server down gracefully (lifespan shutdown included). `limits`:
    the connection-side limits, by default the app's own (`app.state.limits`) if it has them."""
    limits = limits or getattr(getattr(app, "state", None), "limits", None) or ServiceLimits()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = _uvicorn_config(app, host, port, limits, log_level=log_level, log_config=None, access_log=False,
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
