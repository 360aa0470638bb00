"""Where a generation came from, as the generation page shows it; a card's star, looked up
for a whole list at once; the list tiles' fragment cache ({% tilecache %})."""

from __future__ import annotations

import hashlib
import operator
import secrets

from django import template
from django.core.cache import caches
from django.db import connection
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from studio.accounts.context import page_path
from studio.generations.models import Generation
from studio.generations.templatetags.generation_tags import ago
from studio.library.models import Batch, Prompt, PromptVersion, Star, Visibility, shown_presets

register = template.Library()


@register.inclusion_tag("library/_generation_sources.html", takes_context=True)
def generation_sources(context: template.Context, generation: Generation) -> dict:
    """Where a generation came from: its prompt version (if the viewer may see that
    prompt), the presets applied (those the viewer may see), its batch, and the recipe
    card to download."""
    user = context["request"].user
    version = None
    if generation.prompt_version_id:
        version = (
            PromptVersion.objects.visible_to(user)
            .select_related("prompt")
            .filter(pk=generation.prompt_version_id)
            .first()
        )
    batch = None
    if generation.batch_id:
        batch = Batch.objects.visible_to(user).filter(pk=generation.batch_id).first()
    presets = shown_presets(user, generation.owner_id, generation.presets)
    return {"generation": generation, "version": version, "presets": presets, "batch": batch}


def star_facts(user, version_ids) -> dict[int, dict | None]:
    """Per prompt version: the star of its prompt as `user` sees it ({"prompt", "starred",
    "star_count"}), None when the user may not see that prompt (PromptVersion.visible_to:
    theirs or the team's). One statement in SQL for all of a list's cards: as three ORM
    queries they cost more to build than to run."""
    ids = sorted(set(version_ids) - {None})
    if not ids or not user.is_authenticated:
        return dict.fromkeys(ids)
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(STARS_SQL.format(ids=marks), [user.pk, *ids, user.pk, str(Visibility.TEAM)])
        found = {
            pk: {"prompt": {"pk": prompt}, "starred": bool(mine), "star_count": count}
            for pk, prompt, mine, count in cursor.fetchall()
        }
    return {pk: found.get(pk) for pk in ids}


def stars_sql() -> str:
    versions, prompts = PromptVersion._meta.db_table, Prompt._meta.db_table
    stars = Star._meta.db_table
    return (
        f"SELECT v.id, v.prompt_id,"
        f" EXISTS (SELECT 1 FROM {stars} s WHERE s.prompt_id = v.prompt_id AND s.user_id = %s),"
        f" (SELECT COUNT(*) FROM {stars} s WHERE s.prompt_id = v.prompt_id)"
        f" FROM {versions} v JOIN {prompts} p ON p.id = v.prompt_id"
        " WHERE v.id IN ({ids}) AND (p.owner_id = %s OR p.visibility = %s)"
    )


STARS_SQL = stars_sql()


@register.simple_tag(takes_context=True)
def card_stars(context: template.Context, generations) -> str:
    """Look up the stars of every card a list shows at once (star_facts): put before the
    list's loop, its cards' card_star tags (and tile caches) read them from the context."""
    ids = {g.prompt_version_id for g in generations}
    context["card_stars"] = star_facts(context["request"].user, ids)
    return ""


def card_star_facts(context: template.Context, generation: Generation) -> dict | None:
    """The star a card shows: from the list's card_stars, else looked up for this one."""
    key = generation.prompt_version_id
    if key is None:
        return None
    seen = context.get("card_stars")
    if seen is None or key not in seen:
        seen = star_facts(context["request"].user, [key])
    return seen[key]


@register.inclusion_tag("library/_star.html", takes_context=True)
def card_star(context: template.Context, generation: Generation) -> dict:
    """Keep, on a result's card: the star of the library prompt it came from (retention keeps
    a starred prompt's videos), if the viewer may see that prompt; nothing for a video
    composed by hand. A list looks its cards' stars up at once ({% card_stars %})."""
    facts = card_star_facts(context, generation)
    return {
        **(facts or {"prompt": None}),
        "request": context["request"],
        "page_path": page_path(context["request"]),
        "csrf_token": context.get("csrf_token"),
    }


# ---------------------------------------------------------------------------- tile cache

