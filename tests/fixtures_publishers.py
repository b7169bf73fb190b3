"""Generators of small fixtures in each publisher's exact layout (file names, column names and
dtypes, zips of .webp, parquet image structs {bytes, path}), for the adapter tests.

Nothing here is committed data: every file is generated into a temporary folder. Each generator
takes `bad`, a kind of damage to inject into one row, so each bad-input case is one argument:
    missing-column | missing-image | truncated | not-an-image | bad-label | duplicate
Images are distinct (each encodes its index), so content digests identify them.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
BAD_ROW = 3  # the data row (0-based) that `bad` damages


def image_bytes(i: int, fmt: str = "PNG", size: tuple[int, int] = (64, 64)) -> bytes:
    """A distinct image: red for even i, blue for odd (so fake judges can read the label), with i
    written in its corner pixels so that no two images share bytes."""
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle((8, 8, size[0] - 8, size[1] - 8), fill="red" if i % 2 == 0 else "blue")
    for bit in range(16):
        image.putpixel((bit, size[1] - 1), (0, 0, 0) if (i >> bit) & 1 else (255, 255, 255))
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    return buf.getvalue()


def damage(data: bytes, bad: str | None) -> bytes:
    if bad == "truncated":
        return data[: len(data) // 2]
    if bad == "not-an-image":
        return b"this is not an image\n"
    return data


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows([{c: r[c] for c in columns} for r in rows])


def _write_parquet(path: Path, columns: dict[str, list], types: dict[str, pa.DataType]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({name: pa.array(values, type=types.get(name)) for name, values in columns.items()}), path)


def _struct(data: bytes, name: str) -> dict:
    return {"bytes": data, "path": name}


def make_seetrue(root: Path, n: int = 30, *, bad: str | None = None, folder: bool = False) -> Path:
    """SeeTRUE.csv (image, text, label, original_dataset_id, dataset_source) + images.zip or images/.
    Rows 0-5 share images in pairs (one image, two texts), as SeeTRUE's contrast captions do;
    label 1 for even rows."""
    root.mkdir(parents=True, exist_ok=True)
    rows, files = [], {}
    for i in range(n):
        k = i // 2 if i < 6 else i
        name = f"{k}_a=few_o=cat_s=indoor.png"
        files[name] = image_bytes(k)
        rows.append(
            {
                "image": name,
                "text": f"a {'red' if i % 2 == 0 else 'blue'} square number {i}",
                "label": 1 if i % 2 == 0 else 0,
                "original_dataset_id": f"orig-{i}",
                "dataset_source": ["drawbench", "coco_t2i", "pickapic_t2i"][i % 3],
            }
        )
    target = rows[BAD_ROW + 3]  # a row with its own image
    if bad == "missing-image":
        target["image"] = "0_x.png"
    elif bad in ("truncated", "not-an-image"):
        files[target["image"]] = damage(files[target["image"]], bad)
    elif bad == "bad-label":
        target["label"] = "maybe"
    elif bad == "duplicate":
        rows.append(dict(rows[BAD_ROW + 3]))
    columns = ["image", "text", "label", "original_dataset_id", "dataset_source"]
    if bad == "missing-column":
        columns.remove("label")
    _write_csv(root / "SeeTRUE.csv", columns, rows)
    if folder:
        (root / "images").mkdir(exist_ok=True)
        for name, data in files.items():
            (root / "images" / name).write_bytes(data)
    else:
        with zipfile.ZipFile(root / "images.zip", "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    return root


IMAGEREWARD_SIZES = {"train": 24, "validation": 8, "test": 10}


def imagereward_rating(split: str, i: int) -> int:
    return [7, 2, 6, 3, 4, 5, 1][(i + len(split)) % 7]


def make_imagereward(root: Path, *, bad: str | None = None, train_zips: int = 2, extra_train_rows: int = 0) -> Path:
    """metadata-{split}.parquet + images/{split}/{split}_{i}.zip of .webp files; the parquet's
    `image` is the path. Train images are spread over `train_zips` zips; `extra_train_rows` train
    rows name images that are in no zip present (another subset, not downloaded)."""
    for split, n in IMAGEREWARD_SIZES.items():
        zips = train_zips if split == "train" else 1
        members: dict[int, dict[str, bytes]] = {z: {} for z in range(1, zips + 1)}
        cols: dict[str, list] = {
            c: []
            for c in (
                "image",
                "prompt_id",
                "prompt",
                "classification",
                "image_amount_in_total",
                "rank",
                "overall_rating",
                "image_text_alignment_rating",
                "fidelity_rating",
            )
        }
        total = n + (extra_train_rows if split == "train" else 0)
        for i in range(total):
            zip_index = 1 + i % zips
            name = f"{split}-{i:04d}-{'a' * 8}.webp"
            if i < n:
                members[zip_index][name] = image_bytes(1000 * len(split) + i, "WEBP")
            prompt_id = f"{split}-p{i // 4}"
            rating = imagereward_rating(split, i)
            for col, value in (
                ("image", f"images/{split}/{split}_{zip_index}/{name}"),
                ("prompt_id", prompt_id),
                ("prompt", f"a picture for prompt {prompt_id}"),
                ("classification", "People"),
                ("image_amount_in_total", 4),
                ("rank", 1 + i % 4),
                ("overall_rating", rating),
                ("image_text_alignment_rating", max(1, rating - 1)),
                ("fidelity_rating", rating),
            ):
                cols[col].append(value)
        if split == "test":
            if bad == "missing-image":
                del members[1][Path(cols["image"][BAD_ROW]).name]
            elif bad in ("truncated", "not-an-image"):
                name = Path(cols["image"][BAD_ROW]).name
                members[1][name] = damage(members[1][name], bad)
            elif bad == "bad-label":
                cols["overall_rating"][BAD_ROW] = 9
            elif bad == "duplicate":
                for values in cols.values():
                    values.append(values[BAD_ROW])
            elif bad == "missing-column":
                del cols["overall_rating"]
        _write_parquet(root / f"metadata-{split}.parquet", cols, {"rank": pa.int64(), "overall_rating": pa.int64()})
        folder = root / "images" / split
        folder.mkdir(parents=True, exist_ok=True)
        for z, files in members.items():
            with zipfile.ZipFile(folder / f"{split}_{z}.zip", "w") as zf:
                for name, data in files.items():
                    zf.writestr(name, data)
    return root


CATEGORIES = (
    "Deception",
    "Harassment",
    "Hate",
    "Illegal activity",
    "Political",
    "Public and personal health",
    "Self-harm",
    "Sexual",
    "Shocking",
    "Spam",
    "Violence",
)


def make_unsafebench(root: Path, n_train: int = 40, n_test: int = 12, *, bad: str | None = None) -> Path:
    """data/train-00000-of-00001.parquet and data/test-00000-of-00001.parquet with embedded image
    structs {bytes, path}; safety_label "Unsafe" for even rows (red images)."""
    for split, n, offset in (("train", n_train, 0), ("test", n_test, 5000)):
        cols: dict[str, list] = {"image": [], "safety_label": [], "category": [], "source": [], "text": []}
        for i in range(n):
            cols["image"].append(_struct(image_bytes(offset + i, "JPEG" if i % 3 else "PNG"), f"{split}_{i}.png"))
            cols["safety_label"].append("Unsafe" if i % 2 == 0 else "Safe")
            cols["category"].append(CATEGORIES[i % len(CATEGORIES)])
            cols["source"].append("Laion5B" if i % 2 else "Lexica")
            cols["text"].append(f"prompt {i}")
        if split == "train" and bad:
            if bad in ("truncated", "not-an-image"):
                cols["image"][BAD_ROW] = _struct(damage(cols["image"][BAD_ROW]["bytes"], bad), "x.png")
            elif bad == "missing-image":
                cols["image"][BAD_ROW] = None
            elif bad == "bad-label":
                cols["safety_label"][BAD_ROW] = "Maybe"
            elif bad == "missing-column":
                del cols["safety_label"]
        _write_parquet(root / "data" / f"{split}-00000-of-00001.parquet", cols, {"image": IMAGE_STRUCT})
    return root


def agin_mos(i: int) -> tuple[float, float, float]:
    return (round(1 + (i * 37 % 40) / 10, 2), round(1 + (i * 53 % 40) / 10, 2), round(1 + (i * 71 % 40) / 10, 2))


def make_agin(root: Path, n: int = 40, *, bad: str | None = None) -> Path:
    """AGIN.csv (filename, MOS_nat, MOS_tech, MOS_rat) + images/ of JPEG files."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        name = f"agin_{i:04d}.jpg"
        data = image_bytes(i, "JPEG")
        if i == BAD_ROW:
            data = damage(data, bad)
        if not (bad == "missing-image" and i == BAD_ROW):
            (root / "images" / name).write_bytes(data)
        nat, tech, rat = agin_mos(i)
        rows.append({"filename": name, "MOS_nat": nat, "MOS_tech": tech, "MOS_rat": rat})
    if bad == "bad-label":
        rows[BAD_ROW]["MOS_tech"] = "n/a"
    elif bad == "duplicate":
        rows.append(dict(rows[BAD_ROW]))
    columns = ["filename", "MOS_nat", "MOS_tech", "MOS_rat"]
    if bad == "missing-column":
        columns.remove("MOS_rat")
    _write_csv(root / "AGIN.csv", columns, rows)
    return root


