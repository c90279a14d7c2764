"""The one way zoo turns an image file into uint8 (C, H, W) pixels, for folder datasets (`zoo data add`)
and for `zoo predict` alike: EXIF orientation applied, 16-bit pixels scaled to 8 bits, Pillow's "L"
(ITU-R 601-2 luma) or "RGB", bilinear resizing with Pillow's antialiasing to HxW in one of three ways
(`fit`): stretched (the aspect ratio not kept), padded (kept, black borders) or cropped (kept, the centre).
A model trained on a folder dataset sees at training what `zoo predict` feeds it; tests/test_folder_data.py
checks the two agree pixel for pixel over PNG, JPEG, palette, RGBA, 16-bit and EXIF-rotated files.

Sizes are (height, width); `parse_size` reads them as users write them: N for a square, HxW otherwise.

Failures are `ImageRefused` with a short reason (the kind of problem, counted in reports) and a detail:
whatever a Pillow decoder raises (a corrupt file of a format with a plugin raises anything from OSError
to NotImplementedError), and an image past Pillow's bomb limit, which is refused rather than decoded
into gigabytes or announced as a raw warning on stderr.
"""

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from zoo.core.errors import UsageError
from zoo.core.schema import MAX_SIDE

RESIZE_FILTER = "bilinear"  # Pillow's name; exports record it in `image_preprocessing`
# How an image of another aspect ratio becomes HxW (`zoo data add --resize`): stretch resizes it to HxW
# (the aspect ratio not kept; the default, and all zoo did before); pad resizes it to fit inside HxW and
# centres it on black (0); crop resizes it to cover HxW and keeps the centre.
RESIZE_MODES = ("stretch", "pad", "crop")
STRETCH = "stretch"

# The kinds of refusal, as reports count them.
NOT_AN_IMAGE = "not an image"
CORRUPT = "corrupt or truncated image"
BOMB = "decompression bomb"
UNSUPPORTED = "unsupported pixels"
UNREADABLE = "unreadable"

# 16-bit grayscale: Pillow reads PNG, TIFF and PGM files as "I;16" (or "I;16B", ...), and older Pillows
# and PGM files with a maxval above 255 as "I" holding 0..65535 .
_SIXTEEN_BIT_AS_I = ("PNG", "PPM")


