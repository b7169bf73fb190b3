"""CLI flags for `mtrl-judge data import`, built from the adapters' option descriptions.

One flag per option name across all adapters (options shared by several adapters, such as
--val-fraction, appear once). Every adapter flag defaults to None, meaning "the adapter's own
default", so import_dataset can tell a flag the user set for the wrong dataset (an error) from one
left alone.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ...errors import JudgeError
from .importer import ON_ERROR, ImportReport, import_dataset

# "FILE:ROW: ..." (see ImportContext.bad): a row-level refusal, which --on-error skip would have passed over.
ROW_ERROR = re.compile(r"^[^:]+:\d+: ")


def _union_options(adapters) -> dict:
    union: dict[str, list] = {}
    for adapter in adapters.values():
        for opt in adapter.options:
            union.setdefault(opt.name, []).append((adapter.name, opt))
    return union


def add_import_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the dataset argument, the common flags and every adapter's flags to `parser`."""
    from . import ADAPTERS

    parser.add_argument("dataset", choices=sorted(ADAPTERS), help="which publisher's files to import")
    parser.add_argument("--source", type=Path, required=True, help="the publisher's file or folder, as downloaded")
    parser.add_argument("--out", type=Path, required=True, help="data folder to write (DATA/<task>/); must be absent or empty")
    parser.add_argument(
        "--on-error",
        choices=ON_ERROR,
        default="fail",
        help="fail: stop at the first bad row; skip: skip bad rows and list them in OUT/import_report.json",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the splits this tool makes")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out (only after a successful import)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    for name, owners in _union_options(ADAPTERS).items():
        opt = owners[0][1]
        defaults = "; ".join(f"{a}: default {o.default!r}" for a, o in owners)
        text = opt.help if len(owners) == 1 else re.sub(r" \(paper: [^)]*\)", "", opt.help)  # the numbers are per dataset
        help_text = f"[{', '.join(a for a, _ in owners)}] {text} ({defaults})"
        help_text = help_text.replace("%", "%%")  # argparse formats help with %
        if opt.type is bool:
            parser.add_argument(opt.flag, dest=name, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(opt.flag, dest=name, type=opt.type, default=None, choices=opt.choices, help=help_text)
    return parser


def import_from_args(args: argparse.Namespace) -> ImportReport:
    """Run import_dataset with the parsed flags (adapter flags left at None take their defaults)."""
    from . import ADAPTERS

    options = {name: getattr(args, name, None) for name in _union_options(ADAPTERS)}
    try:
        return import_dataset(
            args.dataset,
            args.source,
            args.out,
            on_error=args.on_error,
            seed=args.seed,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            **options,
        )
    except JudgeError as e:
        if args.on_error == "fail" and ROW_ERROR.match(str(e)):  # a bad row: say how to keep the good ones
            raise JudgeError(f"{e} (nothing was written; --on-error skip imports the good rows and lists the bad ones)") from None
        raise