# Stands for the request's CSRF token in a cached tile; each answer puts its own in.
CSRF_STAND_IN = f"csrf-{secrets.token_hex(16)}"


def tile_key(context: template.Context, row: Generation | Prompt, where: str) -> str | None:
    """What a list tile's HTML depends on, digested: the row's own facts (generation_facts,
    prompt_facts), the viewer (who, their permissions, the page's address, which links
    come back to, the time zone) and the tile's place in the templates. None: not cached
    (a running generation's clock moves; no viewer to answer)."""
    request, user = context.get("request"), context.get("user")
    if request is None or not getattr(user, "is_authenticated", False):
        return None
    if isinstance(row, Prompt):
        facts = prompt_facts(row)
    elif row.is_active:
        return None
    else:
        facts = generation_facts(context, row)
    found = (where, viewer(request, user), bool(context.get("tile_oob")), facts)
    return "tile:" + hashlib.blake2b(repr(found).encode(), digest_size=20).hexdigest()


GETTERS: dict[type, operator.attrgetter] = {}  # per model: all its columns at once


def columns(row) -> tuple:
    getter = GETTERS.get(type(row))
    if getter is None:
        names = [f.attname for f in row._meta.concrete_fields]
        getter = GETTERS[type(row)] = operator.attrgetter(names[0], *names[1:])
    found = getter(row)
    return found if isinstance(found, tuple) else (found,)


def generation_facts(context: template.Context, generation: Generation) -> tuple:
    """Every column of the row and of its review, its owner's name, its prompt's star as
    the viewer sees it, how long ago it was made and finished as the tile says it."""
    try:
        verdict = columns(generation.review)
    except type(generation).review.RelatedObjectDoesNotExist:
        verdict = None
    return (
        columns(generation),
        generation.owner.get_username(),
        verdict,
        card_star_facts(context, generation),
        ago(generation.created_at),
        generation.finished_at and timesince(generation.finished_at),
    )


def prompt_facts(prompt: Prompt) -> tuple:
    """A library item: every column, what with_numbers adds (its latest version, its
    stars, the viewer's star), its tags, its owner's name, how long ago it was used."""
    extra = ("latest_id", "latest_number", "latest_text", "star_count", "starred")
    return (
        columns(prompt),
        [getattr(prompt, name, None) for name in extra],
        [tag.name for tag in prompt.tags.all()],
        prompt.owner.get_username(),
        prompt.last_used and timesince(prompt.last_used),
    )


def viewer(request, user) -> tuple:
    """The viewer's part of the tile keys (who, their permissions, the page's address, the
    time zone), worked out once per answer."""
    found = getattr(request, "_tile_viewer", None)
    if found is None or found[0] != user.pk:
        found = (
            user.pk,
            sorted(user.get_all_permissions()),
            page_path(request),  # the tile's forms come back to it
            timezone.get_current_timezone_name(),
        )
        request._tile_viewer = found
    return found


class TileCacheNode(template.Node):
    def __init__(self, nodelist: template.NodeList, row: template.base.FilterExpression):
        self.nodelist, self.row = nodelist, row

    def render(self, context: template.Context) -> str:
        token = context.get("csrf_token")
        where = f"{self.origin.name}:{self.token.position}"
        key = tile_key(context, self.row.resolve(context), where) if token else None
        if key is None:
            return self.nodelist.render(context)
        cache = caches["tiles"]
        html = cache.get(key)
        if html is None:
            with context.push(csrf_token=CSRF_STAND_IN):
                html = str(self.nodelist.render(context))
            cache.set(key, html)
        return mark_safe(html.replace(CSRF_STAND_IN, str(token)))


@register.tag
def tilecache(parser: template.base.Parser, token: template.base.Token) -> TileCacheNode:
    """{% tilecache row %}...{% endtilecache %}: a list tile of a finished generation or of
    a library prompt, rendered once per everything it shows (tile_key) and kept in the
    "tiles" cache (each web process its own, the oldest dropped when full). Whatever a
    tile shows must be in tile_key: a fact left out there would show stale."""
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("{% tilecache %} takes one row")
    nodelist = parser.parse(("endtilecache",))
    parser.delete_first_token()
    return TileCacheNode(nodelist, parser.compile_filter(bits[1]))
