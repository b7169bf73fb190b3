"""Prometheus metrics in the text exposition format, without a client library.

Why not prometheus_client: the service needs a handful of counters and two histograms, all
updated on one event loop; a few dozen lines avoid a dependency and its global registry (tests
create many apps in one process).

Exposed (prefix `mtrl_judge_`):
- requests_total{endpoint,status}                  counter
- request_duration_seconds{endpoint}               histogram (+ _sum, _count)
- batch_size                                       histogram of model batch sizes
- batches_total, items_judged_total, item_failures_total, model_busy_seconds_total  counters
- queue_depth, in_flight_requests                  gauges
"""

from __future__ import annotations

import bisect
from collections import defaultdict

LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128)


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if isinstance(value, float) and not value.is_integer() else str(int(value))


class Histogram:
    """Cumulative-bucket histogram (Prometheus semantics: bucket `le` counts observations <= le)."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = tuple(sorted(buckets))
        self.counts = [0] * (len(self.buckets) + 1)  # last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, **labels: str) -> list[str]:
        out, cumulative = [], 0
        for le, n in zip((*self.buckets, float("inf")), self.counts, strict=True):
            cumulative += n
            out.append(f"{name}_bucket{_labels(**labels, le=_num(le))} {cumulative}")
        out.append(f"{name}_sum{_labels(**labels)} {self.sum:.6f}")
        out.append(f"{name}_count{_labels(**labels)} {self.count}")
        return out


class ServiceMetrics:
    """Request counts and latencies per endpoint and status; batch numbers come from the batcher."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.in_flight = 0

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests[(endpoint, status)] += 1
        self.latency.setdefault(endpoint, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def render(self, batcher_stats=None, queue_depth: int = 0) -> str:
        """The whole exposition text; `batcher_stats` is a BatcherStats (or None)."""
        p = "mtrl_judge_"
        lines = [f"# HELP {p}requests_total HTTP requests by endpoint and status code.", f"# TYPE {p}requests_total counter"]
        for (endpoint, status), n in sorted(self.requests.items()):
            lines.append(f"{p}requests_total{_labels(endpoint=endpoint, status=str(status))} {n}")
        lines += [f"# HELP {p}request_duration_seconds HTTP request latency by endpoint.",
                  f"# TYPE {p}request_duration_seconds histogram"]
        for endpoint, hist in sorted(self.latency.items()):
            lines += hist.lines(f"{p}request_duration_seconds", endpoint=endpoint)
        lines += [f"# HELP {p}in_flight_requests HTTP requests being handled now.", f"# TYPE {p}in_flight_requests gauge",
                  f"{p}in_flight_requests {self.in_flight}"]
        lines += [f"# HELP {p}queue_depth Items waiting for a model batch.", f"# TYPE {p}queue_depth gauge",
                  f"{p}queue_depth {queue_depth}"]
        if batcher_stats is not None:
            hist = Histogram(BATCH_BUCKETS)
            for size, n in batcher_stats.batch_sizes.items():
                hist.counts[bisect.bisect_left(hist.buckets, size)] += n
                hist.sum += size * n
                hist.count += n
            lines += [f"# HELP {p}batch_size Items per model batch.", f"# TYPE {p}batch_size histogram",
                      *hist.lines(f"{p}batch_size")]
            for name, value, help_ in (
                ("batches_total", batcher_stats.batches, "Model batches run."),
                ("items_judged_total", batcher_stats.items, "Items the model was given."),
                ("item_failures_total", batcher_stats.failed_items, "Items that failed inside the model worker."),
                ("model_busy_seconds_total", round(batcher_stats.busy_seconds, 6), "Seconds the model spent running batches."),
            ):
                lines += [f"# HELP {p}{name} {help_}", f"# TYPE {p}{name} counter", f"{p}{name} {value}"]
        return "\n".join(lines) + "\n"