MJBENCH_SIZES = {"alignment": 12, "safety": 10, "quality": 8, "bias": 6}


def make_mjbench(
    root: Path, *, perspectives=("alignment", "safety"), bad: str | None = None, captions: dict[int, str] | None = None
) -> Path:
    """One parquet per perspective ({perspective}.parquet): caption, image0, image1 (image
    structs), label (0/1: the preferred image; the preferred one is red), info. `captions` replaces
    alignment captions by row (to test de-duplication)."""
    for p_index, perspective in enumerate(perspectives):
        n = MJBENCH_SIZES[perspective]
        cols: dict[str, list] = {"caption": [], "image0": [], "image1": [], "label": [], "info": []}
        for i in range(n):
            label = 0 if i % 3 else 1  # skewed toward image0, as MJ-Bench's are
            good, worse = image_bytes(2 * (10000 * (p_index + 1) + i)), image_bytes(2 * (10000 * (p_index + 1) + i) + 1)
            first, second = (good, worse) if label == 0 else (worse, good)
            caption = (
                (captions or {}).get(i, f"{perspective} caption {i}")
                if perspective == "alignment"
                else f"{perspective} caption {i}"
            )
            cols["caption"].append(caption)
            cols["image0"].append(_struct(first, f"{perspective}_{i}_0.jpg"))
            cols["image1"].append(_struct(second, f"{perspective}_{i}_1.jpg"))
            cols["label"].append(label)
            cols["info"].append(["object", "attribute", "action", "count"][i % 4])
        if perspective == "alignment":
            if bad == "bad-label":
                cols["label"][BAD_ROW] = 2
            elif bad in ("truncated", "not-an-image"):
                cols["image1"][BAD_ROW] = _struct(damage(cols["image1"][BAD_ROW]["bytes"], bad), "x.jpg")
            elif bad == "missing-column":
                del cols["image1"]
        _write_parquet(
            root / f"{perspective}.parquet", cols, {"image0": IMAGE_STRUCT, "image1": IMAGE_STRUCT, "label": pa.int64()}
        )
    return root


