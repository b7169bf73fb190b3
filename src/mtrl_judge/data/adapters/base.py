"""Shared pieces of the publisher adapters: options, bad-row handling, readers, images, splits.

An adapter reads one publisher's files as shipped and returns `Example`s (the unified schema, with
images still as references to the publisher's bytes). Everything that must behave the same for
every publisher lives here, so the rules are stated once:

- a bad row is reported as FILE:ROW: field 'NAME': reason, and either stops the import
  (on_error="fail") or is skipped and listed in OUT/import_report.json (on_error="skip");
- images are checked (decoded once) at import, so a truncated file fails here, not mid-training;
  their original encoded bytes are stored, never re-encoded;
- splits made here are seeded and by image: the same image never lands in two splits.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import random
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import JudgeError
from ...tasks import get_task
from ..images import load_image
from ..schema import SPLITS, validate_example

logger = logging.getLogger(__name__)

# Pixel limit for the import-time check: far above any benchmark image, so only PIL's own
# decompression-bomb guard (~179M pixels) refuses anything. The judge applies its own limit later.
IMPORT_MAX_PIXELS = 10**9
# Largest encoded image read into memory at import. A zip member's declared size bounds what
# zipfile will inflate, so checking it first keeps a zip bomb from filling the memory; benchmark
# images are a few MB at most.
IMPORT_MAX_IMAGE_BYTES = 256 * 2**20
# Errors reading a member of a damaged zip (bad CRC, bad deflate stream, encrypted or unsupported
# compression, cut-off file): each makes that row bad, not the import.
ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError)

# The paper's Table 1 (train / val / test rows, positives/negatives where published), kept beside
# our counts in every import report. See docs/datasets.md.
PAPER_COUNTS: dict[str, dict[str, dict[str, int]]] = {
    "agin-nat": {
        "train": {"rows": 4839, "positives": 2440, "negatives": 2399},
        "validation": {"rows": 605},
        "test": {"rows": 605, "positives": 300, "negatives": 305},
    },
    "agin-tech": {
        "train": {"rows": 4839, "positives": 1422, "negatives": 3417},
        "validation": {"rows": 605},
        "test": {"rows": 605, "positives": 158, "negatives": 447},
    },
    "agin-rat": {
        "train": {"rows": 4839, "positives": 1652, "negatives": 3187},
        "validation": {"rows": 605},
        "test": {"rows": 605, "positives": 187, "negatives": 418},
    },
    "seetrue": {
        "train": {"rows": 5544, "positives": 2535, "negatives": 3009},
        "validation": {"rows": 693},
        "test": {"rows": 693, "positives": 309, "negatives": 384},
    },
    "unsafebench": {
        "train": {"rows": 7298, "positives": 2954, "negatives": 4344},
        "validation": {"rows": 811},
        "test": {"rows": 2037, "positives": 777, "negatives": 1260},
    },
    "imagereward": {
        "train": {"rows": 6194, "positives": 1690, "negatives": 4504},
        "validation": {"rows": 2584},
        "test": {"rows": 2720, "positives": 588, "negatives": 2132},
    },
    # MJ-Bench (pair counts per perspective, all test; the paper evaluates alignment and safety).
    "mjbench-alignment": {"test": {"rows": 724}},
    "mjbench-safety": {"test": {"rows": 574}},
    "mjbench-quality": {"test": {"rows": 1121}},
    "mjbench-bias": {"test": {"rows": 480}},
    # GenAI-Bench image_generation: 1,735 votes, ties and both-bad included.
    "genai-bench": {"test": {"rows": 1735}},
}


# ---------------------------------------------------------------------------------------------
# Options: what an adapter takes, described well enough for the CLI to build flags generically.


@dataclass(frozen=True)
class Option:
    """One adapter option. `type` is bool, int, float or str; `choices` restricts a str."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def coerce(self, value: Any) -> Any:
        """`value` as this option's type (CLI strings included); a one-line error otherwise."""
        if value is None:
            return None
        try:
            if self.type is bool and isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                value = value.lower() in ("1", "true", "yes")
            elif self.type in (int, float) and isinstance(value, bool):
                raise ValueError(value)
            else:
                value = self.type(value)
        except (TypeError, ValueError):
            raise JudgeError(f"option {self.name}: {value!r} is not a valid {self.type.__name__}") from None
        if self.choices and value not in self.choices:
            raise JudgeError(f"option {self.name}: {value!r} is not one of {', '.join(self.choices)}")
        return value


