"""Atomic writes: a killed run leaves either the old result or the new one, never half of one.

A write goes to a temporary sibling named `.NAME.tmp-PID-...` and is renamed over NAME when
complete. A process killed mid-write leaves its sibling behind; the next write to the same path
removes the siblings whose process is gone (a live one may be another writer at work).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import JudgeError

# The temporary siblings atomic_dir and atomic_file write in (".NAME.tmp-PID-...", ".NAME.old-PID"): the
# one place their naming is known (train/checkpoints.py cleans a run folder of them too).
TEMPORARY_NAME = re.compile(r"^\..+\.(tmp|old)-[^/]+$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def clean_stale_siblings(path: str | Path) -> list[Path]:
    """Remove temporary siblings of `path` left by killed writers; returns what was removed."""
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for kind in ("tmp", "old"):
        for sibling in path.parent.glob(f".{path.name}.{kind}-*"):
            pid_text = sibling.name[len(f".{path.name}.{kind}-"):].split("-")[0]
            if pid_text.isdigit() and not _pid_alive(int(pid_text)):
                if sibling.is_dir():
                    shutil.rmtree(sibling, ignore_errors=True)
                else:
                    sibling.unlink(missing_ok=True)
                removed.append(sibling)
    return removed


def _check_writable(path: Path, start: Path, what: str) -> None:
    """The nearest existing folder at or above `start` (where `path` will be created) must be a
    writable folder; errors name `path` and `what`."""
    existing = next((p for p in (start, *start.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise JudgeError(f"{path}: cannot write the {what} ({existing} is a file, not a folder)")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise JudgeError(f"{path}: cannot write the {what} ({existing} is not writable)")


def check_output_path(path: str | Path, *, what: str = "output") -> Path:
    """Refuse, before any work starts, an output file that cannot be written: a folder where a file
    is expected, a parent that is a file or not writable (atomic_file writes beside it)."""
    path = Path(path)
    if path.is_dir():
        raise JudgeError(f"{path}: {what} is a folder; give a file path")
    _check_writable(path, path.parent, what)
    return path


def check_output_folder(path: str | Path, *, what: str, replaced: bool) -> Path:
    """Refuse, before any work starts, an output folder that cannot be written: an existing file in
    its place or on its path, or a folder without write permission. `replaced`: the folder is built
    beside it and renamed into place (atomic_dir), so its parent must be writable; otherwise files
    are written into it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise JudgeError(f"{path}: cannot write the {what} (it is a file, not a folder)")
    _check_writable(path, path.parent if replaced else path, what)
    return path


def refuse_nonempty_folder(path: str | Path, *, overwrite: bool) -> Path:
    """Refuse, before any work starts, an output folder that holds something when `overwrite` is not given (the
    error names --overwrite), or a file standing where the folder goes."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise JudgeError(f"{path}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise JudgeError(f"{path}: folder exists and is not empty; pass --overwrite to replace it")
    return path


@contextmanager
def atomic_dir(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_siblings(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the result should be readable like any folder
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(path)
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


@contextmanager
def atomic_file(path: str | Path, mode: str = "w") -> Iterator:
    """Open a temporary sibling for writing; it is renamed over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_siblings(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; results are ordinary files
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    with atomic_file(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_json(path: str | Path, obj) -> None:
    with atomic_file(path) as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")
