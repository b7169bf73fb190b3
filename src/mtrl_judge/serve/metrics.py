"""Prometheus metrics of the service, with prometheus_client and one registry per app.

Why a registry per app rather than prometheus_client's global one: tests (and users who mount
several judges) create many apps in one process, and each must count only its own requests.

Exposed (prefix `mtrl_judge_`; these names are what dashboards query, keep them stable):
- requests_total{endpoint,status}                  counter
- request_duration_seconds{endpoint}               histogram (+ _sum, _count)
- in_flight_requests                               gauge
- queue_depth, queued_pixels                       gauges, read from the batcher at scrape time
- batch_size                                       histogram of model batch sizes (from the batcher's stats)
- batches_total, items_judged_total, item_failures_total, batch_timeouts_total, model_busy_seconds_total  counters
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
PREFIX = "mtrl_judge_"


class _BatcherCollector:
    """Batch numbers read from a MicroBatcher's stats when scraped, so the batcher needs no metrics code."""

    def __init__(self, batcher) -> None:
        self.batcher = batcher

    def collect(self) -> Iterator[Metric]:
        stats = self.batcher.stats
        buckets = [(_le(le), sum(n for size, n in stats.batch_sizes.items() if size <= le)) for le in BATCH_BUCKETS]
        buckets.append(("+Inf", stats.batches))
        sum_value = sum(size * n for size, n in stats.batch_sizes.items())
        yield HistogramMetricFamily(f"{PREFIX}batch_size", "Items per model batch.", buckets=buckets, sum_value=sum_value)
        for name, value, help_ in (
            ("batches_total", stats.batches, "Model batches run."),
            ("items_judged_total", stats.items, "Items the model was given."),
            ("item_failures_total", stats.failed_items, "Items that failed inside the model worker (time-outs included)."),
            ("batch_timeouts_total", stats.timed_out_batches, "Batches that ran over batch_timeout_s."),
            ("model_busy_seconds_total", stats.busy_seconds, "Seconds the model spent running batches."),
        ):
            yield CounterMetricFamily(f"{PREFIX}{name}", help_, value=value)


def _le(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


class ServiceMetrics:
    """Request counts, latencies and in-flight requests of one app, plus its batcher's numbers."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, batcher=None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(f"{PREFIX}requests", "HTTP requests by endpoint and status code.",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram(f"{PREFIX}request_duration_seconds", "HTTP request latency by endpoint.",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.in_flight = Gauge(f"{PREFIX}in_flight_requests", "HTTP requests being handled now.", registry=self.registry)
        if batcher is not None:
            Gauge(f"{PREFIX}queue_depth", "Items waiting for a model batch.",
                  registry=self.registry).set_function(lambda: batcher.queue_depth)
            Gauge(f"{PREFIX}queued_pixels", "Pixels of decoded images held by requests not yet answered.",
                  registry=self.registry).set_function(lambda: batcher.held_pixels)
            self.registry.register(_BatcherCollector(batcher))

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        self.latency.labels(endpoint=endpoint).observe(seconds)

    def render(self) -> bytes:
        """The whole exposition text."""
        return generate_latest(self.registry)
