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

    batcher = MicroBatcher(judge_fn, max_batch_size=16, max_wait_ms=10)
    await batcher.start()
    result = await batcher.submit(item)      # from many coroutines at once
    await batcher.stop()                      # drains: every submitted item is answered first
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
    """The queue holds `max_queue_size` items already: the caller should shed load (HTTP 503)."""


@dataclass
class BatcherStats:
    """Counters a /metrics endpoint and tests read; updated on the event loop only."""

    batches: int = 0
    items: int = 0
    failed_items: int = 0
    max_batch_size_seen: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)  # size -> number of batches of that size
    busy_seconds: float = 0.0  # time the model spent in batches

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
        name: the worker thread's name, for logs and debuggers.
    """

    def __init__(
        self,
        fn: BatchFn,
        *,
        max_batch_size: int = 16,
        max_wait_ms: float = 10.0,
        max_queue_size: int = 1024,
        name: str = "mtrl-judge-model",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        if max_queue_size < 1:
            raise ValueError("max_queue_size must be at least 1")
        self.fn = fn
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue_size = max_queue_size
        self.name = name
        self.stats = BatcherStats()
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self._current: list[_Pending] = []

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
    def in_batch(self) -> int:
        """Items in the batch the model is running now."""
        return len(self._current)

    async def submit(self, item: Any) -> Any:
        """Queue one item and wait for its result; raises the item's exception when it failed."""
        if self._closing or self._task is None or self._task.done():
            raise BatcherClosed("the judge is not accepting requests (shutting down or not started)")
        assert self._queue is not None
        if self._queue.qsize() >= self.max_queue_size:
            raise BatcherFull(f"the judge is busy: {self._queue.qsize()} request(s) queued; retry later")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future))
        return await future

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
        loop = asyncio.get_running_loop()
        items = [p.item for p in batch]
        self._current = batch
        start = time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self._call, items)
        except Exception as e:  # noqa: BLE001 - whole-batch failure: retry each item alone
            if len(items) == 1:
                results = [e]
            else:
                logger.warning("a batch of %d failed (%s: %s); retrying its items one by one", len(items), type(e).__name__, e)
                results = []
                for item in items:
                    try:
                        results += await loop.run_in_executor(self._executor, self._call, [item])
                    except Exception as item_error:  # noqa: BLE001
                        results.append(item_error)
        finally:
            self._current = []
        self.stats.record(len(batch), time.perf_counter() - start)
        for pending, result in zip(batch, results, strict=True):
            if pending.future.done():
                continue
            if isinstance(result, BaseException):
                self.stats.failed_items += 1
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)

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
