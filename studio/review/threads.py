"""Comments on the timeline: who may write, resolve and edit them, what a range and a
drawing must be, timecodes in the video's own frame rate, and the threads a page shows.
The rows: Comment and Retake (models.py); the forms: forms.CommentForm."""

from __future__ import annotations

import json
import math

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from studio.accounts.roles import REVIEW, SUBMIT
from studio.generations.models import Generation
from studio.review import audit
from studio.review.models import Comment, Retake, Verdict

COMMENT_MAX_CHARS = 2000
GUEST_NAME_MAX_CHARS = 80
# A drawing: at most this many shapes, points in all, and characters of JSON.
DRAWING_MAX_SHAPES = 20
DRAWING_MAX_POINTS = 1000
DRAWING_MAX_CHARS = 40_000
TOOLS = ("pen", "arrow", "box")
COLOURS = ("red", "yellow", "green", "blue", "white")
VIEWBOX = 1000  # the drawing layer's SVG units per side: shapes are stored in 0..1

OUT_OF_VIDEO = "The moment must lie inside the video (0 to {length})."
OUT_BEFORE_IN = "The out point must come after the in point."
BAD_DRAWING = "The drawing could not be read: {why}."
NOT_EDITABLE = "Only its author may edit a comment, within {minutes} minutes of writing it."


def may_comment(user, generation: Generation) -> bool:
    """Reviewers, and the video's creator, write on a video they can see."""
    if user is None or not user.is_authenticated:
        return False
    return generation.owner_id == user.pk or user.has_perm(REVIEW)


def may_remix(user, generation: Generation) -> bool:
    return user is not None and user.is_authenticated and user.has_perm(SUBMIT)


def snap(seconds: float, fps: float) -> float:
    """The start of the frame `seconds` falls in, to the millisecond."""
    return round(math.floor(seconds * fps + 1e-6) / fps, 3)


def check_range(
    start: float | None, end: float | None, generation: Generation
) -> tuple[dict, float | None, float | None]:
    """(errors by field, start, end snapped to frames): both inside the video, end after
    start. One frame of slack at the end: the last frame starts before the length."""
    errors: dict[str, str] = {}
    length, fps = generation.length, generation.fps
    limit = length + 1 / fps
    shown = timecode(length, fps)
    if start is not None and not 0 <= start <= limit:
        errors["start_seconds"] = OUT_OF_VIDEO.format(length=shown)
    if end is not None and not 0 <= end <= limit:
        errors["end_seconds"] = OUT_OF_VIDEO.format(length=shown)
    if errors:
        return errors, start, end
    start = snap(start, fps) if start is not None else None
    end = snap(end, fps) if end is not None else None
    if end is not None and (start is None or end <= start):
        errors["end_seconds"] = OUT_BEFORE_IN
    return errors, start, end


def parse_drawing(raw: str) -> list[dict] | None:
    """The shapes of a drawing as posted (JSON), checked and rounded; None for no drawing.
    Raises ValueError with the reason for anything else."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if len(raw) > DRAWING_MAX_CHARS:
        raise ValueError(f"it is larger than {DRAWING_MAX_CHARS} characters")
    try:
        shapes = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError("it is not JSON") from None
    except RecursionError:  # thousands of nested brackets: no drawing is that deep
        raise ValueError("it is nested too deeply") from None
    if not isinstance(shapes, list) or not 1 <= len(shapes) <= DRAWING_MAX_SHAPES:
        raise ValueError(f"it must be a list of 1 to {DRAWING_MAX_SHAPES} shapes")
    checked = [check_shape(shape) for shape in shapes]
    if sum(len(shape["points"]) for shape in checked) > DRAWING_MAX_POINTS:
        raise ValueError(f"it has more than {DRAWING_MAX_POINTS} points")
    return checked


def check_shape(shape) -> dict:
    if not isinstance(shape, dict):
        raise ValueError("each shape must be an object")
    tool, colour, points = shape.get("tool"), shape.get("color"), shape.get("points")
    if tool not in TOOLS:
        raise ValueError(f"a shape's tool must be one of {', '.join(TOOLS)}")
    if colour not in COLOURS:
        raise ValueError(f"a shape's colour must be one of {', '.join(COLOURS)}")
    if not isinstance(points, list) or len(points) < 2 or (tool != "pen" and len(points) > 2):
        raise ValueError(f"a {tool} takes {'2 or more' if tool == 'pen' else '2'} points")
    if len(points) > DRAWING_MAX_POINTS:
        raise ValueError(f"it has more than {DRAWING_MAX_POINTS} points")
    return {"tool": tool, "color": colour, "points": [check_point(p) for p in points]}


def check_point(point) -> list[float]:
    ok = isinstance(point, list) and len(point) == 2
    if ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in point):
        x, y = float(point[0]), float(point[1])
        if 0 <= x <= 1 and 0 <= y <= 1:
            return [round(x, 4), round(y, 4)]
    raise ValueError("each point must be [x, y] with both between 0 and 1")


def timecode(seconds: float | None, fps: float) -> str:
    """HH:MM:SS:FF in the video's own frame rate (frames counted at the rounded rate)."""
    if seconds is None:
        return ""
    base = max(1, round(fps))
    frames = math.floor(max(0.0, seconds) * fps + 1e-6)
    whole, frame = divmod(frames, base)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}:{frame:02d}"