GENAI_VOTES = ("leftvote", "rightvote", "leftvote", "tievote", "rightvote", "bothbad_vote")


def make_genai_bench(root: Path, n: int = 18, *, bad: str | None = None) -> Path:
    """image_generation/test-00000-of-00001.parquet: prompt, left_model, left_image, right_model,
    right_image (image structs), vote_type (GenAI-Arena's leftvote / rightvote / tievote / bothbad_vote)."""
    cols: dict[str, list] = {
        "prompt": [],
        "left_model": [],
        "left_image": [],
        "right_model": [],
        "right_image": [],
        "vote_type": [],
        "tstamp": [],
    }
    for i in range(n):
        vote = GENAI_VOTES[i % len(GENAI_VOTES)]
        left, right = image_bytes(2 * (50000 + i)), image_bytes(2 * (50000 + i) + 1)
        if vote == "rightvote":
            left, right = right, left  # the preferred image is red wherever it is
        cols["prompt"].append(f"genai prompt {i}")
        cols["left_model"].append("SDXL")
        cols["left_image"].append(_struct(left, f"{i}_left.png"))
        cols["right_model"].append("PlayGround V2")
        cols["right_image"].append(_struct(right, f"{i}_right.png"))
        cols["vote_type"].append(vote)
        cols["tstamp"].append(1700000000.0 + i)
    if bad == "bad-label":
        cols["vote_type"][BAD_ROW] = "upvote"
    _write_parquet(
        root / "image_generation" / "test-00000-of-00001.parquet", cols, {"left_image": IMAGE_STRUCT, "right_image": IMAGE_STRUCT}
    )
    return root
