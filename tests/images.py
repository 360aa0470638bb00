"""Test pictures for image-to-video: good ones and every kind the rules refuse, as bytes."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image

RED = (200, 30, 30)
BLUE = (30, 60, 200)


def picture(
    size: tuple[int, int] = (640, 360),
    color: tuple[int, int, int] = RED,
    fmt: str = "PNG",
    mode: str = "RGB",
    **save,
) -> bytes:
    """A picture of one colour with a white square in its top-left quarter (so a frame of
    the video can be told from a flat colour), encoded as `fmt`."""
    image = Image.new("RGB", size, color)
    image.paste((255, 255, 255), (size[0] // 8, size[1] // 8, size[0] // 4, size[1] // 4))
    if mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def animated_png() -> bytes:
    frames = [Image.new("RGB", (400, 400), color) for color in (RED, BLUE)]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def cmyk_jpeg() -> bytes:
    return picture(fmt="JPEG", mode="CMYK")


def bomb_png(side: int = 30_000) -> bytes:
    """A tiny PNG whose header claims side×side pixels of grey (a decompression bomb):
    the rows are all zero bytes, which compress to almost nothing."""
    raw = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    body = b"".join(raw.compress(row) for _ in range(64)) + raw.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def with_exif(size: tuple[int, int] = (640, 360), orientation: int = 6) -> bytes:
    """A JPEG carrying EXIF: a camera model and an orientation (6: turn 90° clockwise)."""
    image = Image.new("RGB", size, RED)
    exif = Image.Exif()
    exif[0x0110] = "Secret Camera 9000"  # Model
    exif[0x0112] = orientation  # Orientation
    exif[0x8825] = {2: (52.0, 31.0, 0.0)}  # GPSInfo: latitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def large_png(megabytes: float = 10.5) -> bytes:
    """A PNG over `megabytes` (random noise does not compress)."""
    import os

    side = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=0)
    return out.getvalue()
