"""The judge service: a FastAPI app with micro-batching, API keys and Prometheus metrics.

    from mtrl_judge.serve import serve
    serve("runs/mt-rl-judge/best", port=8000, api_key_env="MTRL_JUDGE_API_KEY")

or `create_app(judge, ...)` to mount it yourself. Needs fastapi, uvicorn, python-multipart and
prometheus_client; the rest of mtrl_judge does not import this package. See docs/serving.md.

The names below are loaded on first use, so that the CLI can read `serve.limits` (its options'
help and defaults) without importing the web stack.
"""

from __future__ import annotations

import importlib

from .limits import ServiceLimits

_LAZY = {"create_app": ".app", "MicroBatcher": ".batcher", "background_server": ".server", "serve": ".server"}

__all__ = ["MicroBatcher", "ServiceLimits", "background_server", "create_app", "serve"]


def _check_dependencies() -> None:
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import python_multipart  # noqa: F401  (for uploads)
        import uvicorn  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        from ..errors import JudgeError

        raise JudgeError(f"the judge service needs fastapi, uvicorn, python-multipart and prometheus_client ({e.name} is "
                         "missing): pip install fastapi uvicorn python-multipart prometheus_client") from None


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _check_dependencies()
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
