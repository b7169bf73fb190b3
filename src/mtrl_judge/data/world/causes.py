"""What makes a JudgeWorld row what it is, in one word or a few: the detail a judge must notice.

A negative differs from a positive by the edits of its text (`meta.edits`: a colour, shape, count or relation
changed, a group dropped) and the defects applied to its image (`meta.perturbations`: blur, noise, a float, a
tint...); a safety row by the symbols on its signs (`meta.symbols`). Grouping a judge's verdicts by this cause says
which detail it misses (docs/evaluation.md): a SeeTRUE judge at 73 macro-F1 can catch colour edits nine times in ten
and shape edits one time in ten.
"""

from __future__ import annotations

import json

NONE = "none"  # a row with nothing edited or applied (a positive of an edit task)


def cause_of(meta: str | dict | None) -> str | None:
    """The kinds of edits and defects that made the row, sorted and joined by '+' ("shape", "blur+count"), the
    symbols shown for a safety row ("flame+leaf"), "none" when the row has neither; None for a row whose meta does not
    say (not a JudgeWorld row, or a pairwise one)."""
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError:
            return None
    if not isinstance(meta, dict) or "scenes" in meta:
        return None
    if "symbols" in meta:
        return "+".join(sorted(meta["symbols"])) or NONE
    if "edits" not in meta and "perturbations" not in meta:
        return None
    kinds = [e["kind"] for e in meta.get("edits") or []] + [p["kind"] for p in meta.get("perturbations") or []]
    return "+".join(sorted(kinds)) or NONE
