"""Issue 12: Generate, the cost and the budget stay in reach while a long queue scrolls, in a
desktop window and on a phone (390x844)."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, Stack, log_in

pytestmark = pytest.mark.browser

PASSWORD = "a-long-reach-password"


def add_creator_with_queue(stack: Stack, username: str, jobs: int) -> None:
    """A creator whose queue already holds `jobs` failed videos (final: nothing polls)."""
    code = (
        "from django.contrib.auth import get_user_model\n"
        "from studio.generations.models import Generation\n"
        f"user = get_user_model().objects.create_user({username!r}, password={PASSWORD!r})\n"
        f"for n in range({jobs}):\n"
        "    Generation.objects.create(owner=user, prompt=f'An old job number {n} ' * 6,\n"
        "        model_name='kling-v1', mode='std', duration='5', aspect_ratio='16:9',\n"
        f"        status='failed', external_task_id=f'{username}-{{n}}',\n"
        "        last_error='The upstream refused it.')\n"
    )
    stack.manage("shell", "-c", code)


def in_viewport(page, selector: str) -> bool:
    return page.evaluate(
        """s => { const r = document.querySelector(s).getBoundingClientRect();
        return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }""",
        selector,
    )


def assert_in_reach(page) -> None:
    for selector in ("#generate-form .generate-row button", "[data-estimate]", ".allowance"):
        assert in_viewport(page, selector), f"{selector} is out of the window"


@pytest.mark.parametrize(
    ("width", "height", "username"), [(1280, 900, "reacher"), (390, 844, "phone_reacher")]
)
def test_generate_stays_in_reach_over_a_long_queue(page, stack, width, height, username) -> None:
    add_creator_with_queue(stack, username, 25)
    page.set_viewport_size({"width": width, "height": height})
    log_in(page, stack, username, PASSWORD)
    expect(page.locator("#queue-list .card")).to_have_count(20)
    assert page.evaluate("document.documentElement.scrollHeight") > 3 * height
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        page.evaluate(
            "f => window.scrollTo(0, f * (document.documentElement.scrollHeight - innerHeight))",
            fraction,
        )
        page.wait_for_timeout(100)
        assert_in_reach(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"studio-reach-{width}.png"), caret="initial")
    # Still a working button where it now sits: it sends the job.
    page.get_by_label("Prompt").fill("A kite rises over a windy beach")
    page.locator("#generate-form .generate-row button").click()
    expect(page.locator(".card", has_text="A kite rises over a windy beach")).to_have_count(1)
