"""mtrl-judge: train, evaluate and serve unified multimodal LLM judges (MT-RL-Judge)."""

from . import backbone as _backbone  # noqa: F401  (registers JudgeProcessor with AutoProcessor)
from .errors import JudgeError
from .judge import Judge, JudgeRequest
from .prompts import Verdict, parse_verdict, render
from .tasks import Task, get_task, list_tasks, register_task, register_tasks_from_yaml

__version__ = "0.1.0"
__all__ = [
    "Judge",
    "JudgeError",
    "JudgeRequest",
    "Task",
    "Verdict",
    "get_task",
    "list_tasks",
    "parse_verdict",
    "register_task",
    "register_tasks_from_yaml",
    "render",
]
