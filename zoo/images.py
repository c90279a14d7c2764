"""The one way zoo turns an image file into uint8 (C, H, W) pixels, for folder datasets (`zoo data add`)
and for `zoo predict` alike: EXIF orientation applied, 16-bit pixels scaled to 8 bits, Pillow's "L"
(ITU-R 601-2 luma) or "RGB", bilinear resizing with Pillow's antialiasing, the aspect ratio not kept. A
model trained on a folder dataset sees at training what `zoo predict` feeds it; tests/test_folder_data.py
checks the two agree pixel for pixel over PNG, JPEG, palette, RGBA, 16-bit and EXIF-rotated files.

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

RESIZE_FILTER = "bilinear"  # Pillow's name; exports record it in `image_preprocessing`

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


def convert(image: Any, kind: str | None, channels: int, height: int, width: int) -> np.ndarray:
    """An open Pillow image as uint8 (C, H, W)."""
    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(image)  # phone photos store their rotation in EXIF
    image = eight_bit(image, kind).convert("L" if channels == 1 else "RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling[RESIZE_FILTER.upper()])
    pixels = np.asarray(image, dtype=np.uint8)
    return np.ascontiguousarray(pixels[None] if channels == 1 else pixels.transpose(2, 0, 1))


def decode_image(
    source: str | os.PathLike | IO[bytes], channels: int, height: int, width: int
) -> DecodedImage:
    """Open `source` (a path or a binary file object) and convert it; ImageRefused says why not.

    An image past Pillow's MAX_IMAGE_PIXELS is refused as a decompression bomb (`strict_warnings`)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with strict_warnings(), Image.open(source) as image:
            kind, size, mode = image.format, image.size, image.mode
            pixels = convert(image, kind, channels, height, width)
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