def frame_box(generation: Generation) -> tuple[int, int]:
    """The drawing layer's SVG viewBox (width, height): the video's own shape, so that
    the layer letterboxes exactly as the video does and a shape covers the same part of
    the frame on every screen. The stored size, else the aspect ratio asked for."""
    width, height = generation.video_width, generation.video_height
    if not (width and height):
        try:
            width, height = (int(part) for part in generation.aspect_ratio.split(":"))
        except ValueError:
            width, height = 16, 9
    return round(VIEWBOX * width / height), VIEWBOX


def shapes_svg(drawing: list[dict] | None, box: tuple[int, int] = (VIEWBOX, VIEWBOX)) -> list:
    """A drawing as SVG elements in the layer's viewBox units `box` (no styles: CSP)."""
    laid = []
    width, height = box
    for shape in drawing or []:
        points = [(x * width, y * height) for x, y in shape["points"]]
        item = {"tool": shape["tool"], "color": shape["color"]}
        if shape["tool"] == "box":
            (x1, y1), (x2, y2) = points
            item.update(x=min(x1, x2), y=min(y1, y2), w=abs(x2 - x1), h=abs(y2 - y1))
        elif shape["tool"] == "arrow":
            item.update(points=" ".join(f"{x:.1f},{y:.1f}" for x, y in points))
            item["head"] = arrow_head(*points)
        else:
            item["points"] = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        laid.append(item)
    return laid


def arrow_head(start: tuple[float, float], end: tuple[float, float]) -> str:
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    size = 28
    left = (end[0] - size * math.cos(angle - 0.45), end[1] - size * math.sin(angle - 0.45))
    right = (end[0] - size * math.cos(angle + 0.45), end[1] - size * math.sin(angle + 0.45))
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in (end, left, right))


# ---------------------------------------------------------------------------- changes


def add(generation: Generation, data: dict, *, author=None, guest_name: str = "", share=None):
    """Save a new thread (or, with data["parent"], a reply to one) and audit it."""
    parent = data.get("parent")
    comment = Comment(
        generation=generation,
        parent=parent,
        author=author,
        author_name=author.get_username() if author else guest_name,
        guest=author is None,
        share=share,
        body=data["body"],
    )
    if parent is None:
        comment.start_seconds = data.get("start_seconds")
        comment.end_seconds = data.get("end_seconds")
        comment.drawing = data.get("drawing")
    with transaction.atomic():
        comment.save()
        action = "comment.reply" if parent else "comment.add"
        audit.record(author, action, generation, after=audit_facts(comment))
    return comment


def audit_facts(comment: Comment) -> dict:
    return {
        "comment": comment.pk,
        "by": comment.author_name,
        "guest": comment.guest,
        "body": comment.body[:200],
        "start": comment.start_seconds,
        "end": comment.end_seconds,
    }


def edit(comment: Comment, user, body: str) -> None:
    before = comment.body
    comment.body, comment.edited_at = body, timezone.now()
    with transaction.atomic():
        comment.save(update_fields=["body", "edited_at"])
        audit.record(
            user,
            "comment.edit",
            comment.generation,
            before={"body": before[:200]},
            after={"comment": comment.pk, "body": body[:200]},
        )


def resolve(thread: Comment, user, resolved: bool) -> None:
    """Resolve or reopen a thread (its first comment carries the state)."""
    thread.resolved_at = timezone.now() if resolved else None
    thread.resolved_by = user if resolved else None
    thread.closed_by_take = None
    with transaction.atomic():
        thread.save(update_fields=["resolved_at", "resolved_by", "closed_by_take"])
        action = "comment.resolve" if resolved else "comment.reopen"
        audit.record(user, action, thread.generation, after={"comment": thread.pk})


def link_retake(note: Comment, take: Generation) -> Retake:
    """The new take was made from this note (Remix from a "changes requested" comment)."""
    retake, _ = Retake.objects.get_or_create(take=take, defaults={"note": note})
    return retake


def note_for_remix(user, generation: Generation, raw: str | None) -> Comment | None:
    """The thread on `generation` a remix was opened from, or None."""
    try:
        pk = int(raw or "")
    except ValueError:
        return None
    return Comment.objects.threads().filter(pk=pk, generation=generation).first()


# ---------------------------------------------------------------------------- reading


def threads(generation: Generation) -> list[Comment]:
    """The video's threads in timeline order, each with its replies."""
    replies = Prefetch("replies", queryset=Comment.objects.select_related("author"))
    found = (
        Comment.objects.threads()
        .filter(generation=generation)
        .select_related("author", "resolved_by", "closed_by_take")
        .prefetch_related(replies, "retakes__take")
    )
    return sorted(found, key=lambda c: (c.start_seconds is None, c.start_seconds or 0, c.pk))


def markers(found: list[Comment], generation: Generation) -> list[dict]:
    """Where each pinned thread sits on the marker track (SVG units 0..VIEWBOX)."""
    length = generation.length or 1.0
    laid = []
    for thread in found:
        if thread.start_seconds is None:
            continue
        x = min(VIEWBOX, thread.start_seconds / length * VIEWBOX)
        end = thread.end_seconds if thread.end_seconds is not None else thread.start_seconds
        width = max(6.0, min(VIEWBOX - x, (end - thread.start_seconds) / length * VIEWBOX))
        kind = thread.verdict or ("guest" if thread.guest else "note")
        shapes = shapes_svg(thread.drawing, frame_box(generation))
        laid.append({"thread": thread, "x": round(x, 1), "width": round(width, 1), "kind": kind})
        laid[-1]["shapes"] = shapes
    return laid


def is_change_note(thread: Comment) -> bool:
    return thread.verdict == Verdict.CHANGES
