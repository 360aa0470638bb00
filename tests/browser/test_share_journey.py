"""A share link in a real browser: a reviewer shares a video for comments; a guest opens the
link signed out, sees the video and nothing of the studio, comments at a moment with a name;
the creator sees the guest's comment in the same thread list; once the reviewer revokes the
link, the guest's next visit is refused."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_review_journey import second_page  # noqa: F401
from tests.browser.test_timeline_journey import seek, video_for_review

pytestmark = pytest.mark.browser


def test_a_guest_comments_through_a_link_until_it_is_revoked(
    page,
    second_page,  # noqa: F811
    browser,
    stack,
) -> None:
    prompt = "A lighthouse beam sweeps over a foggy bay"
    reviewer = second_page
    creator_url = video_for_review(page, reviewer, stack, ("gwen", "ross"), prompt)
    reviewer.goto(creator_url.replace("/generations/", "/review/"))
    reviewer.get_by_role("link", name="Share outside the studio").click()
    reviewer.get_by_label("Expires after (days)").fill("2")
    reviewer.get_by_label("Guests may comment (they give a name)").check()
    reviewer.get_by_role("button", name="Make the link").click()
    link = reviewer.get_by_label("Link").input_value()
    assert re.search(r"/s/[A-Za-z0-9_-]{43}/$", link)

    guest_context = browser.new_context(viewport={"width": 1280, "height": 900})
    guest = guest_context.new_page()
    problems: list[str] = []
    guest.on("console", lambda m: m.type == "error" and problems.append(f"{m.text} {m.location}"))
    guest.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
    try:
        guest.goto(link)
        expect(guest.get_by_role("heading", name=re.compile("lighthouse beam"))).to_be_visible()
        expect(guest.get_by_role("navigation")).to_have_count(0)
        seek(guest, "#shared-player", 2.0)
        form = guest.locator("[data-comment-form]")
        form.get_by_role("button", name="Mark in").click()
        form.get_by_label("Your name").fill("Grace from the agency")
        form.get_by_label("Comment").fill("Can the beam be warmer?")
        form.get_by_role("button", name="Add comment").click()
        thread = guest.locator(".thread", has_text="Can the beam be warmer?")
        expect(thread).to_contain_text("Grace from the agency")
        expect(thread.locator(".badge-guest")).to_have_text("guest")
        expect(thread).to_contain_text("00:00:02:00")
        expect(guest.locator(".marker-track [data-marker]")).to_have_count(1)

        page.goto(creator_url)
        mine = page.locator(".thread", has_text="Can the beam be warmer?")
        expect(mine.locator(".badge-guest")).to_be_visible()

        reviewer.goto("/review/shares/")
        row = reviewer.locator("tr", has_text="lighthouse beam")
        expect(row).to_contain_text("live")
        row.get_by_role("button", name="Revoke").click()
        expect(reviewer.locator(".messages")).to_contain_text("Link revoked")

        response = guest.goto(link)
        assert response.status == 410
        expect(guest.get_by_role("alert")).to_contain_text("expired or was revoked")
        assert guest.request.get(guest.url).status == 410
    finally:
        guest_context.close()
    assert not [p for p in problems if "410" not in p], problems  # the refusal is expected
