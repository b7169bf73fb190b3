"""Pure ASGI middleware: request-body size and time limits, and request metrics.

Why pure ASGI rather than Starlette's BaseHTTPMiddleware: the limits must act as the bytes arrive
(a chunked upload has no Content-Length to check; a client that sends half a body and stalls never
finishes it), which needs the `receive` channel, and plain ASGI adds no extra task per request.
"""

from __future__ import annotations

import asyncio
import time

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import ServiceMetrics


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the body passes the limit. An HTTPException, so that when it is
    raised inside an endpoint (reading the body) Starlette answers 413 like any other HTTP error."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {limit:,} bytes")


class BodyTimeout(HTTPException):
    """Raised from `receive` when the body has not all arrived in time (like BodyTooLarge: 408)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"request body not received within {seconds:g} s (body_timeout_s)", headers={"Connection": "close"})


class BodyLimitMiddleware:
    """413 for bodies over `max_body_bytes`: at once from Content-Length, else while streaming.
    408 when the whole body has not arrived `body_timeout_s` after the request's headers: a total
    deadline rather than one per read, so a client dripping a byte at a time cannot hold a
    connection (and its share of `limit_concurrency`) forever."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout_s: float | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await JSONResponse({"detail": "invalid Content-Length header"}, status_code=400)(scope, receive, send)
                return
            if length > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
        received = 0
        started = False
        body_done = False
        loop = asyncio.get_running_loop()
        deadline = None if self.body_timeout_s is None else loop.time() + self.body_timeout_s

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done or deadline is None:  # after the body, receive() waits for a disconnect: no deadline
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    raise BodyTimeout(self.body_timeout_s) from None  # type: ignore[arg-type]
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:  # raised outside an endpoint (e.g. in body parsing): answer here
                await self._too_large(scope, receive, send)
        except BodyTimeout as e:
            if not started:
                await JSONResponse({"detail": e.detail}, status_code=408, headers=e.headers)(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = {"detail": f"request body exceeds the limit of {self.max_body_bytes:,} bytes"}
        await JSONResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)


class MetricsMiddleware:
    """Counts every HTTP request by endpoint and status and records its latency.

    Endpoints are labelled by known route paths only (anything else is "other") so that a client
    probing random URLs cannot blow up the number of metric series."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, known_paths: set[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.known_paths = known_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.in_flight.dec()
            path = scope.get("path", "")
            endpoint = path if path in self.known_paths else "other"
            self.metrics.observe_request(endpoint, status, time.perf_counter() - start)