# ---------------------------------------------------------------------------------------------
# Images: references to the publisher's bytes, read when checked and again when written.


@dataclass
class ImageRef:
    """One image: a name kept in the dataset and a way to get its original encoded bytes.

    Zip members and files are read lazily (twice: once to check, once to write) so that a large
    benchmark never sits in memory; parquet images already are in memory, as `data`.
    """

    name: str
    reader: Callable[[], bytes] | None = None
    data: bytes | None = None
    digest: str = ""

    def read(self) -> bytes:
        return self.data if self.data is not None else self.reader()


class ZipImages:
    """Images inside one or more zip files, found by member path or, failing that, by base name."""

    def __init__(self, paths: list[Path], label: str | None = None) -> None:
        self.paths = list(paths)
        self.label = label or ", ".join(p.name for p in self.paths)
        self._zips = [_open_zip(p) for p in self.paths]
        self._by_path: dict[str, tuple[int, str]] = {}
        self._by_base: dict[str, tuple[int, str]] = {}
        for i, zf in enumerate(self._zips):
            for info in zf.infolist():
                if info.is_dir():
                    continue
                self._by_path.setdefault(info.filename, (i, info.filename))
                self._by_base.setdefault(info.filename.rsplit("/", 1)[-1], (i, info.filename))

    def __len__(self) -> int:
        return len(self._by_path)

    def find(self, name: str) -> ImageRef | None:
        key = name.replace("\\", "/").lstrip("./")
        hit = self._by_path.get(key) or self._by_base.get(key.rsplit("/", 1)[-1])
        if hit is None:
            return None
        index, member = hit
        return ImageRef(name=member.rsplit("/", 1)[-1], reader=lambda: self._read(index, member))

    def _read(self, index: int, member: str) -> bytes:
        zf = self._open(index)
        size = zf.getinfo(member).file_size
        if size > IMPORT_MAX_IMAGE_BYTES:
            raise ImageReadError(f"{member} in {self.paths[index].name} is {size:,} bytes; at most {IMPORT_MAX_IMAGE_BYTES:,}")
        try:
            return zf.read(member)
        except ZIP_READ_ERRORS as e:
            raise ImageReadError(f"cannot read {member} from {self.paths[index].name} ({_reason(e)})") from None

    def _open(self, index: int) -> zipfile.ZipFile:
        """The zip, reopened if `close` ran: images are read again when the import writes them."""
        if self._zips[index].fp is None:
            self._zips[index] = _open_zip(self.paths[index])
        return self._zips[index]

    def close(self) -> None:
        """Release the file handles between reading and writing (reads reopen them)."""
        for zf in self._zips:
            zf.close()


def _reason(e: BaseException) -> str:
    """The first line of an exception's message, or its class name when it has none."""
    text = str(e).splitlines()[0] if str(e).strip() else ""
    return text or e.__class__.__name__


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise JudgeError(f"{path}: not a readable zip file ({_reason(e)})") from None


class ImageReadError(Exception):
    """An image's bytes could not be read (damaged zip member, unreadable file); check_image
    turns it into a bad row naming the field."""


