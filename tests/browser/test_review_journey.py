"""Review and budgets in a real browser: a creator's video goes to review, a reviewer approves
it with a comment pinned to a moment, the creator sees the verdict and the team gallery has
the video; an admin sets a budget in the Django admin and a submission over it is refused
before anything reaches the upstream."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Stack, log_in

pytestmark = pytest.mark.browser

PASSWORD = "a-long-journey-password"


def add_user(stack: Stack, username: str, *roles: str) -> None:
    """An account through manage.py against the stack's database; `roles` replace the
    default (creator) when given."""
    code = (
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.auth.models import Group\n"
        f"user = get_user_model().objects.create_user({username!r}, password={PASSWORD!r})\n"
        f"roles = {list(roles)!r}\n"
        "if roles: user.groups.set(Group.objects.filter(name__in=roles))\n"
    )
    stack.manage("shell", "-c", code)


@pytest.fixture
def second_page(browser, stack: Stack) -> Iterator[object]:
    """Another person's browser, with the same console checks as `page`."""
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
    yield page
    context.close()
    assert not problems, f"browser console errors: {problems}"


def test_a_reviewer_approves_a_creators_video_for_the_team(page, second_page, stack) -> None:
    add_user(stack, "cora")
    add_user(stack, "rex", "reviewer")
    prompt = "A glass whale drifts through a neon city at night"

    log_in(page, stack, "cora", PASSWORD)
    expect(page.get_by_role("link", name="Review", exact=True)).to_have_count(0)
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Prompt").press("Control+Enter")
    card = page.locator(".card", has_text=prompt)
    expect(card).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=30_000)
    expect(card.locator(".badge-in_review")).to_have_text("In review")
    card.get_by_role("link", name=prompt).click()
    expect(page.get_by_role("heading", name="Review: In review")).to_be_visible()
    generation_url = page.url

    reviewer = second_page
    log_in(reviewer, stack, "rex", PASSWORD)
    expect(reviewer).to_have_url(re.compile(r"/review/$"))  # the reviewer's home
    # The queue is oldest first, and earlier journeys left videos waiting: find this one.
    reviewer.get_by_label("Prompt contains").fill("glass whale")
    reviewer.get_by_label("Prompt contains").press("Enter")
    reviewer.get_by_role("link", name=prompt).first.click()
    video = reviewer.locator("#review-video")
    video.evaluate(
        "v => new Promise(ok => { const seek = () => { v.currentTime = 1.5; "
        "v.addEventListener('seeked', ok, {once: true}); }; "
        "v.readyState ? seek() : v.addEventListener('loadedmetadata', seek, {once: true}); })"
    )
    decision = reviewer.get_by_role("region", name="Your decision")
    decision.get_by_role("button", name="Use current time", exact=True).click()
    expect(decision.get_by_label("At (seconds into the video)")).to_have_value("1.5")
    decision.get_by_label("Approve for team use").check()
    decision.get_by_label("Comment", exact=True).fill("Lovely reflections on the glass")
    decision.get_by_role("button", name="Save decision").click()
    expect(reviewer.locator(".messages")).to_contain_text("Approved: A glass whale")

    page.goto(generation_url)
    expect(page.get_by_role("heading", name="Review: Approved")).to_be_visible()
    expect(page.locator(".decisions")).to_contain_text("Lovely reflections on the glass")
    page.get_by_role("button", name="at 0:01.5").click()  # seeks the creator's player
    expect(page.locator("video")).to_have_js_property("currentTime", 1.5)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="History").click()
    expect(page.locator(".tile", has_text=prompt).locator(".badge-approved")).to_be_visible()

    nav.get_by_role("link", name="Gallery").click()
    tile = page.locator(".tile", has_text=prompt)
    expect(tile).to_have_count(1)
    expect(tile).to_contain_text("Lovely reflections on the glass")
    download = tile.get_by_role("link", name="Download original")
    expect(download).to_have_attribute("href", re.compile(r"/video\.mp4\?download=1$"))
    response = page.request.get(download.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "video/mp4"


def test_a_creator_over_budget_is_refused_before_anything_is_sent(page, second_page, stack) -> None:
    add_user(stack, "bo")
    admin = second_page
    log_in(admin, stack)
    admin.goto("/admin/review/budget/add/")
    admin.get_by_label("User").select_option(label="bo")
    admin.get_by_label("Monthly units").fill("1")
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator(".messagelist")).to_contain_text("was added successfully")
    admin.goto("/admin/review/auditentry/?action=budget.change")
    expect(admin.locator("#result_list")).to_contain_text("monthly_units: – → 1")

    log_in(page, stack, "bo", PASSWORD)
    panel = page.locator("#budget-panel")
    expect(panel).to_contain_text("Your budget: 1 of 1 units left this month")
    page.get_by_label("Model").select_option("kling-v1")
    page.get_by_label("Mode", exact=True).select_option("std")
    expect(panel.locator("[data-estimate]")).to_have_text("1 unit")
    expect(panel.locator("[data-budget-over]")).to_be_hidden()
    page.get_by_label("Mode", exact=True).select_option("pro")  # 3.5 units: over
    expect(panel.locator("[data-estimate]")).to_have_text("3.5 units")
    expect(panel.locator("[data-budget-over]")).to_be_visible()

    creates = stack.sim_stats()["creates"]
    page.get_by_label("Prompt").fill("A marble statue blinks slowly")
    generate = page.get_by_role("button", name="Generate", exact=True)
    expect(generate).to_be_disabled()  # the panel already says it would be refused
    expect(generate).to_have_accessible_description(re.compile("would go over the budget"))
    # The server refuses it on its own too (a page opened before the budget was set): the
    # form sent as a stale page would send it, past the disabled button.
    page.locator("#generate-form").evaluate("form => form.requestSubmit()")
    alert = page.locator(".form-errors")
    expect(alert).to_contain_text("Not sent: this video would use about 3.5 units")
    expect(alert).to_contain_text("you have 1 of 1 monthly units left")
    expect(page.locator(".card", has_text="A marble statue")).to_have_count(0)
    page.wait_for_timeout(1_500)  # anything sent would have reached the simulator by now
    assert stack.sim_stats()["creates"] == creates
