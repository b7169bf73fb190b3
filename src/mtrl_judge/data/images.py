"""Opening images safely: one-line errors naming the file, and a pixel limit checked before decoding."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import JudgeError

# The paper's maximum image resolution (Tables 4/5): 2048 x 2048.
DEFAULT_MAX_PIXELS = 4_194_304


def load_image(source, *, max_pixels: int = DEFAULT_MAX_PIXELS, where: str = "") -> Image.Image:
    """Open `source` as an RGB PIL image, fully decoded.

    `source` may be a path, a PIL image, raw bytes, or a Hugging Face image dict
    ({"bytes": ..., "path": ...}). The size is checked against `max_pixels` from the header,
    before the pixels are decoded; PIL's own decompression-bomb guard stays on as well.
    `where` prefixes error messages (e.g. "input.jsonl:3: field 'images'").
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
                raise JudgeError(f"{prefix}{name}: image file not found")
            image = Image.open(source)
        else:
            raise JudgeError(f"{prefix}expected an image path, bytes or PIL image, got {type(source).__name__}")
        width, height = image.size
        if width * height > max_pixels:
            raise JudgeError(
                f"{prefix}{name}: {width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,} (max_pixels)"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()  # decode now, so a truncated file fails here and not inside a batch
        return image if image.mode == "RGB" else image.convert("RGB")
    except JudgeError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise JudgeError(f"{prefix}{name}: not a readable image ({e.__class__.__name__})") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise JudgeError(f"{prefix}{name}: not a readable image ({str(e).splitlines()[0] if str(e) else e.__class__.__name__})") from None
