"""Micro-batching: gather concurrent requests into batches for one model worker thread.

Why: a judge generates a batch of 16 nearly as fast as a batch of 1 on a CPU (and far more so on a
GPU), so a server that runs each request on its own wastes most of the model's throughput. The
batcher queues single items from many concurrent requests, hands them to the model in batches of
at most `max_batch_size`, and waits at most `max_wait_ms` after the first item of a batch for more
to arrive. While the model is busy, new items pile up in the queue and make up the next batch, so
batches grow with the load without a long fixed wait.

The model runs in one dedicated worker thread, off the event loop: the server keeps accepting,
decoding and answering requests while a batch generates, and the (not thread-safe) model never
runs two batches at once.

Bounds: the queue is bounded in items (`max_queue_size`) and in pixels (`max_queue_pixels`): a
few large images cost as much memory as thousands of small ones, so a count of items alone lets a
small batch of big images take gigabytes while it waits. A batch that runs longer than
`batch_timeout_s` fails its items with BatchTimeout at once; the worker thread cannot be
interrupted, so until that batch returns the batcher reports itself stuck and refuses new items.

    batcher = MicroBatcher(judge_fn, max_batch_size=16, max_wait_ms=10)
    await batcher.start()
    result = await batcher.submit(item, pixels=n)   # from many coroutines at once
    await batcher.stop()                             # drains: every submitted item is answered first
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

BatchFn = Callable[[Sequence[Any]], Sequence[Any]]


class BatcherClosed(RuntimeError):
    """The batcher is shutting down (or was never started) and takes no new items."""


class BatcherFull(RuntimeError):
    """The queue is full (items or pixels), or the worker is stuck: the caller should shed load (HTTP 503)."""


class BatchTimeout(RuntimeError):
    """The item's batch ran longer than `batch_timeout_s` (HTTP 504)."""


@dataclass
class BatcherStats:
    """Counters a /metrics endpoint and tests read; updated on the event loop only."""

    batches: int = 0
    items: int = 0
    failed_items: int = 0
    max_batch_size_seen: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)  # size -> number of batches of that size
    busy_seconds: float = 0.0  # time the model spent in batches
    timed_out_batches: int = 0  # batches that ran over batch_timeout_s

    def record(self, size: int, seconds: float) -> None:
        self.batches += 1
        self.items += size
        self.max_batch_size_seen = max(self.max_batch_size_seen, size)
        self.batch_sizes[size] = self.batch_sizes.get(size, 0) + 1
        self.busy_seconds += seconds

    @property
    def mean_batch_size(self) -> float:
        return self.items / self.batches if self.batches else 0.0


@dataclass
class _Pending:
    item: Any
    future: asyncio.Future
    pixels: int = 0


_STOP = object()