class ImageRefused(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # uint8 (C, H, W), contiguous
    size: tuple[int, int]  # (width, height) as stored in the file
    mode: str  # Pillow's mode as stored: "L", "RGB", "P", "I;16", ...


@contextmanager
def strict_warnings() -> Iterator[None]:
    """DecompressionBombWarning as an error (the image is refused), Pillow's other warnings silenced (a
    palette image with transparency is converted as asked, not a line on the terminal per file)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _sides(value: object) -> tuple[int, int] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value, value
    if isinstance(value, list | tuple) and len(value) == 2:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return int(value[0]), int(value[1])
        return None
    if isinstance(value, str):
        parts = value.strip().lower().split("x")
        if len(parts) in (1, 2) and all(p.strip().isascii() and p.strip().isdigit() for p in parts):
            numbers = [int(p) for p in parts]
            return (numbers[0], numbers[-1]) if len(numbers) == 2 else (numbers[0], numbers[0])
    return None


def parse_size(value: object, what: str = "--size") -> tuple[int, int]:
    """(height, width) of a size as users give it: N or "N" (a square), "HxW", or [H, W] (a JSON file);
    a UsageError in one line otherwise, `what` naming the option."""
    sides = _sides(value)
    if sides is None or not all(1 <= side <= MAX_SIDE for side in sides):
        raise UsageError(
            f"{what} must be an integer from 1 to {MAX_SIDE} (pixels per side) or HxW with both in that "
            f"range (48x192; [48, 192] in JSON), got {value!r}"
        )
    return sides


def size_text(height: int, width: int) -> str:
    """A size as `--size` takes it: 32 for a square, 48x192 otherwise."""
    return f"{height}" if height == width else f"{height}x{width}"


def check_resize_mode(mode: object, what: str = "--resize") -> str:
    if mode not in RESIZE_MODES:
        raise UsageError(
            f"{what} must be stretch (the aspect ratio not kept), pad (kept, black borders) or crop (kept, "
            f"the centre), got {mode!r}"
        )
    return str(mode)


def fit(image: Any, height: int, width: int, mode: str = STRETCH) -> Any:
    """The Pillow image `image` (already "L" or "RGB") at width x height, resized as `mode` says (see
    RESIZE_MODES) with RESIZE_FILTER, antialiased when it shrinks. The one resize of zoo: folder datasets,
    `zoo predict` and the test images fed to a model zoo did not make."""
    from PIL import Image

    check_resize_mode(mode, "resize mode")
    w, h = image.size
    if (w, h) == (width, height):
        return image
    resample = Image.Resampling[RESIZE_FILTER.upper()]
    if mode == STRETCH:
        return image.resize((width, height), resample)
    if mode == "pad":
        scale = min(width / w, height / h)
        inner = (min(width, max(1, round(w * scale))), min(height, max(1, round(h * scale))))
        canvas = Image.new(image.mode, (width, height), 0)
        canvas.paste(image.resize(inner, resample), ((width - inner[0]) // 2, (height - inner[1]) // 2))
        return canvas
    # crop: the centred part of the image with the target's aspect ratio, resized to width x height (Pillow
    # resizes a box of the source: no second resampling, no rounding of an intermediate size)
    scale = max(width / w, height / h)
    box_w, box_h = min(float(w), width / scale), min(float(h), height / scale)
    left, top = (w - box_w) / 2, (h - box_h) / 2
    box = (left, top, left + box_w, top + box_h)
    if all(float(edge).is_integer() for edge in box):  # whole pixels: cut exactly, then resize if need be
        image = image.crop(tuple(int(edge) for edge in box))
        return image if image.size == (width, height) else image.resize((width, height), resample)
    return image.resize((width, height), resample, box=box)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def eight_bit(image: Any, kind: str | None) -> Any:
    """`image` with 8-bit pixels: 16-bit ones scaled (65535 -> 255) rather than clipped as Pillow's convert
    does; 32-bit integer and float pixels, whose range the file does not say, are refused."""
    from PIL import Image

    if image.mode.startswith("I;16") or (image.mode == "I" and kind in _SIXTEEN_BIT_AS_I):
        sixteen = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.rint(sixteen * (255.0 / 65535)).astype(np.uint8))
    if image.mode in ("I", "F"):
        what = "32-bit integer" if image.mode == "I" else "floating-point"
        raise ImageRefused(UNSUPPORTED, f"{what} pixels, whose range zoo cannot know")
    return image


def convert(
    image: Any, kind: str | None, channels: int, height: int, width: int, resize: str = STRETCH
) -> np.ndarray:
    """An open Pillow image as uint8 (C, H, W), resized as `resize` says (`fit`)."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image)  # phone photos store their rotation in EXIF
    image = fit(eight_bit(image, kind).convert("L" if channels == 1 else "RGB"), height, width, resize)
    pixels = np.array(image, dtype=np.uint8)  # its own writable copy: Pillow's buffer is read-only
    return np.ascontiguousarray(pixels[None] if channels == 1 else pixels.transpose(2, 0, 1))


def decode_image(
    source: str | os.PathLike | IO[bytes], channels: int, height: int, width: int, resize: str = STRETCH
) -> DecodedImage:
    """Open `source` (a path or a binary file object) and convert it to (channels, height, width), resized
    as `resize` says (stretch, pad or crop); ImageRefused says why not.

    An image past Pillow's MAX_IMAGE_PIXELS is refused as a decompression bomb (`strict_warnings`)."""
    from PIL import Image, UnidentifiedImageError

    check_resize_mode(resize, "resize mode")  # a caller's mistake, not a corrupt file
    try:
        with strict_warnings(), Image.open(source) as image:
            kind, size, mode = image.format, image.size, image.mode
            pixels = convert(image, kind, channels, height, width, resize)
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRefused(BOMB, _first_line(exc)) from None
    except UnidentifiedImageError:
        raise ImageRefused(NOT_AN_IMAGE, "Pillow cannot identify it") from None
    except MemoryError:
        raise ImageRefused(BOMB, "decoding it exhausted memory") from None
    except Exception as exc:  # Pillow's decoders raise OSError, ValueError, SyntaxError, struct.error, ...
        raise ImageRefused(CORRUPT, _first_line(exc)) from None
    return DecodedImage(pixels, (int(size[0]), int(size[1])), str(mode))
