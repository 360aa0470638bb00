"""A video in a real browser under `make run`: the studio checks access and redirects, the
media process sends the bytes (docs/architecture.md "Media delivery"), the player seeks
with byte ranges under the strict CSP, and Download saves the file."""

import re

import pytest

from tests.browser.conftest import log_in, made_video

pytestmark = pytest.mark.browser

WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
    `${e.violatedDirective} ${e.blockedURI}`));
"""


def test_the_player_streams_and_seeks_from_the_media_process(page, stack) -> None:
    page.add_init_script(WATCH)
    answers: list[tuple[str, int]] = []
    page.on("response", lambda r: answers.append((r.url, r.status)))
    log_in(page, stack)
    prompt = "A lighthouse beam sweeps across fog at night"
    made_video(page, prompt).get_by_role("link", name=prompt).click()
    video = page.locator("video")
    seeked = video.evaluate(
        "v => new Promise(ok => { const seek = () => { v.addEventListener('seeked',"
        " () => ok(v.currentTime), {once: true}); v.currentTime = v.duration / 2; };"
        " v.readyState ? seek() : v.addEventListener('loadedmetadata', seek, {once: true}); })"
    )
    assert seeked > 0
    media = [(url, status) for url, status in answers if "/media/" in url]
    assert media, answers
    assert all(not url.startswith(stack.url) for url, _ in media)  # another origin: the port
    assert 206 in {status for _, status in media} <= {200, 206}  # the player asks for ranges
    assert any(status == 302 and "/video.mp4" in url for url, status in answers), (
        "the studio answered the player with a redirect"
    )
    assert page.evaluate("window.__csp") == []

    download = page.get_by_role("link", name=re.compile("Download"))
    response = page.request.get(download.first.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "video/mp4"
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.url.split("/media/")[0] != stack.url
