"""Decoding untrusted uploads: format by content, limits from the header, corruption, orientation, modes."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from jobs.images import UnusableImageError, decode_image, encode_png

LIMITS = {"max_pixels": 1_000_000, "max_side": 2000}


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that announces width x height pixels but carries almost no data: a decompression bomb's
    header, which must be rejected without decoding anything."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def rgb() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8))


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_the_three_allowed_formats_decode(rgb: Image.Image, image_format: str) -> None:
    decoded = decode_image(encode(rgb, image_format), field="image", **LIMITS)
    assert (decoded.width, decoded.height, decoded.format) == (80, 60, image_format)


def test_the_format_is_recognised_from_the_bytes_not_a_name(rgb: Image.Image) -> None:
    with pytest.raises(UnusableImageError, match="image: not a PNG, JPEG or WebP image"):
        decode_image(encode(rgb, "GIF"), field="image", **LIMITS)


def test_text_is_not_an_image() -> None:
    with pytest.raises(UnusableImageError, match="mask: not a PNG, JPEG or WebP image"):
        decode_image(b"hello, world", field="mask", **LIMITS)


def test_an_empty_file_is_rejected() -> None:
    with pytest.raises(UnusableImageError, match="the file is empty"):
        decode_image(b"", field="image", **LIMITS)


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_a_truncated_file_is_rejected(rgb: Image.Image, image_format: str) -> None:
    data = encode(rgb, image_format)
    with pytest.raises(UnusableImageError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2], field="image", **LIMITS)


def test_a_decompression_bomb_is_rejected_from_its_header() -> None:
    with pytest.raises(
        UnusableImageError, match=r"5000x5000 \(25.0 megapixels\); the limit is 1.0 megapixels"
    ):
        decode_image(png_header_only(5000, 5000), field="image", max_pixels=1_000_000, max_side=100_000)


def test_a_bomb_beyond_pillows_own_limit_is_rejected_too() -> None:
    with pytest.raises(UnusableImageError, match=r"far too many pixels; the limit is 10000\.0 megapixels"):
        decode_image(png_header_only(60000, 60000), field="image", max_pixels=10**10, max_side=10**6)


def test_a_side_longer_than_the_limit_is_rejected() -> None:
    with pytest.raises(UnusableImageError, match="longest side may be at most 2000 pixels"):
        decode_image(png_header_only(3000, 10), field="image", **LIMITS)


def test_exif_orientation_is_applied(rgb: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    decoded = decode_image(encode(rgb, "JPEG", exif=exif), field="image", **LIMITS)
    assert decoded.image.size == (60, 80)


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    levels = np.full((4, 4), 100 * 257, dtype=np.uint16)
    decoded = decode_image(encode_png(Image.fromarray(levels)), field="image", **LIMITS)
    assert decoded.image.mode == "L"
    assert np.asarray(decoded.image)[0, 0] == 100


def test_cmyk_jpegs_become_rgb(rgb: Image.Image) -> None:
    decoded = decode_image(encode(rgb.convert("CMYK"), "JPEG"), field="image", **LIMITS)
    assert decoded.image.mode == "RGB"


def test_alpha_is_kept_for_the_tasks_to_interpret(rgb: Image.Image) -> None:
    decoded = decode_image(encode_png(rgb.convert("RGBA")), field="mask", **LIMITS)
    assert decoded.image.mode == "RGBA"
