"""Light entry points: the client and the CLI's help and `tasks` must not import torch, transformers or datasets.

Each check runs in a fresh interpreter, since this test process has long imported both.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "datasets")  # datasets alone took 2 s of every CLI call


def _heavy_modules_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running `code` (a SystemExit from argparse is fine)."""
    script = (
        "import sys\n"
        "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) +
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("HEAVY:"))
    return [m for m in line.removeprefix("HEAVY:").split(",") if m]


def test_client_imports_no_model_stack():
    assert _heavy_modules_after("import mtrl_judge.client") == []


def test_package_import_is_lazy():
    assert _heavy_modules_after("import mtrl_judge\nfrom mtrl_judge import JudgeError, get_task\nget_task('seetrue')") == []


@pytest.mark.parametrize("argv", [["--help"], ["tasks"], ["judge", "--help"], ["train", "--help"], ["data", "import", "--help"]])
def test_cli_help_and_tasks_import_no_model_stack(argv):
    assert _heavy_modules_after(f"from mtrl_judge.cli import main\nmain({argv!r})") == []


def test_lazy_names_resolve():
    import mtrl_judge

    assert mtrl_judge.Judge.__name__ == "Judge"
    assert set(mtrl_judge.__all__) <= set(dir(mtrl_judge))
    with pytest.raises(AttributeError):
        mtrl_judge.not_a_name  # noqa: B018
