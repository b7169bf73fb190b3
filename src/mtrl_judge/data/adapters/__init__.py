"""Benchmark adapters: publishers' files as shipped -> DATA/<task>/ DatasetDicts in the unified schema.

    from mtrl_judge.data.adapters import ADAPTERS, import_dataset
    report = import_dataset("seetrue", "~/data/SeeTRUE", "data/real", on_error="skip")

`ADAPTERS` maps a dataset name to its adapter; each adapter lists its `options` (name, type,
default, help, choices), from which `add_import_arguments` builds the CLI flags. docs/datasets.md
describes each publisher's layout, license and the paper's counts.
"""

from __future__ import annotations

from .agin import AginAdapter
from .base import PAPER_COUNTS, Adapter, Option
from .cli import add_import_arguments, import_from_args
from .genai_bench import GenAIBenchAdapter
from .imagereward import ImageRewardAdapter
from .importer import EXTRAS_DIR, REPORT_FILE, TASKS_FILE, ImportReport, import_dataset
from .mjbench import MJBenchAdapter
from .seetrue import SeeTrueAdapter
from .unsafebench import UnsafeBenchAdapter

ADAPTERS: dict[str, Adapter] = {
    a.name: a
    for a in (SeeTrueAdapter(), ImageRewardAdapter(), UnsafeBenchAdapter(), AginAdapter(), MJBenchAdapter(), GenAIBenchAdapter())
}

__all__ = [
    "ADAPTERS",
    "EXTRAS_DIR",
    "PAPER_COUNTS",
    "REPORT_FILE",
    "Adapter",
    "ImportReport",
    "Option",
    "TASKS_FILE",
    "add_import_arguments",
    "import_dataset",
    "import_from_args",
]