class MicroBatcher:
    """Batches items submitted from concurrent coroutines and runs `fn` on them in a worker thread.

    Args:
        fn: called with a list of items (at most `max_batch_size`), returns one result per item in
            order. A result that is an Exception instance fails only that item. If `fn` raises for
            a whole batch, each item of it is retried alone so that one poisonous item cannot fail
            its neighbours.
        max_batch_size: the most items per call of `fn`.
        max_wait_ms: how long to wait after the first item of a batch for more to arrive.
        max_queue_size: items waiting beyond this are refused with BatcherFull (load shedding).
        max_queue_pixels: pixels (as given to `submit`) held by items not yet answered, queued or
            in the running batch; an item that would go over is refused with BatcherFull, unless
            nothing is held (so one item is always admitted, however large). None: no bound.
        batch_timeout_s: a batch running longer fails its items with BatchTimeout; until it
            returns, `stuck_seconds` is set and new items are refused with BatcherFull. None: no limit.
        name: the worker thread's name, for logs and debuggers.
    """

    def __init__(
        self,
        fn: BatchFn,
        *,
        max_batch_size: int = 16,
        max_wait_ms: float = 10.0,
        max_queue_size: int = 1024,
        max_queue_pixels: int | None = None,
        batch_timeout_s: float | None = None,
        name: str = "mtrl-judge-model",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        if max_queue_size < 1:
            raise ValueError("max_queue_size must be at least 1")
        if max_queue_pixels is not None and max_queue_pixels < 1:
            raise ValueError("max_queue_pixels must be at least 1 (or None for no bound)")
        if batch_timeout_s is not None and not batch_timeout_s > 0:  # also refuses NaN
            raise ValueError("batch_timeout_s must be positive (or None for no limit)")
        self.fn = fn
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue_size = max_queue_size
        self.max_queue_pixels = max_queue_pixels
        self.batch_timeout_s = batch_timeout_s
        self.name = name
        self.stats = BatcherStats()
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self._current: list[_Pending] = []
        self._held_pixels = 0
        self._call_started: float | None = None  # monotonic time the running worker call began

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    async def start(self) -> None:
        """Start the collecting task on the running event loop (idempotent)."""
        if self._task is not None and not self._task.done():
            return
        self._closing = False
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"{self.name}-batcher")

    async def stop(self, timeout: float | None = None) -> None:
        """Refuse new items, answer every item already submitted, then stop the worker thread.

        Items are answered in order; `timeout` (seconds) bounds the wait, after which items still
        queued fail with BatcherClosed."""
        if self._task is None:
            return
        self._closing = True
        assert self._queue is not None
        self._queue.put_nowait(_STOP)  # behind every item already queued: they drain first
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            logger.warning("batcher did not drain within %.1f s; failing %d queued item(s)", timeout, self.queue_depth)
            self._task.cancel()
            self._fail_queued(BatcherClosed("the server is shutting down"))
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
            self._task = None
            self._executor = None

    # -- use ---------------------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        """Items waiting for a batch (not counting the batch that is running)."""
        return max(0, self._queue.qsize()) if self._queue is not None else 0

    @property
    def held_pixels(self) -> int:
        """Pixels of the items submitted and not yet answered (queued or in the running batch)."""
        return self._held_pixels

    @property
    def busy_seconds(self) -> float | None:
        """Seconds the worker has spent in its current call; None when it is idle."""
        started = self._call_started
        return None if started is None else time.monotonic() - started

    @property
    def stuck_seconds(self) -> float | None:
        """Seconds in the current batch when it has run over `batch_timeout_s`; else None."""
        seconds = self.busy_seconds
        if seconds is None or self.batch_timeout_s is None or seconds <= self.batch_timeout_s:
            return None
        return seconds

    async def submit(self, item: Any, pixels: int = 0) -> Any:
        """Queue one item and wait for its result; raises the item's exception when it failed.

        `pixels` is what the item holds in decoded images, counted against `max_queue_pixels`
        until the item is answered."""
        if self._closing or self._task is None or self._task.done():
            raise BatcherClosed("the judge is not accepting requests (shutting down or not started)")
        assert self._queue is not None
        stuck = self.stuck_seconds
        if stuck is not None:
            raise BatcherFull(f"the judge is stuck: one batch has run {stuck:.1f} s "
                              f"(batch_timeout_s {self.batch_timeout_s:g}); retry later")
        if self._queue.qsize() >= self.max_queue_size:
            raise BatcherFull(f"the judge is busy: {self._queue.qsize()} request(s) queued (max_queue_size); retry later")
        limit = self.max_queue_pixels
        if limit is not None and self._held_pixels and self._held_pixels + pixels > limit:
            raise BatcherFull(f"the judge is busy: {self._held_pixels:,} pixels of images waiting, "
                              f"at most {limit:,} (max_queue_pixels); retry later")
        future = asyncio.get_running_loop().create_future()
        self._held_pixels += pixels
        try:
            self._queue.put_nowait(_Pending(item, future, pixels))
            return await future
        finally:
            # Released when the caller stops waiting: answered, failed or gone away. (A gone caller's
            # item may still sit in the running batch; it is one batch at most.)
            self._held_pixels -= pixels

    # -- internals ---------------------------------------------------------------------------

    async def _collect(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """The batch that starts with `first`: whatever is queued, then more until the deadline."""
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        batch, stop = [first], False
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch_size:
            try:
                entry = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    entry = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if entry is _STOP:
                stop = True
                break
            batch.append(entry)
        return batch, stop

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            if first is _STOP:
                return
            batch, stop = await self._collect(first)
            batch = [p for p in batch if not p.future.done()]  # the client went away
            if batch:
                await self._process(batch)
            if stop:
                return

    async def _process(self, batch: list[_Pending]) -> None:
        self._current = batch
        start = time.perf_counter()
        try:
            results = await self._in_worker(batch)
        except BatchTimeout as e:
            results = [e] * len(batch)
        except Exception as e:  # noqa: BLE001 - whole-batch failure: retry each item alone
            if len(batch) == 1:
                results = [e]
            else:
                logger.warning("a batch of %d failed (%s: %s); retrying its items one by one", len(batch), type(e).__name__, e)
                results = []
                for pending in batch:
                    try:
                        results += await self._in_worker([pending])
                    except Exception as item_error:  # noqa: BLE001
                        results.append(item_error)
        finally:
            self._current = []
        self.stats.record(len(batch), time.perf_counter() - start)
        for pending, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                self.stats.failed_items += 1
            if pending.future.done():
                continue
            if isinstance(result, BaseException):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)

    async def _in_worker(self, batch: list[_Pending]) -> list[Any]:
        """`fn` on the items of `batch` in the worker thread, within `batch_timeout_s`.

        Over the limit, the batch's callers get BatchTimeout at once; the call itself cannot be
        interrupted, so this still waits for it (the model must not run two batches at once) and
        then raises BatchTimeout."""
        loop = asyncio.get_running_loop()
        self._call_started = time.monotonic()
        try:
            call = loop.run_in_executor(self._executor, self._call, [p.item for p in batch])
            done, _ = await asyncio.wait({call}, timeout=self.batch_timeout_s)
            if done:
                return call.result()
            error = BatchTimeout(f"the model ran over the batch time limit of {self.batch_timeout_s:g} s "
                                 "(batch_timeout_s) on this request's batch; retry later")
            self.stats.timed_out_batches += 1
            logger.warning("a batch of %d has run over %.1f s; failing its items and waiting for the model to return",
                           len(batch), self.batch_timeout_s)
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            try:
                await call
            except Exception:  # noqa: BLE001 - its callers were already answered
                pass
            logger.warning("the model returned from the batch after %.1f s", time.monotonic() - self._call_started)
            raise error
        finally:
            self._call_started = None

    def _call(self, items: list[Any]) -> list[Any]:
        results = list(self.fn(items))
        if len(results) != len(items):
            raise RuntimeError(f"batch function returned {len(results)} result(s) for {len(items)} item(s)")
        return results

    def _fail_queued(self, error: Exception) -> None:
        assert self._queue is not None
        for pending in self._current:  # the batch a cancelled worker was running
            if not pending.future.done():
                pending.future.set_exception(error)
        while True:
            try:
                entry = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if entry is not _STOP and not entry.future.done():
                entry.future.set_exception(error)
