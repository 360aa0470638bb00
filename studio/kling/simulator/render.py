"""Renders the simulator's videos: small real H.264 MP4s that show the prompt and move;
for image2video, a slow zoom over the given image (crossfading to the end frame if any)."""

from __future__ import annotations

import io
import math
import os
import textwrap
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont, ImageOps

# Small frames keep a 5 s render well under a second; every side is even for yuv420p.
SIZES: dict[str, tuple[int, int]] = {"16:9": (320, 180), "9:16": (180, 320), "1:1": (240, 240)}
DEFAULT_FPS = 10
_FONT_SIZE = 13


# image2video frames: the short side is at least Kling's 300 px minimum for an input image
# (docs/upstream.md §15.1), so a frame taken from the result can start the next shot.
IMAGE_SHORT_SIDE = 320
ZOOM = 0.12  # how far the slow zoom goes in over the whole video


def render_mp4(
    path: str | os.PathLike[str],
    prompt: str,
    aspect_ratio: str = "16:9",
    duration_s: float = 5.0,
    fps: int = DEFAULT_FPS,
    caption: str = "",
) -> Path:
    """Write an H.264 MP4 of `duration_s` seconds showing `prompt`, and return its path.

    The file is written beside `path` and renamed into place, so a reader never sees
    half a video.
    """
    width, height = SIZES.get(aspect_ratio, SIZES["16:9"])
    frames = max(1, round(duration_s * fps))
    target = Path(path)
    text_layer = _text_layer(width, height, prompt, caption or f"SIMULATED · {aspect_ratio}")

    def frame(index: int) -> Image.Image:
        return _frame(width, height, index, frames, fps, text_layer)

    return _encode(target, width, height, frames, fps, frame)


def render_from_image(
    path: str | os.PathLike[str],
    image: bytes | None,
    image_tail: bytes | None,
    prompt: str,
    duration_s: float = 5.0,
    fps: int = DEFAULT_FPS,
    caption: str = "",
) -> Path:
    """An MP4 that starts on `image` and slowly zooms into it, crossfading to `image_tail`
    over the last third when there is one; its frame follows the image's aspect. A start
    frame given as a URL (not fetched) is drawn as a test card."""
    start = _open(image) or _open(image_tail) or _card(prompt)
    tail = _open(image_tail) if image is not None else None
    width, height = _fit(start.size)
    frames = max(1, round(duration_s * fps))
    base = ImageOps.fit(start, (width * 2, height * 2), Image.Resampling.BILINEAR)
    end = ImageOps.fit(tail, (width, height), Image.Resampling.BILINEAR) if tail else None
    label = _text_layer(width, height, "", caption or "SIMULATED · image2video")

    def frame(index: int) -> Image.Image:
        progress = index / max(1, frames - 1)
        inset = ZOOM * progress / 2
        box = (
            base.width * inset,
            base.height * inset,
            base.width * (1 - inset),
            base.height * (1 - inset),
        )
        shot = base.resize((width, height), Image.Resampling.BILINEAR, box=box)
        if end is not None and progress > 2 / 3:
            shot = Image.blend(shot, end, min(1.0, (progress - 2 / 3) * 3))
        if index > 0:  # the first frame is the image itself, as Kling's starts
            shot.paste(label, (0, 0), label)
        return shot

    return _encode(Path(path), width, height, frames, fps, frame)


def _open(data: bytes | None) -> Image.Image | None:
    if not data:
        return None
    return ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")


def _card(prompt: str) -> Image.Image:
    width, height = SIZES["16:9"]
    return _frame(width, height, 0, 1, DEFAULT_FPS, _text_layer(width, height, prompt, ""))


def _fit(size: tuple[int, int]) -> tuple[int, int]:
    """The video's frame for an image of `size`: the short side IMAGE_SHORT_SIDE, both even."""
    width, height = size
    scale = IMAGE_SHORT_SIDE / min(width, height)
    return (round(width * scale / 2) * 2, round(height * scale / 2) * 2)


def _encode(target: Path, width: int, height: int, frames: int, fps: int, frame) -> Path:
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    with av.open(str(partial), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # Frames keep their own 1/fps clock: the muxer rewrites the stream's time_base
        # (to 1/10240 for mp4) once the header is written.
        tick = Fraction(1, fps)
        stream.time_base = tick
        # ultrafast keeps the render cheap; the content is a test card, not a film.
        stream.options = {"preset": "ultrafast", "tune": "animation", "crf": "30"}
        for index in range(frames):
            picture = av.VideoFrame.from_image(frame(index))
            picture.pts = index
            picture.time_base = tick
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.replace(target)
    return target


def _frame(
    width: int, height: int, index: int, frames: int, fps: int, text: Image.Image
) -> Image.Image:
    progress = index / max(1, frames - 1)
    # The background hue drifts and a ball bounces, so consecutive frames visibly differ.
    hue = int(160 + 80 * progress) % 256
    image = Image.new("HSV", (width, height), (hue, 120, 70)).convert("RGB")
    draw = ImageDraw.Draw(image)
    radius = max(10, min(width, height) // 9)
    x = radius + (width - 2 * radius) * (0.5 - 0.5 * math.cos(math.pi * 2 * progress))
    y = height - radius - (height - 2 * radius) * abs(math.sin(math.pi * 3 * progress))
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(250, 200, 60))
    draw.rectangle((0, height - 4, int(width * progress), height), fill=(255, 255, 255))
    image.paste(text, (0, 0), text)
    draw.text(
        (width - 4, 4), f"{index / fps:4.1f}s", fill=(255, 255, 255), anchor="ra", font=_font()
    )
    return image


def _text_layer(width: int, height: int, prompt: str, caption: str) -> Image.Image:
    """The prompt, wrapped to the frame, on a transparent layer drawn once per video."""
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = _font()
    line_height = _FONT_SIZE + 3
    columns = max(8, (width - 12) // 7)
    max_lines = max(1, (height - 24) // line_height - 1)
    lines = textwrap.wrap(" ".join(prompt.split()), columns) or [""]
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1][: columns - 1] + "…"]
    draw.text((6, 4), caption, fill=(255, 255, 160, 255), font=font)
    for row, line in enumerate(lines, start=1):
        top = 6 + row * line_height
        box = draw.textbbox((6, top), line, font=font)
        draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(0, 0, 0, 140))
        draw.text((6, top), line, fill=(255, 255, 255, 255), font=font)
    return layer


_FONT: ImageFont.FreeTypeFont | ImageFont.ImageFont | None = None


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    global _FONT
    if _FONT is None:
        _FONT = ImageFont.load_default(size=_FONT_SIZE)
    return _FONT
