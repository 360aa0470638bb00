"""The poster a stored video gets (issue 12, 2): its most detailed frame among a few spread
over the video, not the frame at 1 s, at the size a tile shows it and at twice that."""

from __future__ import annotations

import io
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image, ImageDraw, ImageStat

from studio.generations import media

FPS = 10


def write_video(path: Path, size: tuple[int, int], seconds: float, detailed) -> Path:
    """An H.264 MP4 whose frames are flat grey except where `detailed(t)` says, which show
    a checkerboard with a circle: the subject."""
    width, height = size
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, FPS)
        stream.options = {"preset": "ultrafast"}
        for index in range(round(seconds * FPS)):
            image = Image.new("RGB", size, (128, 128, 128))
            if detailed(index / FPS):
                draw = ImageDraw.Draw(image)
                step = max(8, width // 16)
                for x in range(0, width, step):
                    for y in range(0, height, step):
                        if (x // step + y // step) % 2:
                            draw.rectangle((x, y, x + step - 1, y + step - 1), fill=(20, 20, 20))
                draw.ellipse((width // 4, height // 4, width * 3 // 4, height * 3 // 4), fill="red")
            frame = av.VideoFrame.from_image(image)
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def poster_of(path: Path) -> Image.Image:
    found = media.probe(path)
    path.with_suffix(".jpg").write_bytes(found.poster_jpeg)
    return Image.open(path.with_suffix(".jpg"))


def test_the_poster_is_the_detailed_frame_not_the_one_at_one_second(tmp_path) -> None:
    # Flat grey for the first half (the frame at 1 s is blank), the subject from 5.2 s to 6 s.
    video = write_video(tmp_path / "late.mp4", (320, 180), 10, lambda t: 5.2 <= t < 6.0)
    poster = poster_of(video)
    assert ImageStat.Stat(poster.convert("L")).stddev[0] > 30, "a flat grey frame was chosen"


def test_a_video_with_one_flat_frame_still_gets_a_poster(tmp_path) -> None:
    video = write_video(tmp_path / "one.mp4", (64, 64), 0.1, lambda t: False)
    assert poster_of(video).size == (64, 64)


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1920, 1080), (1280, 720)), ((720, 1280), (720, 1280)), ((320, 320), (320, 320))],
)
def test_the_poster_is_twice_a_tile_and_never_upscaled(tmp_path, size, expected) -> None:
    video = write_video(tmp_path / "big.mp4", size, 1, lambda t: True)
    assert poster_of(video).size == expected


@pytest.mark.parametrize(
    ("size", "one_x", "two_x"),
    [
        ((1920, 1080), (640, 360), (1280, 720)),  # 16:9
        ((1080, 1920), (360, 640), (720, 1280)),  # 9:16
        ((1440, 1440), (640, 640), (1280, 1280)),  # 1:1
        ((720, 1280), (360, 640), (720, 1280)),  # 9:16 as Kling makes it: 2x is the video's own
        ((480, 480), (480, 480), (480, 480)),  # smaller than a tile: never scaled up
    ],
)
def test_both_posters_are_made_a_tile_and_twice_a_tile(tmp_path, size, one_x, two_x) -> None:
    found = media.probe(write_video(tmp_path / "shape.mp4", size, 0.3, lambda t: True))
    small = Image.open(io.BytesIO(found.poster_1x_jpeg))
    big = Image.open(io.BytesIO(found.poster_jpeg))
    assert (small.format, big.format) == ("JPEG", "JPEG")
    assert (small.size, big.size) == (one_x, two_x)
    # The 1x is the same picture (the one frame picked), not another frame.
    assert ImageStat.Stat(small.convert("L")).mean == pytest.approx(
        ImageStat.Stat(big.resize(small.size).convert("L")).mean, abs=3
    )


def test_picking_the_poster_of_a_ten_second_1080p_video_takes_seconds_not_minutes(tmp_path):
    video = write_video(tmp_path / "long.mp4", (1920, 1080), 10, lambda t: int(t) % 2 == 0)
    started = time.monotonic()
    media.probe(video)
    assert time.monotonic() - started < 30  # measured ~2 s on a loaded 2-core machine
