"""Pictures for image-to-video: an upload or a frame of a finished video, checked and
re-encoded (studio/kling/images.py), saved in our storage as an InputImage.

Reference: docs/upstream.md §15.1 (the image rules). A frame is taken with PyAV from our
own copy of the video, never from the upstream's link.
"""

from __future__ import annotations

import io
import logging
import math
import uuid

import av
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from studio.generations.models import Generation, InputImage
from studio.kling import images
from studio.kling.images import ImageRefused, Picture

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = images.MAX_BYTES


def save(owner, picture: Picture, *, source: Generation | None = None, seconds=None) -> InputImage:
    """Store `picture` (already prepared) as a new InputImage of `owner`."""
    pk = uuid.uuid4()
    row = InputImage(
        id=pk,
        owner=owner,
        format=picture.format,
        width=picture.width,
        height=picture.height,
        size=len(picture.data),
        sha256=picture.sha256,
        source=source,
        source_seconds=seconds,
        created_at=timezone.now(),
    )
    row.file.save(f"{pk}.{picture.extension}", ContentFile(picture.data), save=False)
    row.save(force_insert=True)
    return row


def from_upload(owner, upload) -> InputImage:
    """An uploaded file as an InputImage; ImageRefused with the reason when it breaks a
    rule. The size is checked before the file is read."""
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise ImageRefused(f"The file is {upload.size / 1024 / 1024:.1f} MB; the limit is 10 MB.")
    data = upload.read(MAX_UPLOAD_BYTES + 1)
    return save(owner, images.prepare(data))


def from_video(owner, generation: Generation, seconds: float | None) -> InputImage:
    """The frame of `generation`'s stored video at `seconds` (the last one for None) as an
    InputImage of `owner`. A frame with a side under Kling's 300 px is scaled up to it.
    ImageRefused when the video is gone or has no such frame."""
    if not generation.video:
        raise ImageRefused("The video is not in storage, so no frame can be taken from it.")
    image, at = frame(generation, seconds)
    if min(image.size) < images.MIN_SIDE:
        scale = images.MIN_SIDE / min(image.size)
        size = (math.ceil(image.width * scale), math.ceil(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.convert("RGB").save(out, "PNG")
    with transaction.atomic():
        return save(owner, images.prepare(out.getvalue()), source=generation, seconds=at)


def frame(generation: Generation, seconds: float | None) -> tuple[Image.Image, float]:
    """The decoded frame shown at `seconds` into the video (the last one for None), and
    its own time. It seeks to the key frame before the time (a second before the end for
    the last frame) and decodes from there, so a long video is not decoded whole."""
    try:
        with generation.video.open("rb") as handle, av.open(handle) as container:
            stream = container.streams.video[0]
            length = float(container.duration / av.time_base) if container.duration else None
            wanted = None if seconds is None else max(0.0, float(seconds))
            start = wanted if wanted is not None else max(0.0, (length or 0.0) - 1.0)
            if start > 0 and stream.time_base:
                container.seek(int(start / stream.time_base), stream=stream, backward=True)
            return _frame_at(container, stream, wanted)
    except (OSError, av.error.FFmpegError, IndexError) as error:
        logger.warning("Generation %s: no frame at %s: %s", generation.pk, seconds, error)
        raise ImageRefused("The frame could not be read from the video.") from None


def _frame_at(container, stream, wanted: float | None) -> tuple[Image.Image, float]:
    found, at = None, 0.0
    for decoded in container.decode(stream):
        time = float(decoded.time or 0.0)
        if wanted is not None and found is not None and time > wanted + 1e-6:
            break
        found, at = decoded, time
    if found is None:
        raise ImageRefused("The video has no frames at that time.")
    return found.to_image(), round(at, 3)


def remove_deleted_file(sender, instance: InputImage, using: str = "default", **kwargs) -> None:
    """post_delete of an InputImage: its file goes too, once the delete is committed."""
    from studio.generations import media

    storage = instance._meta.get_field("file").storage
    if instance.file:
        name = instance.file.name
        transaction.on_commit(lambda: media.delete_files(storage, [name]), using=using)
