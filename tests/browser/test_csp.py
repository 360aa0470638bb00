"""Every page works under the strict Content-Security-Policy in a real browser: the
browser reports no violation (the `page` fixture also fails on any console error)."""

import pytest

from tests.browser.conftest import log_in, made_video

pytestmark = pytest.mark.browser

WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
    `${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""
PAGES = [
    "/",
    "/history/",
    "/history/?view=list",
    "/history/?archived=only",
    "/library/",
    "/library/presets/",
    "/review/",
    "/gallery/",
    "/spend/",
    "/admin/",
    "/admin/generations/generation/",
    "/admin/auth/user/",
    "/password/",
    "/password/done/",
    "/ops/retention/?days=1",
    "/ops/health/",
    "/admin/ops/backup/",
    "/review/shares/",
    "/review/news/",
]


def test_every_page_works_under_the_policy_without_a_violation(page, stack) -> None:
    page.add_init_script(WATCH)
    log_in(page, stack)
    prompt = "A weather vane turns on a barn roof at dusk"
    card = made_video(page, prompt)
    detail = card.get_by_role("link", name=prompt).get_attribute("href")
    pk = detail.strip("/").split("/")[-1]
    page.goto(detail)
    shot = page.locator('.take-line a[href^="/shots/"]').first.get_attribute("href")
    pages = [
        *PAGES,
        detail,
        f"/admin/generations/generation/{pk}/change/",
        f"/review/{pk}/",
        shot,
        f"/review/share/?kind=video&id={pk}",
    ]
    seen = []
    for url in pages:
        response = page.goto(url)
        if response.status == 404:
            continue  # a page another issue has not built (yet)
        assert response.status == 200, f"{url}: {response.status}"
        policy = response.header_value("content-security-policy") or ""
        assert "default-src 'self'" in policy and "unsafe" not in policy, url
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # scripts run, htmx settles, media starts
        assert page.evaluate("window.__csp") == [], url
        seen.append(url)
    assert len(seen) >= 8, seen
    # A share link's signed-out pages, under the same policy.
    page.goto(f"/review/share/?kind=video&id={pk}")
    page.get_by_label("Guests may comment (they give a name)").check()
    page.get_by_role("button", name="Make the link").click()
    link = page.get_by_label("Link").input_value()
    page.context.clear_cookies()
    response = page.goto(link)
    assert response.status == 200 and "unsafe" not in response.header_value(
        "content-security-policy"
    )
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__csp") == [], link
