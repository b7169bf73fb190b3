"""Opening images safely: one-line errors naming the file, limits checked before decoding.

Every image a judge sees goes through `load_image`: the pixel limit and the aspect-ratio limit
(Qwen-VL processors refuse images more than 200 times wider than high, or higher than wide) are
checked from the header, so that an image the model step would crash on is refused here, with
its name, instead of failing a whole batch later. `fit_pixels` downscales a decoded image to the
model's own pixel budget right away, so that a server does not hold full-size pixels it would
resize anyway.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import InvalidImageError, JudgeError

# The paper's maximum image resolution (Tables 4/5): 2048 x 2048.
DEFAULT_MAX_PIXELS = 4_194_304
# Qwen2-VL / Qwen3-VL image processors raise for a larger ratio of the long side to the short side.
DEFAULT_MAX_ASPECT_RATIO = 200.0


# What PIL raises for a file that is not an image, is truncated or corrupt, or is a decompression bomb.
READ_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError, ValueError,
               SyntaxError, MemoryError)


def unreadable_reason(error: BaseException) -> str:
    """The one-line reason for one of READ_ERRORS."""
    if isinstance(error, (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return f"not a readable image ({error.__class__.__name__})"
    return f"not a readable image ({str(error).splitlines()[0] if str(error) else error.__class__.__name__})"


def size_problem(width: int, height: int, max_pixels: int, max_aspect_ratio: float) -> str | None:
    """Why an image of this size (read from its header) is refused, or None: the limits every image a
    judge or a trainer takes is held to."""
    if width * height > max_pixels:
        return f"{width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,} (max_pixels)"
    if width < 1 or height < 1 or max(width, height) / min(width, height) > max_aspect_ratio:
        return f"{width}x{height} is more elongated than the model accepts (aspect ratio at most {max_aspect_ratio:g})"
    return None


def fit_to_pixels(image: Image.Image, fit_pixels: int) -> Image.Image:
    """`image` scaled down (aspect kept, bicubic like the Qwen processors) to at most `fit_pixels`."""
    width, height = image.size
    if width * height <= fit_pixels:
        return image
    scale = (fit_pixels / (width * height)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


def load_image(
    source,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_aspect_ratio: float = DEFAULT_MAX_ASPECT_RATIO,
    fit_pixels: int | None = None,
    where: str = "",
) -> Image.Image:
    """Open `source` as an RGB PIL image, fully decoded.

    `source` may be a path, a PIL image, raw bytes, or a Hugging Face image dict
    ({"bytes": ..., "path": ...}). The size is checked against `max_pixels` and
    `max_aspect_ratio` from the header, before the pixels are decoded; PIL's own
    decompression-bomb guard stays on as well. With `fit_pixels`, a larger image is scaled
    down to that many pixels once decoded. Raises InvalidImageError; `where` prefixes error
    messages (e.g. "input.jsonl:3: field 'images'").
    """
    prefix = f"{where}: " if where else ""
    name = "image"
    try:
        if isinstance(source, Image.Image):
            image = source
        elif isinstance(source, dict) and (source.get("bytes") or source.get("path")):
            if source.get("bytes"):
                name = source.get("path") or "image bytes"
                image = Image.open(io.BytesIO(source["bytes"]))
            else:
                name = str(source["path"])
                image = Image.open(source["path"])
        elif isinstance(source, (bytes, bytearray)):
            name = "image bytes"
            image = Image.open(io.BytesIO(source))
        elif isinstance(source, (str, Path)):
            name = str(source)
            if not Path(source).is_file():
                raise InvalidImageError(f"{prefix}{name}: image file not found")
            image = Image.open(source)
        else:
            raise InvalidImageError(f"{prefix}expected an image path, bytes or PIL image, got {type(source).__name__}")
        problem = size_problem(*image.size, max_pixels, max_aspect_ratio)
        if problem is not None:
            raise InvalidImageError(f"{prefix}{name}: {problem}")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()  # decode now, so a truncated file fails here and not inside a batch
        image = image if image.mode == "RGB" else image.convert("RGB")
        return fit_to_pixels(image, fit_pixels) if fit_pixels else image
    except JudgeError:
        raise
    except READ_ERRORS as e:
        raise InvalidImageError(f"{prefix}{name}: {unreadable_reason(e)}") from None
