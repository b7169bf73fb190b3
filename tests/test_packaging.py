"""The wheel carries what the code reads at run time (prompt templates, recipes), and the code finds them there."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mtrl_judge.recipes import recipe_file, recipes_dir
from mtrl_judge.train.config import load_recipe

REPO = Path(__file__).parents[1]
PACKAGE = REPO / "src" / "mtrl_judge"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources (the build writes build/ and egg-info next to them)."""
    root = tmp_path_factory.mktemp("source")
    shutil.copy(REPO / "pyproject.toml", root)
    shutil.copy(REPO / "README.md", root)
    shutil.copytree(PACKAGE, root / "src" / "mtrl_judge", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the venv's setuptools builds it, with no index to reach.
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(root)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (path,) = out.glob("mtrl_judge-*.whl")
    return path


def _shipped(pattern: str) -> list[str]:
    return sorted(p.relative_to(PACKAGE.parent).as_posix() for p in PACKAGE.glob(pattern))


def test_wheel_ships_templates_and_recipes(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    templates, recipes = _shipped("prompts/templates/*.j2"), _shipped("recipes/*/*.yaml")
    assert len(templates) == 4 and len(recipes) >= 11
    assert set(templates) <= names
    assert set(recipes) <= names


def test_installed_wheel_finds_its_recipes(wheel, tmp_path):
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)]
    result = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    code = "from mtrl_judge.recipes import recipe_file; print(recipe_file('cpu/mt-rl-judge.yaml'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = Path(result.stdout.strip())
    assert found.is_file() and found.is_relative_to(target)


@pytest.mark.parametrize("method", ["sft-single", "sft-unified", "rl-single", "mt-rl-judge"])
def test_reproduce_recipes_are_found_and_valid(method):
    """`reproduce` trains each method from recipe_file(f"cpu/{method}.yaml")."""
    path = recipe_file(f"cpu/{method}.yaml")
    assert path.is_file() and path.is_relative_to(recipes_dir())
    assert load_recipe(path, dry_run=True).judge.tasks


def test_unknown_recipe_is_a_one_line_error():
    from mtrl_judge import JudgeError

    with pytest.raises(JudgeError, match="no shipped recipe 'cpu/nope.yaml'; shipped: .*cpu/mt-rl-judge.yaml"):
        recipe_file("cpu/nope.yaml")


def test_train_takes_a_shipped_recipe_by_name(tmp_path, monkeypatch):
    """`mtrl-judge train cpu/sft-unified.yaml` works from any folder (an installed copy has no checkout)."""
    from mtrl_judge.train.config import load_recipe

    monkeypatch.chdir(tmp_path)
    recipe = load_recipe("cpu/sft-unified.yaml", dry_run=True)
    assert recipe.judge.method == "sft" and recipe.path.is_file()
