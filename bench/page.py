"""The chat page's weight and speed, measured in Debian's chromium through Playwright.

    python bench/page.py [--runs 5] [--url http://127.0.0.1:8000]

Without --url it serves the app itself on 127.0.0.1 with the test fakes (real SQLite store, hash
embedder, scripted model), so the figures are the page's own, not the model's. Each run opens `/`
in a fresh browser context (cold cache) and reads, from the page's Performance API:
first paint, first contentful paint, DOMContentLoaded, load, and time to interactive — here the
moment the page has wired its controls and loaded the caller's conversations (the `hearth-ready`
mark app.js sets), after which every control responds. Medians over the runs are printed, with
the bytes of every response the page needed (bodies uncompressed, as the server sends them;
the goal is under 150 KB).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

from pagekit import CHROMIUM, CHROMIUM_ARGS, start_fake_hearth  # noqa: E402

BUDGET_BYTES = 150_000

TIMINGS_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = Object.fromEntries(
    performance.getEntriesByType('paint').map(e => [e.name, e.startTime]));
  const ready = performance.getEntriesByName('hearth-ready')[0];
  return {
    first_paint: paint['first-paint'] ?? null,
    first_contentful_paint: paint['first-contentful-paint'] ?? null,
    dom_content_loaded: nav.domContentLoadedEventEnd,
    load: nav.loadEventEnd,
    interactive: ready ? ready.startTime : null,
  };
}"""


def measure(browser: Any, url: str) -> tuple[dict[str, float], dict[str, int]]:
    """One cold load of the page: its timings (ms) and the body bytes of each response."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    sizes: dict[str, int] = {}
    responses: list[Any] = []
    context.on("response", lambda response: responses.append(response))
    page = context.new_page()
    page.goto(url + "/")
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_load_state("networkidle")
    timings = page.evaluate(TIMINGS_JS)
    for response in responses:
        if response.url.startswith(("data:", "blob:")):
            continue
        sizes[response.url.removeprefix(url)] = len(response.body())
    context.close()
    return timings, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--url", help="a running Hearth; default: start one with the fakes")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        hearth = None if args.url else start_fake_hearth(Path(tmp) / "data")
        url = args.url or (hearth.url if hearth else "")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
                )
                measure(browser, url)  # warm the server (first request imports, etc.)
                runs = [measure(browser, url) for _ in range(args.runs)]
                browser.close()
        finally:
            if hearth is not None:
                hearth.stop()

    print(f"Chat page at {url}/ - median of {args.runs} cold loads in chromium (headless)")
    for key, label in (
        ("first_paint", "first paint"),
        ("first_contentful_paint", "first contentful paint"),
        ("dom_content_loaded", "DOMContentLoaded"),
        ("load", "load event"),
        ("interactive", "time to interactive (controls wired, conversations loaded)"),
    ):
        values = [t[key] for t, _ in runs if t.get(key) is not None]
        if values:
            print(f"  {label:<60} {statistics.median(values):8.1f} ms")
    sizes = runs[-1][1]
    total = sum(sizes.values())
    print("Transferred (response bodies, uncompressed):")
    for path, size in sorted(sizes.items(), key=lambda item: -item[1]):
        print(f"  {path:<60} {size:8d} B")
    verdict = "within" if total < BUDGET_BYTES else "OVER"
    print(f"  {'total':<60} {total:8d} B  ({verdict} the {BUDGET_BYTES // 1000} KB budget)")


if __name__ == "__main__":
    main()
