"""A generation's two posters on the page, and the smaller one made afterwards for videos
stored before there were two.

media.store_video saves the poster at twice a tile's size (`poster`, 2x: high-density
screens and the player) and at a tile's size (`poster_1x`). A tile's <img> names the 1x as
its src and both in srcset, so a 2x screen fetches the 2x and any other screen the 1x. A
row stored before the 1x was made has only `poster`: its <img> shows that one alone until
`manage.py posters` (make_missing) makes the 1x from it.
"""

from __future__ import annotations

import io
import logging

from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from PIL import Image, UnidentifiedImageError

from studio.generations import media
from studio.generations.models import Generation, StorageMonth

logger = logging.getLogger(__name__)

# The generation page's player: about 3/5 of a wide window, the whole width of a narrow one.
PLAYER_SIZES = "(min-width: 1000px) 60vw, 100vw"


def urls(generation: Generation) -> tuple[str, str]:
    """(1x, 2x) URLs of the generation's posters, each reversed once; "" for one not made."""
    if not generation.poster:
        return "", ""
    big = reverse("generation-poster", args=[generation.pk])
    small = reverse("generation-poster-1x", args=[generation.pk]) if generation.poster_1x else ""
    return small, big


def sources(generation: Generation) -> tuple[str, str]:
    """(src, srcset) of the generation's poster <img>: the 1x with both in srcset, or the
    one poster alone when the 1x is not made yet. ("", "") without a poster."""
    small, big = urls(generation)
    if not small:
        return big, ""
    return small, f"{small} 1x, {big} 2x"


def img(generation: Generation, alt: str = "", css: str = "", lazy: bool = True) -> SafeString:
    """The poster's <img> (empty without a poster)."""
    src, srcset = sources(generation)
    if not src:
        return SafeString("")
    return format_html(
        '<img{} src="{}"{} alt="{}"{}>',
        format_html(' class="{}"', css) if css else "",
        src,
        format_html(' srcset="{}"', srcset) if srcset else "",
        alt,
        SafeString(' loading="lazy" decoding="async"') if lazy else "",
    )


def player_img(generation: Generation) -> SafeString:
    """The poster in the generation page's player, which is wider than a tile: srcset by
    width (the 1x's and the 2x's own widths) for the player's width, PLAYER_SIZES."""
    small, big = urls(generation)
    if not small or not generation.video_width or not generation.video_height:
        return format_html('<img src="{}" alt="">', big) if big else SafeString("")
    one, two = widths(generation.video_width, generation.video_height)
    return format_html(
        '<img src="{}" srcset="{} {}w, {} {}w" sizes="{}" alt="">',
        big,
        small,
        one,
        big,
        two,
        PLAYER_SIZES,
    )


def widths(video_width: int, video_height: int) -> tuple[int, int]:
    """The widths of the 1x and the 2x poster of a video of this size (media.jpeg_within)."""
    found = []
    for box_width, box_height in (media.POSTER_1X_SIZE, media.POSTER_SIZE):
        scale = min(1.0, box_width / video_width, box_height / video_height)
        found.append(max(1, round(video_width * scale)))
    return found[0], found[1]


def missing():
    """Rows with a poster but no 1x: stored before it was made."""
    return Generation.objects.exclude(poster="").filter(poster_1x="")


def make_missing(limit: int) -> tuple[int, int, int]:
    """Make the 1x of at most `limit` rows that lack it, from their poster; each row in its
    own transaction, the rollup counting the new file. A poster that cannot be read is
    logged and skipped (it does not count against `limit`). Running it again does only
    what is left. Returns (made, skipped, still missing)."""
    made = skipped = 0
    for pk in missing().order_by("pk").values_list("pk", flat=True).iterator():
        if made >= limit:
            break
        if make_one(pk):
            made += 1
        else:
            skipped += 1
    return made, skipped, missing().count()


def make_one(pk) -> bool:
    """The 1x of one row, saved beside its poster; False when its poster cannot be read.
    A row another run finished meanwhile is left as it is (the file name is the same)."""
    generation = Generation.objects.filter(pk=pk).first()
    if generation is None or not generation.poster or generation.poster_1x:
        return True
    storage = generation.poster.storage
    try:
        with generation.poster.open("rb") as handle:
            data = media.jpeg_within(Image.open(io.BytesIO(handle.read())), media.POSTER_1X_SIZE)
    except (OSError, UnidentifiedImageError) as error:
        logger.warning("Generation %s: poster %s unreadable: %s", pk, generation.poster, error)
        return False
    name = media.put_bytes(storage, one_x_name(generation.poster.name), data)
    with transaction.atomic():
        done = Generation.objects.filter(pk=pk, poster_1x="").update(
            poster_1x=name, poster_1x_bytes=len(data)
        )
        if done:
            StorageMonth.add(generation, len(data), 0)
    return True


def one_x_name(poster_name: str) -> str:
    """Where a poster's 1x lives: beside it, "-1x" before the extension."""
    stem, dot, extension = poster_name.rpartition(".")
    return f"{stem}-1x.{extension}" if dot else f"{poster_name}-1x"
