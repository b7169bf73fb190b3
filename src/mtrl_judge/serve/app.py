"""The judge service: a FastAPI app around one Judge, with micro-batching, auth and metrics.

    from mtrl_judge import Judge
    from mtrl_judge.serve import create_app
    app = create_app(Judge.from_pretrained("runs/mt-rl-judge/best"), api_key="secret")

Endpoints (docs at /docs): POST /v1/judge (JSON with base64 images, or multipart upload),
POST /v1/judge/batch, GET /v1/tasks, GET /health, GET /metrics. See docs/serving.md.

Request handling never blocks the event loop: images are decoded in the thread pool and the model
runs in the batcher's own worker thread. Every client mistake is a 4xx with a one-line `detail`;
anything unexpected is logged and answered 500, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ..errors import JudgeError
from ..judge import Judge, JudgeRequest
from ..prompts import Verdict
from ..tasks import list_tasks
from .batcher import BatcherClosed, BatcherFull, BatchTimeout, MicroBatcher
from .inputs import ServeError, as_serve_error, build_request, build_request_from_json, check_task, validation_reason
from .limits import DEFAULT_LIMITS, ServiceLimits
from .metrics import ServiceMetrics
from .middleware import BodyLimitMiddleware, MetricsMiddleware
from .schemas import BatchIn, BatchItemOut, BatchOut, ErrorOut, HealthOut, JudgeItem, TaskOut, TasksOut, VerdictOut

logger = logging.getLogger(__name__)

_ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 404, 408, 413, 422, 503, 504)}
_JSON_CONTENT = ("", "application/json")
# Module level: FastAPI resolves the (string) annotations of dependencies in module globals.
_BEARER = HTTPBearer(auto_error=False, description="Authorization: Bearer KEY")
_HEADER_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: KEY")


def _json_body_schema(model) -> dict:
    return {"application/json": {"schema": model.model_json_schema(ref_template="#/components/schemas/{model}")}}


def _judge_body_doc() -> dict:
    content = _json_body_schema(JudgeItem)
    content["multipart/form-data"] = {
        "schema": {
            "type": "object",
            "required": ["task", "images"],
            "properties": {
                "task": {"type": "string"},
                "text": {"type": "string"},
                "images": {"type": "array", "items": {"type": "string", "format": "binary"},
                           "description": "one or two image files"},
            },
        }
    }
    return {"requestBody": {"required": True, "content": content}}


def _batch_body_doc() -> dict:
    schema = BatchIn.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    doc = {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
    return doc, defs


async def _read_json(request: Request) -> Any:
    """The request body as JSON; malformed JSON is a 422 (like FastAPI's own body parsing)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in _JSON_CONTENT and not ctype.endswith("+json"):
        raise ServeError(415, f"unsupported content type {ctype!r}; send application/json (or multipart/form-data to /v1/judge)")
    body = await request.body()
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ServeError(422, f"malformed JSON body: {e}") from None
    except RecursionError:
        raise ServeError(422, "malformed JSON body: nested too deeply") from None
    except ValueError as e:  # Python's int conversion limit: a number of thousands of digits
        raise ServeError(422, f"malformed JSON body: {str(e).split(';')[0]}") from None


def _verdict_out(verdict: Verdict, model: str, start: float) -> VerdictOut:
    return VerdictOut(task=verdict.task, choice=verdict.choice, score=verdict.score, valid=verdict.valid,
                      reasoning=verdict.reasoning, completion=verdict.completion, model=model,
                      latency_ms=round((time.perf_counter() - start) * 1000, 2))


def _encodable(text: str) -> bool:
    """Whether `text` encodes as UTF-8 (JSON may carry lone surrogates, which cannot be written back)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _pixels(request: JudgeRequest) -> int:
    """Decoded pixels a prepared request holds (its images are PIL images by then)."""
    return sum(getattr(image, "width", 0) * getattr(image, "height", 0) for image in request.images)


def create_app(
    judge: Judge,
    *,
    api_key: str | None = None,
    max_batch_size: int = 16,
    max_wait_ms: float = 10.0,
    limits: ServiceLimits = DEFAULT_LIMITS,
    drain_timeout_s: float = 120.0,
) -> FastAPI:
    """A FastAPI app serving `judge`.

    Args:
        judge: the loaded judge; its `max_pixels` is the per-image pixel limit.
        api_key: when set, every endpoint but /health and the docs needs it, as
            `Authorization: Bearer KEY` or `X-API-Key: KEY`; otherwise 401.
        max_batch_size, max_wait_ms: micro-batching (see batcher.py).
        limits: body size and time, items per batch request, the queue (items and decoded
            pixels) and the time limit per model batch (serve/limits.py); the connection-side
            ones (headers, concurrency, keep-alive) are the ASGI server's, see `serve`.
        drain_timeout_s: on shutdown, how long to keep judging requests already queued.
    """
    if api_key is not None and not api_key.strip():
        raise JudgeError("api_key is empty: pass None for an open server, or a real key")

    def run_batch(requests: list[JudgeRequest]) -> list[Verdict]:
        return judge.judge_many(requests)

    try:
        batcher = MicroBatcher(run_batch, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
                               max_queue_size=limits.max_queue_size, max_queue_pixels=limits.max_queue_pixels,
                               batch_timeout_s=limits.batch_timeout_s)
    except ValueError as e:
        raise JudgeError(str(e)) from None
    max_items_per_batch = limits.max_items_per_batch
    metrics = ServiceMetrics(batcher)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        logger.info("judge %r ready (batches of up to %d, wait %.0f ms)", judge.name, max_batch_size, max_wait_ms)
        try:
            yield
        finally:
            # uvicorn calls this after the requests in flight have finished (SIGTERM); draining
            # here answers anything still queued before the worker thread goes.
            await batcher.stop(timeout=drain_timeout_s)
            logger.info("judge %r stopped", judge.name)

    app = FastAPI(
        title="mtrl-judge",
        summary="A multimodal LLM judge: alignment, safety and quality verdicts for images.",
        version="0.1.0",
        lifespan=lifespan,
        responses=_ERRORS,
    )
    app.state.judge = judge
    app.state.batcher = batcher
    app.state.metrics = metrics
    app.state.limits = limits

    async def require_key(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
        key: Annotated[str | None, Security(_HEADER_KEY)],
    ) -> None:
        given = [c for c in ((credentials.credentials if credentials else None), key) if c]
        if not any(hmac.compare_digest(c.encode(), api_key.encode()) for c in given):  # type: ignore[union-attr]
            raise HTTPException(401, "missing or wrong API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                                headers={"WWW-Authenticate": "Bearer"})

    router = APIRouter(dependencies=[Depends(require_key)] if api_key else [])

    @app.exception_handler(ServeError)
    async def _serve_error(request: Request, exc: ServeError) -> JSONResponse:
        return JSONResponse({"detail": exc.reason}, status_code=exc.status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; see the server log"}, status_code=500)

    async def judge_prepared(request: JudgeRequest) -> Verdict:
        """Through the batcher; maps its refusals and model failures to HTTP statuses."""
        try:
            return await batcher.submit(request, pixels=_pixels(request))
        except (BatcherFull, BatcherClosed) as e:
            raise ServeError(503, str(e)) from None
        except BatchTimeout as e:
            raise ServeError(504, str(e)) from None
        except JudgeError as e:
            raise as_serve_error(e) from None
        except Exception:
            logger.exception("the model failed on a %s request", request.task)
            raise ServeError(500, "internal error while judging; see the server log") from None

    async def read_multipart(request: Request) -> JudgeRequest:
        async with request.form(max_files=8, max_fields=16) as form:
            task, text = form.get("task"), form.get("text")
            if isinstance(task, UploadFile) or isinstance(text, UploadFile):
                raise ServeError(422, "fields 'task' and 'text' must be plain form fields, not files")
            uploads = form.getlist("images") + form.getlist("image")
            if any(not isinstance(u, UploadFile) for u in uploads):
                raise ServeError(400, "field 'images' must be file uploads (for base64 strings, POST JSON instead)")
            check_task(task, len(uploads), text or None, judge.limits)  # before reading any file
            blobs = [await u.read() for u in uploads]
        return await run_in_threadpool(build_request, judge, task, text or None, blobs)

    @router.post(
        "/v1/judge",
        response_model=VerdictOut,
        summary="Judge one example",
        description="JSON body {task, text, images: [base64]} or a multipart form with fields task, text and one or two "
        "`images` files. Errors: 400 bad image, 404 unknown task, 413 body or text too large, 422 wrong image count, "
        "missing text or bad JSON.",
        openapi_extra=_judge_body_doc(),
    )
    async def judge_one(request: Request) -> VerdictOut:
        start = time.perf_counter()
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "multipart/form-data":
            prepared = await read_multipart(request)
        else:
            payload = await _read_json(request)
            try:
                item = JudgeItem.model_validate(payload)
            except ValidationError as e:
                raise ServeError(422, validation_reason(e)) from None
            prepared = await run_in_threadpool(build_request_from_json, judge, item.model_dump())
        verdict = await judge_prepared(prepared)
        return _verdict_out(verdict, judge.name, start)

    batch_doc, batch_defs = _batch_body_doc()

    @router.post(
        "/v1/judge/batch",
        response_model=BatchOut,
        summary="Judge many examples",
        description=f"Up to {max_items_per_batch} items. Each item is validated and judged on its own: a bad item gets "
        "ok=false with its status and error, the others are judged.",
        openapi_extra=batch_doc,
    )
    async def judge_batch(request: Request) -> BatchOut:
        start = time.perf_counter()
        payload = await _read_json(request)
        if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
            raise ServeError(422, "expected a JSON object with a list under 'items'")
        items = payload["items"]
        if not items:
            raise ServeError(422, "field 'items' is empty")
        if len(items) > max_items_per_batch:
            raise ServeError(422, f"field 'items' has {len(items)} items; "
                                  f"at most {max_items_per_batch} per request (max_items_per_batch)")

        async def one(index: int, raw: Any) -> BatchItemOut:
            where = f"items[{index}]"
            item_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
            item_start = time.perf_counter()
            if item_id is not None and not _encodable(item_id):  # echoed back, so it must encode as UTF-8
                return BatchItemOut(index=index, ok=False, status=422, error=f"{where}: field 'id' is not valid Unicode")
            try:
                try:
                    item = JudgeItem.model_validate(raw)
                except ValidationError as e:
                    raise ServeError(422, validation_reason(e, where)) from None
                prepared = await run_in_threadpool(build_request_from_json, judge, item.model_dump(), where=where)
                verdict = await judge_prepared(prepared)
            except ServeError as e:
                return BatchItemOut(index=index, id=item_id, ok=False, status=e.status, error=e.reason)
            result = _verdict_out(verdict, judge.name, item_start)
            return BatchItemOut(index=index, id=item_id, ok=True, status=200, result=result)

        results = await asyncio.gather(*(one(i, raw) for i, raw in enumerate(items)))
        n_ok = sum(r.ok for r in results)
        return BatchOut(results=results, n_ok=n_ok, n_failed=len(results) - n_ok, model=judge.name,
                        latency_ms=round((time.perf_counter() - start) * 1000, 2))

    @router.get("/v1/tasks", response_model=TasksOut, summary="The registered tasks, their criteria and choices")
    async def tasks() -> TasksOut:
        return TasksOut(tasks=[TaskOut(**t.to_dict(), choices=list(t.choices), num_images=t.num_images) for t in list_tasks()])

    @router.get("/metrics", response_class=Response, summary="Prometheus metrics (text format)")
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/health", response_model=HealthOut, summary="Liveness and readiness (never needs the API key)",
             responses={503: {"model": HealthOut}})
    async def health() -> JSONResponse:
        busy, stuck = batcher.busy_seconds, batcher.stuck_seconds
        if not batcher.running:
            worker = "stopped"
        else:
            worker = "stuck" if stuck is not None else "busy" if busy is not None else "idle"
        ok = worker in ("idle", "busy")
        body = HealthOut(status="ok" if ok else "unavailable", model=judge.name, queue_depth=batcher.queue_depth,
                         worker=worker, batch_seconds=None if busy is None else round(busy, 3))
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    app.include_router(router)
    _add_schemas(app, batch_defs)
    known = {"/v1/judge", "/v1/judge/batch", "/v1/tasks", "/metrics", "/health", "/docs", "/redoc", "/openapi.json"}
    # Outermost first: metrics see every answer, including 413s from the size limit.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=limits.max_body_bytes, body_timeout_s=limits.body_timeout_s)
    app.add_middleware(MetricsMiddleware, metrics=metrics, known_paths=known)
    return app


def _add_schemas(app: FastAPI, defs: dict) -> None:
    """Put the models referenced by hand-written request bodies into the OpenAPI components."""
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in defs.items():
            components.setdefault(name, definition)
        components.setdefault("JudgeItem", JudgeItem.model_json_schema(ref_template="#/components/schemas/{model}"))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