class FolderImages:
    """Images in a folder, named by their path relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.label = f"{self.root.name}/"

    def find(self, name: str) -> ImageRef | None:
        path = self.root / name
        try:
            if not path.is_file() or not path.resolve().is_relative_to(self.root.resolve()):
                return None  # absent, or a name like ../x that points outside the folder
        except (OSError, ValueError):
            return None  # a name the file system refuses (too long, NUL byte): no such image
        return ImageRef(name=path.name, reader=lambda: _read_file(path))

    def close(self) -> None:
        pass


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > IMPORT_MAX_IMAGE_BYTES:
            raise ImageReadError(f"{path.name} is {size:,} bytes; at most {IMPORT_MAX_IMAGE_BYTES:,}")
        return path.read_bytes()
    except OSError as e:
        raise ImageReadError(f"cannot read {path.name} ({e.strerror or _reason(e)})") from None


def open_images(base: Path, zip_name: str, folder_name: str) -> ZipImages | FolderImages:
    """`base/zip_name` if present, else `base/folder_name/`; a one-line error naming both."""
    if (base / zip_name).is_file():
        return ZipImages([base / zip_name])
    if (base / folder_name).is_dir():
        return FolderImages(base / folder_name)
    raise JudgeError(f"{base}: neither {zip_name} nor a {folder_name}/ folder found")


def struct_image(value: Any, column: str) -> ImageRef:
    """A parquet image struct {bytes, path} (as the Hub writes it) as an ImageRef."""
    if isinstance(value, dict) and value.get("bytes"):
        name = Path(str(value.get("path") or f"{column}.png")).name
        return ImageRef(name=name, data=bytes(value["bytes"]))
    if isinstance(value, (bytes, bytearray)) and value:
        return ImageRef(name=f"{column}.png", data=bytes(value))
    raise RowError(column, "no image bytes (expected an image struct {bytes, path})")


def check_image(ref: ImageRef, field_name: str) -> ImageRef:
    """Decode the image once (truncated or non-image bytes fail here) and record its digest."""
    try:
        data = ref.read()
    except ImageReadError as e:
        raise RowError(field_name, str(e)) from None
    try:
        load_image({"bytes": data, "path": ref.name}, max_pixels=IMPORT_MAX_PIXELS)
    except JudgeError as e:
        raise RowError(field_name, str(e)) from None
    ref.digest = hashlib.sha1(data).hexdigest()
    return ref


# ---------------------------------------------------------------------------------------------
# Rows and bad rows.


class RowError(Exception):
    """A problem with one row, in one field; the context adds the file and row."""

    def __init__(self, field_name: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


@dataclass
class Example:
    """One unified-schema row before writing: images are references, meta a dict."""

    id: str
    task: str
    images: list[ImageRef]
    text: str
    label: str
    source: str
    score: float | None = None
    meta: dict = field(default_factory=dict)
    where: str = ""

    def schema_row(self) -> dict:
        return {
            "id": self.id,
            "task": self.task,
            "images": self.images,
            "text": self.text,
            "label": self.label,
            "source": self.source,
            "score": self.score,
            # default=str: a publisher's column of an unexpected type (bytes, timestamps) stays readable
            "meta": json.dumps(self.meta, ensure_ascii=False, sort_keys=True, default=str),
        }


@dataclass
class ImportContext:
    """What every adapter shares during one import: the error policy, the seed, and the tallies."""

    on_error: str = "fail"
    seed: int = 0
    skipped: list[dict] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    advance: Callable[[int], None] = lambda n=1: None
    _seen: dict[tuple[str, str], str] = field(default_factory=dict)

    def bad(self, file: str, row: int | str | None, field_name: str | None, reason: str) -> None:
        """Stop the import (fail) or record the row as skipped (skip)."""
        where = f"{file}:{row}" if row is not None else file
        message = f"{where}: field '{field_name}': {reason}" if field_name else f"{where}: {reason}"
        if self.on_error == "fail":
            raise JudgeError(message)
        logger.debug("skipped %s", message)
        self.skipped.append({"file": file, "row": row, "field": field_name, "reason": reason, "message": message})

    def drop(self, reason: str, n: int = 1) -> None:
        """Count rows left out on purpose (ties, de-duplication, ...): not errors."""
        self.dropped[reason] = self.dropped.get(reason, 0) + n

    def attempt(
        self, file: str, row: int, build: Callable[[], Example | None], *, key: str | None = None, same: str = ""
    ) -> Example | None:
        """Run `build` for one row; check the result against the schema and for duplicates.

        `key` identifies the row for duplicate detection (default: its id; `same` says in words
        what a repeated key means); a repeat is a bad row naming the first occurrence. Returns
        None for a bad (skipped) or deliberately dropped row.
        """
        try:
            example = build()
            if example is None:
                return None
            example.where = f"{file}:{row}"
            try:
                validate_example(example.schema_row())
            except JudgeError as e:
                raise RowError(None, str(e)) from None
            dup_key = (example.task, key if key is not None else example.id)
            if dup_key in self._seen:
                if key is None:
                    raise RowError("id", f"duplicate id {example.id!r} (first at {self._seen[dup_key]})")
                raise RowError(None, f"duplicate of {self._seen[dup_key]} (same {same or 'key'})")
            self._seen[dup_key] = example.where
            return example
        except RowError as e:
            self.bad(file, row, e.field, e.reason)
            return None


# ---------------------------------------------------------------------------------------------
# Readers: CSV with line numbers, parquet with row indices; missing columns are file errors.


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise JudgeError(f"{path}: {what} not found")
    return path


def _decoded_lines(f: Iterable[bytes], bad_lines: dict[int, str]) -> Iterator[str]:
    """Each line of a binary file decoded as UTF-8 on its own, so one badly encoded line spoils one
    row, not the file: a line that is not UTF-8 is recorded in `bad_lines` (line number -> reason)
    and given to the CSV parser with replacement characters, to keep the row count right."""
    for n, raw in enumerate(f, start=1):
        if n == 1 and raw.startswith(b"\xef\xbb\xbf"):  # the BOM Excel writes
            raw = raw[3:]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            bad_lines[n] = f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at position {e.start})"
            yield raw.decode("utf-8", errors="replace")


def read_csv(path: Path, required: tuple[str, ...], ctx: ImportContext | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row; the header is line 1. Missing columns fail at once.

    A row the CSV parser cannot take (not UTF-8, a field over csv.field_size_limit(), a stray
    NUL) is a bad row: reported through `ctx` (or raised as JudgeError without one) naming the
    file and line, and the rows after it are still read."""
    require_file(path, "CSV file")
    bad_lines: dict[int, str] = {}

    def bad(line: int, reason: str) -> None:
        if ctx is None:
            raise JudgeError(f"{path.name}:{line}: {reason}")
        ctx.bad(path.name, line, None, reason)
        ctx.advance(1)

    try:
        f = path.open("rb")
    except OSError as e:
        raise JudgeError(f"{path}: cannot read the CSV file ({e.strerror or _reason(e)})") from None
    with f:
        reader = csv.DictReader(_decoded_lines(f, bad_lines))
        try:
            columns = reader.fieldnames or []
        except csv.Error as e:
            raise JudgeError(f"{path.name}:1: cannot read the header ({_reason(e)})") from None
        if 1 in bad_lines:
            raise JudgeError(f"{path.name}:1: header is {bad_lines[1]}")
        missing = [c for c in required if c not in columns]
        if missing:
            raise JudgeError(f"{path.name}: missing column(s) {', '.join(missing)} (found: {', '.join(columns) or 'none'})")
        line = reader.line_num
        while True:
            start = line + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                # The parser gives up on this record; it resumes at the next line.
                reason = _reason(e)
                if "field larger than field limit" in reason:
                    reason = f"a field is longer than {csv.field_size_limit():,} characters (the CSV field size limit)"
                bad(start, reason)
                line = max(reader.line_num, start)
                continue
            line = reader.line_num
            broken = next((bad_lines[n] for n in range(start, line + 1) if n in bad_lines), None)
            if broken is not None:
                bad(start, broken)
                continue
            yield start, row


