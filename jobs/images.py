"""Safe decoding of untrusted uploads, shared by the API (to validate) and the workers (to sample).

The format is recognised from the bytes, never from the file name or the declared content type; the pixel
count and side lengths are checked from the header before any pixel is decoded, so a small file that
expands to gigabytes (a decompression bomb) is rejected without being expanded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
# Modes the tasks handle as they are (alpha included); anything else is normalised on decode.
_STANDARD_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA"})
# What Pillow raises for a file whose header parsed but whose data is broken or cut short.
_CORRUPT_ERRORS = (OSError, SyntaxError, ValueError, EOFError)


class UnusableImageError(ValueError):
    """An upload cannot be used; the message is meant for the user."""


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image
    format: str  # one of ALLOWED_FORMATS

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


def decode_image(data: bytes, *, field: str, max_pixels: int, max_side: int) -> DecodedImage:
    """Decode ``data`` (the upload called ``field``) into an upright image in a standard mode."""
    if not data:
        raise UnusableImageError(f"{field}: the file is empty")
    try:
        opened = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise UnusableImageError(f"{field}: not a PNG, JPEG or WebP image") from None
    except Image.DecompressionBombError:  # far beyond our limit: Pillow refuses it before we can look
        raise UnusableImageError(
            f"{field}: the image has far too many pixels; the limit is {max_pixels / 1e6:.1f} megapixels"
        ) from None
    except _CORRUPT_ERRORS as error:
        raise UnusableImageError(f"{field}: the file is corrupt ({error})") from None
    with opened:
        _check_dimensions(opened.size, field=field, max_pixels=max_pixels, max_side=max_side)
        image_format = str(opened.format)
        try:
            opened.load()
            upright = ImageOps.exif_transpose(opened)
        except _CORRUPT_ERRORS as error:
            raise UnusableImageError(f"{field}: the file is truncated or corrupt ({error})") from None
    return DecodedImage(image=_standard_mode(upright), format=image_format)


def _check_dimensions(size: tuple[int, int], *, field: str, max_pixels: int, max_side: int) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise UnusableImageError(f"{field}: the image has no pixels ({width}x{height})")
    if max(width, height) > max_side:
        raise UnusableImageError(
            f"{field}: the image is {width}x{height}; its longest side may be at most {max_side} pixels"
        )
    if width * height > max_pixels:
        raise UnusableImageError(
            f"{field}: the image is {width}x{height} ({width * height / 1e6:.1f} megapixels); "
            f"the limit is {max_pixels / 1e6:.1f} megapixels"
        )


def _standard_mode(image: Image.Image) -> Image.Image:
    """16-bit grayscale scaled to 8 bits (Pillow would clip it), CMYK and other colour spaces to RGB."""
    if image.mode in _STANDARD_MODES:
        return image
    if image.mode.startswith("I"):  # 16-bit grayscale PNG ("I;16", or "I" in older Pillow)
        levels = np.asarray(image).astype(np.int64) >> 8
        return Image.fromarray(np.clip(levels, 0, 255).astype(np.uint8))
    return image.convert("RGB")


def encode_png(image: Image.Image) -> bytes:
    """Lossless PNG bytes of a result."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
