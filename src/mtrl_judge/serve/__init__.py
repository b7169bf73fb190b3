"""The judge service: a FastAPI app with micro-batching, API keys and Prometheus metrics.

    from mtrl_judge.serve import serve
    serve("runs/mt-rl-judge/best", port=8000, api_key_env="MTRL_JUDGE_API_KEY")

or `create_app(judge, ...)` to mount it yourself. Needs fastapi, uvicorn and python-multipart;
the rest of mtrl_judge does not import this package. See docs/serving.md.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
    import python_multipart  # noqa: F401  (for uploads)
    import uvicorn  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    from ..errors import JudgeError

    raise JudgeError(f"the judge service needs fastapi, uvicorn and python-multipart ({e.name} is missing): "
                     "pip install fastapi uvicorn python-multipart") from None

from .app import create_app
from .batcher import MicroBatcher
from .server import background_server, serve

__all__ = ["MicroBatcher", "background_server", "create_app", "serve"]