def count_csv_rows(path: Path) -> int:
    """Data rows for the progress bar; 0 (unknown) for a file the parser cannot count."""
    try:
        with path.open("rb") as f:
            return max(sum(1 for _ in csv.reader(_decoded_lines(f, {}))) - 1, 0)
    except (OSError, csv.Error):
        return 0


# What pyarrow raises for a damaged file or page: ArrowException and its subclasses (ArrowInvalid
# is also a ValueError, ArrowIOError an OSError), OSError, and UnicodeDecodeError for a string
# column holding bytes that are not UTF-8.
PARQUET_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError)


def _parquet_errors() -> tuple[type[BaseException], ...]:
    import pyarrow as pa

    return (*PARQUET_ERRORS, pa.ArrowException)


def parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.ParquetFile(path).schema_arrow.names)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise JudgeError(f"{path.name}: not a readable parquet file ({_reason(e)})") from None


def read_parquet(path: Path, required: tuple[str, ...], ctx: ImportContext | None = None) -> Iterator[tuple[int, dict]]:
    """(row index from 0, row as a dict) streamed in batches. Missing columns fail at once.

    A row pyarrow cannot turn into Python values (a string column that is not UTF-8) is a bad
    row, reported through `ctx` (or raised as JudgeError without one); a page that cannot be read
    at all fails the file, naming it and the first row not read."""
    import pyarrow.parquet as pq

    require_file(path, "parquet file")
    columns = parquet_columns(path)
    missing = [c for c in required if c not in columns]
    if missing:
        raise JudgeError(f"{path.name}: missing column(s) {', '.join(missing)} (found: {', '.join(columns) or 'none'})")
    errors = _parquet_errors()
    index = 0
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=256)
        for batch in batches:
            try:
                rows = batch.to_pylist()
            except errors:
                rows = None  # one bad value spoils the batch: convert row by row to find it
            for i in range(batch.num_rows):
                if rows is not None:
                    row = rows[i]
                else:
                    try:
                        row = batch.slice(i, 1).to_pylist()[0]
                    except errors as e:
                        if ctx is None:
                            raise JudgeError(f"{path.name}:{index}: cannot read the row ({_reason(e)})") from None
                        ctx.bad(path.name, index, None, f"cannot read the row ({_reason(e)})")
                        ctx.advance(1)
                        index += 1
                        continue
                yield index, row
                index += 1
    except errors as e:
        raise JudgeError(f"{path.name}: not a readable parquet file at row {index} ({_reason(e)})") from None


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:
        return 0


