"""mtrl-judge: train, evaluate and serve unified multimodal LLM judges (MT-RL-Judge).

The public names load on first use (module `__getattr__`): importing the package, or a light
module such as `mtrl_judge.client`, must not pull in torch and transformers (seconds per call).
`JudgeProcessor` is registered with AutoProcessor once `mtrl_judge.backbone` is imported, which
`Judge` and every model-loading module do.
"""

from __future__ import annotations

import importlib

from .errors import JudgeError

__version__ = "0.1.0"

# public name -> the submodule that defines it
_LAZY = {
    "Judge": "judge",
    "JudgeRequest": "judge",
    "Verdict": "prompts",
    "parse_verdict": "prompts",
    "render": "prompts",
    "Task": "tasks",
    "get_task": "tasks",
    "list_tasks": "tasks",
    "register_task": "tasks",
    "register_tasks_from_yaml": "tasks",
}

__all__ = ["JudgeError", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
