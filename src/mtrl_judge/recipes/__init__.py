"""The recipes that ship with the package: cpu/ and gpu/ (`mtrl-judge train`), accelerate/ (launcher configs).

They live inside the package so that an installed wheel has them too; `recipe_file` finds them
wherever the package is installed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import JudgeError


def recipes_dir() -> Path:
    """The folder holding cpu/, gpu/ and accelerate/ (pip installs packages unzipped, so it is a real folder)."""
    return Path(str(resources.files(__name__)))


def recipe_file(name: str) -> Path:
    """The shipped recipe `name`, e.g. "cpu/mt-rl-judge.yaml"."""
    path = recipes_dir() / name
    if not path.is_file():
        known = ", ".join(sorted(p.relative_to(recipes_dir()).as_posix() for p in recipes_dir().glob("*/*.yaml")))
        raise JudgeError(f"no shipped recipe {name!r}; shipped: {known}")
    return path