def find_parquets(root: Path, pattern: str) -> list[Path]:
    """Parquet files under `root` matching a glob, sorted (shards in order)."""
    return sorted(p for p in root.glob(pattern) if p.is_file())


# ---------------------------------------------------------------------------------------------
# Splits.


def split_by_group(
    examples: list[Example],
    seed: int,
    fractions: tuple[float, ...] = (0.8, 0.1, 0.1),
    names: tuple[str, ...] = SPLITS,
    group: Callable[[Example], str] | None = None,
) -> dict[str, list[Example]]:
    """A seeded split with whole groups (default: all the images a row shows) in one split.

    Groups are sorted, shuffled with `seed` and cut at the cumulative fractions of the ROWS, so
    6,930 one-image rows give 5,544 / 693 / 693 (the paper's SeeTRUE sizes). Rows sharing any
    image are merged into one group first, so no image can appear in two splits.
    """
    key = group or (lambda ex: ex.images[0].digest or ex.images[0].name)
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for ex in examples:  # union rows that share an image (pairwise rows show two)
        keys = [key(ex)] + ([im.digest or im.name for im in ex.images[1:]] if group is None else [])
        for k in keys[1:]:
            parent[root(k)] = root(keys[0])
    groups: dict[str, list[Example]] = {}
    for ex in examples:
        groups.setdefault(root(key(ex)), []).append(ex)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    total, cuts, acc = len(examples), [], 0.0
    for frac in fractions[:-1]:
        acc += frac
        cuts.append(round(total * acc))
    out: dict[str, list[Example]] = {name: [] for name in names}
    done = 0
    for g in order:
        index = sum(done >= c for c in cuts)
        out[names[index]].extend(groups[g])
        done += len(groups[g])
    return out


