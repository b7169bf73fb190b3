"""Rich progress bars for long work (library code never prints)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextmanager
def progress_bar(
    description: str, total: int, *, enabled: bool = True, completed: int = 0, speed_estimate_period: float = 30.0
) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; shows a bar with count, elapsed and remaining time when enabled.

    completed: work already done before the bar starts (a resumed run); it does not count toward the pace.
    speed_estimate_period: seconds of recent progress the time left is estimated from (rich's window); a long
    window gives the mean pace, steady across uneven steps and pauses."""
    if not enabled:
        yield lambda n=1: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    # stderr, so that a command's stdout stays clean for its JSON output.
    with Progress(*columns, console=Console(stderr=True), transient=False, speed_estimate_period=speed_estimate_period) as bar:
        task_id = bar.add_task(description, total=total, completed=completed)
        yield lambda n=1: bar.advance(task_id, n)
