"""The service's limits: one dataclass, with the help text and defaults every surface shows.

`create_app` enforces the request-side limits, `serve` hands the connection-side ones to uvicorn,
and both CLIs (`mtrl-judge serve`, `python -m mtrl_judge.serve`) build their options from the
fields here (`add_limit_arguments`), so a default or its explanation changes in one place.
It imports no web stack: the CLI reads it to build its help. The per-request limits (text
length, pixels, aspect ratio) are the judge's own (mtrl_judge.requests.RequestLimits; the CLIs
add --max-text-chars and --max-text-tokens here too); docs/limits.md lists them all with the
refusal each gives.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field, fields, replace

from ..errors import JudgeError
from ..requests import DEFAULT_MAX_TEXT_CHARS


@dataclass(frozen=True)
class ServiceLimits:
    """Bounds on what clients can make the service hold or wait for."""

    max_body_bytes: int = field(
        default=32 * 1024 * 1024,  # two 2048 x 2048 PNGs in base64 fit with room to spare
        metadata={"help": "largest request body in bytes, announced or streamed (over it: 413)"},
    )
    max_items_per_batch: int = field(default=64, metadata={"help": "most items in one POST /v1/judge/batch (over it: 422)"})
    max_queue_size: int = field(default=1024, metadata={"help": "most items waiting for the model (over it: 503)"})
    max_queue_pixels: int = field(
        default=128 * 1024 * 1024,  # decoded RGB is 3 bytes a pixel: about 400 MB, 32 images of 2048 x 2048
        metadata={"help": "most decoded image pixels held by requests not yet answered, queued or in the running batch "
                          "(over it: 503)"},
    )
    batch_timeout_s: float = field(
        default=120.0,  # a CPU batch of 16 verdicts takes seconds: two minutes means the model is wedged, not slow
        metadata={"help": "seconds one model batch may run; over it its requests get 504 and /health says the worker "
                          "is stuck (503)"},
    )
    body_timeout_s: float = field(
        default=60.0,  # a total deadline, not per read, so a client dripping bytes cannot hold a connection
        metadata={"help": "seconds from a request's headers to the last byte of its body (over it: 408)"},
    )
    header_timeout_s: float = field(
        default=10.0, metadata={"help": "seconds a connection may take to send a request's headers (over it: 408 and closed)"}
    )
    max_header_bytes: int = field(
        default=16 * 1024,  # h11's own default, stated so it shows in --help and the docs
        metadata={"help": "bytes a request line and headers may take before they end (over it: 400 and closed)"},
    )
    limit_concurrency: int = field(
        default=256, metadata={"help": "most open connections and requests at once; beyond, new requests get 503"}
    )
    timeout_keep_alive_s: int = field(default=5, metadata={"help": "seconds an idle keep-alive connection stays open"})

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise JudgeError(f"{f.name} must be a positive integer, got {value!r}")
            if f.type == "float" and (not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0):
                raise JudgeError(f"{f.name} must be a positive number of seconds, got {value!r}")


DEFAULT_LIMITS = ServiceLimits()  # the defaults, shared (frozen): the default argument of create_app and serve


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """--max-body-bytes, --batch-timeout-s, ... : one option per ServiceLimits field, with its help and
    default; and the judge's text bounds, --max-text-chars and --max-text-tokens."""
    group = parser.add_argument_group("limits (docs/limits.md#the-http-service)")
    group.add_argument("--max-text-chars", type=int, default=DEFAULT_MAX_TEXT_CHARS,
                       help=f"longest text in characters (over it: 413); default: {DEFAULT_MAX_TEXT_CHARS:,}")
    group.add_argument("--max-text-tokens", type=int, default=None,
                       help="longest text in the model's tokens (over it: 413); default: half the model's context")
    for f in fields(ServiceLimits):
        kind = int if f.type == "int" else float
        group.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default,
                           help=f"{f.metadata['help']}; default: {f.default:,}")


def limits_from_args(args: argparse.Namespace) -> ServiceLimits:
    """The ServiceLimits of parsed options (validated: a bad value is a one-line JudgeError)."""
    return replace(ServiceLimits(), **{f.name: getattr(args, f.name) for f in fields(ServiceLimits)})
