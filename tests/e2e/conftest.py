"""The chat page in a real browser: Debian's chromium driven by Playwright, the app served by
uvicorn on 127.0.0.1 with a real SQLite store and the fakes (see pagekit.py).

Playwright never downloads a browser here: it launches /usr/bin/chromium. Without chromium or
the playwright package the tests skip, except under CI=true where that is a failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pagekit import CHROMIUM, CHROMIUM_ARGS, Hearth, Watch, is_local, start_fake_hearth

# Runs before any page script (injected over CDP, so the page's CSP does not apply to it).
WATCH_SCRIPT = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")  # closed per module: other suites start their own Playwright
def browser() -> Iterator[Any]:
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install playwright)")
    if not CHROMIUM.is_file():
        _unavailable(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def start_hearth(tmp_path: Path) -> Iterator[Callable[..., Hearth]]:
    """Start an app with the fakes: `start_hearth(answer, delay=..., docs=..., **settings)`."""
    running: list[Hearth] = []

    def start(*args: Any, **kwargs: Any) -> Hearth:
        hearth = start_fake_hearth(tmp_path / f"data{len(running)}", *args, **kwargs)
        running.append(hearth)
        return hearth

    yield start
    for hearth in running:
        hearth.stop()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., tuple[Any, Watch]]]:
    """Open the page in a fresh context (fresh storage: a fresh anonymous identity), watching
    every request, dialog, console line and CSP violation."""
    contexts: list[tuple[Any, Any, Watch]] = []

    def open_(
        hearth: Hearth,
        *,
        viewport: tuple[int, int] = (1280, 800),
        color_scheme: str = "light",
        wait_ready: bool = True,
    ) -> tuple[Any, Watch]:
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            color_scheme=color_scheme,
            accept_downloads=True,
            service_workers="block",
        )
        watch = Watch()

        def on_request(request: Any) -> None:
            watch.requests.append(request.url)
            if not is_local(request.url):
                watch.external.append(request.url)
            if request.url.endswith("/api/query") and request.method == "POST":
                watch.queries.append(json.loads(request.post_data or "{}"))

        def on_response(response: Any) -> None:
            if (response.headers.get("content-type") or "").startswith("text/html"):
                watch.html_responses.append(
                    (response.url, response.headers.get("content-security-policy"))
                )

        def on_dialog(dialog: Any) -> None:
            watch.dialogs.append(dialog.message)
            dialog.dismiss()

        context.on("request", on_request)
        context.on("response", on_response)
        # Nothing may leave 127.0.0.1: every other request is recorded above and refused here.
        context.route(lambda url: not is_local(url), lambda route: route.abort())
        page = context.new_page()
        page.add_init_script(WATCH_SCRIPT)
        page.on("dialog", on_dialog)
        page.on("console", lambda message: watch.console.append(message.text))
        page.goto(hearth.url + "/")
        if wait_ready:
            page.wait_for_selector("html[data-ready='true']")
        contexts.append((context, page, watch))
        return page, watch

    yield open_
    for context, page, watch in contexts:
        try:
            violations = page.evaluate("window.__cspViolations")
        except Exception:  # the page may be gone; the context still closes
            violations = []
        context.close()
        assert violations == [], f"CSP violations: {violations}"
        assert watch.external == [], f"requests left 127.0.0.1: {watch.external}"
        assert watch.dialogs == [], f"dialogs opened: {watch.dialogs}"
