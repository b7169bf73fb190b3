"""The README's commands, pasted as they are after `make demo`, all work.

`make demo` takes an hour, so the test lays out the same folders with the smoke budget
(`reproduce --budget smoke --out runs/demo`, in a scratch copy of the repository's relative paths)
and then runs every `mtrl-judge` line of the README's bash blocks, and its Python block, from
there. Commands that would run for minutes (training, serving) are checked as far as they go
without running long: `train ... --dry-run` (which checks the recipe's model and data folders), and
`serve` is left to tests/test_serve.py. Downloads the README points to are replaced by folders in
each publisher's layout (tests/fixtures_publishers.py).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import fixtures_publishers as fp
import pytest
from PIL import Image

from mtrl_judge.cli import main

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
LONG_RUNNING = ("serve",)  # started and stopped by tests/test_serve.py instead


def readme_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def readme_commands() -> list[list[str]]:
    """Every `mtrl-judge ...` line of the README's bash blocks, split like a shell would."""
    commands = []
    for block in readme_blocks("bash"):
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("mtrl-judge "):
                commands.append(shlex.split(line, comments=True)[1:])
    return commands


def test_the_readme_has_commands_to_walk():
    commands = readme_commands()
    assert {c[0] for c in commands} >= {"judge", "rank", "train", "eval", "tasks", "data", "serve"}
    assert readme_blocks("python"), "the README's Python example is walked too"


@pytest.mark.slow
def test_readme_commands_work_as_pasted_after_make_demo(tmp_path, monkeypatch):
    from mtrl_judge.reproduce.budgets import BUDGETS
    from mtrl_judge.reproduce.pipeline import reproduce

    # the repository's relative paths (recipes under src/, the committed base under models/)
    for name in ("src", "models"):
        (tmp_path / name).symlink_to(REPO / name)
    monkeypatch.chdir(tmp_path)
    reproduce(Path("runs/demo"), BUDGETS["smoke"], seed=0)

    for name, colour in (("a.png", "red"), ("b.png", "blue"), ("cat.png", "orange")):
        Image.new("RGB", (64, 64), colour).save(tmp_path / name)
    (tmp_path / "rows.jsonl").write_text(
        '{"id": "r1", "task": "seetrue", "images": ["a.png"], "text": "a red circle"}\n'
        '{"id": "r2", "task": "agin-tech", "images": ["b.png"]}\n',
        encoding="utf-8",
    )
    downloads = tmp_path / "Downloads"
    fp.make_seetrue(downloads / "SeeTRUE")
    fp.make_unsafebench(downloads / "UnsafeBench")

    ran = []
    for argv in readme_commands():
        if argv[0] in LONG_RUNNING:
            continue
        argv = [str(downloads / Path(a).name) if a.startswith("~/Downloads/") else a for a in argv]
        if argv[0] == "train":
            argv.append("--dry-run")
        code = main(argv)
        assert code == 0, f"`mtrl-judge {shlex.join(argv)}` exited {code}"
        ran.append(argv[0])
    assert {"judge", "rank", "train", "eval", "tasks", "data"} <= set(ran)
    assert Path("verdicts.jsonl").is_file() and Path("data/seetrue").is_dir()

    namespace: dict = {}
    exec(compile(readme_blocks("python")[0], "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["verdict"].task == "seetrue"
