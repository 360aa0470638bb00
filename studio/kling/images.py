"""The image rules of image2video (docs/upstream.md §15.1): what an `image` or `image_tail`
may be, checked the same way by the studio form (on an upload) and by the simulator (on
the wire), and the re-encoding the studio sends instead of the file it was given.

jpg/jpeg/png only, at most 10 MB, each side at least 300 px, aspect between 1:2.5 and
2.5:1; on the wire raw base64 or an http(s) URL, never a `data:` URL. The studio refuses
more than Kling documents (an animated image, a CMYK one, a decompression bomb): each is
a picture the person would not get back as they meant it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024  # §15.1: ≤ 10 MB
MIN_SIDE = 300  # §15.1: each side ≥ 300 px
MIN_ASPECT, MAX_ASPECT = 1 / 2.5, 2.5  # §15.1: width / height between 1:2.5 and 2.5:1
# Pixels read from a header before anything is decoded: a small file may claim a huge
# picture (a decompression bomb), and decoding it would take gigabytes.
MAX_PIXELS = 40_000_000
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
JPEG_QUALITY = 92


class ImageRefused(ValueError):
    """The image breaks one of the rules; the message says which, for a person."""


@dataclass(frozen=True)
class Picture:
    """An image as the studio stores and sends it: re-encoded, without metadata."""

    data: bytes
    format: str  # "JPEG" or "PNG"
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def extension(self) -> str:
        return "jpg" if self.format == "JPEG" else "png"

    @property
    def content_type(self) -> str:
        return FORMATS[self.format]

    def base64(self) -> str:
        """Raw base64 with no `data:` prefix, as §15.1 (and §12.8) asks."""
        return base64.b64encode(self.data).decode("ascii")


def check(data: bytes) -> Image.Image:
    """The opened image when `data` keeps every rule; ImageRefused otherwise. Only the
    header is read before the size checks, so a bomb is refused without decoding it."""
    if not data:
        raise ImageRefused("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ImageRefused(f"The image is {_mb(len(data))}; the limit is 10 MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(_too_many_pixels()) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageRefused("The file is not a JPEG or PNG image.") from None
    # A camera's MPO is a JPEG with more pictures after it: the first one is the photo.
    still = image.format == "MPO"
    if image.format not in FORMATS and not still:
        raise ImageRefused(f"The image is {image.format or 'of an unknown kind'}; use JPEG or PNG.")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageRefused(_too_many_pixels(f" ({width}×{height})"))
    check_size(width, height)
    if not still and (getattr(image, "is_animated", False) or getattr(image, "n_frames", 1) > 1):
        raise ImageRefused("The image is animated; use a still JPEG or PNG.")
    if image.mode == "CMYK":
        raise ImageRefused("The image is CMYK (print colours); save it as RGB and try again.")
    return image


def check_size(width: int, height: int) -> None:
    if min(width, height) < MIN_SIDE:
        raise ImageRefused(
            f"The image is {width}×{height} pixels; each side must be at least {MIN_SIDE}."
        )
    if not MIN_ASPECT <= width / height <= MAX_ASPECT:
        raise ImageRefused(
            f"The image is {width}×{height} pixels; its aspect must be between 1:2.5 and 2.5:1."
        )


def prepare(data: bytes) -> Picture:
    """The image re-encoded as the studio sends it: turned upright by its EXIF orientation,
    then saved again (JPEG stays JPEG, PNG stays PNG) with no EXIF or other metadata."""
    image = check(data)
    kind = "PNG" if image.format == "PNG" else "JPEG"
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ImageRefused("The image could not be read; it may be damaged.") from None
    check_size(*upright.size)
    out = io.BytesIO()
    if kind == "JPEG":
        upright.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
        upright.convert("RGBA" if alpha else "RGB").save(out, "PNG", optimize=False)
    encoded = out.getvalue()
    if len(encoded) > MAX_BYTES:
        raise ImageRefused(f"The image is {_mb(len(encoded))} once saved; the limit is 10 MB.")
    return Picture(encoded, kind, *upright.size)


def from_wire(value: object) -> bytes | None:
    """The image bytes of a body's `image` or `image_tail`: decoded raw base64, or None
    for an http(s) URL (not fetched). ImageRefused for anything else."""
    if not isinstance(value, str) or not value:
        raise ImageRefused("must be a non-empty string (raw base64 or a URL).")
    if value.startswith(("http://", "https://")):
        return None
    if value[:5].lower() == "data:":
        raise ImageRefused("must be raw base64 without a data:image/...;base64, prefix.")
    if len(value) > (MAX_BYTES * 4) // 3 + 4:
        raise ImageRefused("is larger than 10 MB.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ImageRefused("is neither a URL nor valid base64.") from None


def wire_problem(value: object) -> str:
    """Why a body's `image` or `image_tail` would be refused upstream, or ""."""
    try:
        data = from_wire(value)
        if data is not None:
            check(data)
    except ImageRefused as refused:
        return str(refused)
    return ""


def _too_many_pixels(size: str = "") -> str:
    return (
        f"The image claims too many pixels{size}; "
        f"at most {MAX_PIXELS // 1_000_000} million are read."
    )


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