# ---------------------------------------------------------------------------------------------
# Labels and prompts.


def parse_int_label(value: Any, allowed: tuple[int, ...], field_name: str) -> int:
    """An integer label from CSV text, a number or a bool-like value; a RowError otherwise."""
    text = str(value).strip() if value is not None else ""
    try:
        number = float(text)
        if number != int(number):
            raise ValueError
        number = int(number)
    except (ValueError, OverflowError):  # OverflowError: "inf"
        raise RowError(field_name, f"unexpected label value {text!r}; expected {' or '.join(map(str, allowed))}") from None
    if number not in allowed:
        raise RowError(field_name, f"unexpected label value {text!r}; expected {' or '.join(map(str, allowed))}")
    return number


def parse_float(value: Any, field_name: str) -> float:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        raise RowError(field_name, f"{value!r} is not a number") from None
    if number != number:  # NaN
        raise RowError(field_name, "is empty (NaN)")
    if math.isinf(number):  # would silently become the top (or bottom) of every cut
        raise RowError(field_name, f"{value!r} is not a finite number")
    return number


def normalise_prompt(text: str) -> str:
    """Prompt identity for de-duplication: case, punctuation and spacing do not matter."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", str(text).lower())).strip()


def training_prompts(data_dir: Path) -> set[str]:
    """Normalised texts of every task's train split under a data folder (for de-duplication)."""
    import datasets

    from ..dataset import available_tasks

    prompts: set[str] = set()
    for task in available_tasks(data_dir):
        split = Path(data_dir) / task / "train"
        if not (split / "dataset_info.json").is_file():
            continue
        try:
            ds = datasets.load_from_disk(str(split))
        except (*_parquet_errors(), KeyError, TypeError) as e:
            raise JudgeError(f"{split}: cannot load ({_reason(e)})") from None
        if "text" in ds.column_names:
            prompts.update(normalise_prompt(t) for t in ds.data.column("text").to_pylist() if t)
    prompts.discard("")
    return prompts


def ensure_task(task) -> None:
    """Register `task` unless a task of that name exists (an equal one, or the user's own)."""
    from ...errors import UnknownTaskError
    from ...tasks import register_task

    try:
        get_task(task.name)
    except UnknownTaskError:
        register_task(task)


# ---------------------------------------------------------------------------------------------
# The adapter interface.


@dataclass
class AdapterResult:
    """What an adapter returns: rows per task and split, and optional side datasets (not tasks)."""

    tasks: dict[str, dict[str, list[Example]]]
    extras: dict[str, list[Example]] = field(default_factory=dict)


class Adapter:
    """One publisher's layout. Subclasses set the class attributes and implement `read`."""

    name: str = ""
    description: str = ""
    tasks: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    source_help: str = ""

    def read(self, source: Path, ctx: ImportContext, **options) -> AdapterResult:
        raise NotImplementedError

    def count_rows(self, source: Path, **options) -> int:
        """Rows to read, for the progress bar (0 = unknown)."""
        return 0

    def describe(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "tasks": list(self.tasks),
            "source": self.source_help,
            "options": [
                {
                    "name": o.name,
                    "flag": o.flag,
                    "type": o.type.__name__,
                    "default": o.default,
                    "help": o.help,
                    "choices": list(o.choices) if o.choices else None,
                }
                for o in self.options
            ],
        }
