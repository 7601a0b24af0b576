"""The chat page in chromium against the app with fakes: streaming, citations, stop, abstention,
follow-ups, conversations, feedback, exclusion, sign-in, untrusted text rendered inert, CSP."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pagekit import DOCS, ask, owner_of, screenshot

pytestmark = pytest.mark.e2e

PARIS = "How many days of annual leave do employees in Paris get?"


def test_answer_streams_in_and_sources_fill_the_panel(start_hearth, open_page):
    words = "Employees in the Paris office get 27 days of annual leave each year. " * 3
    hearth = start_hearth(words.strip(), delay=0.03)
    page, _ = open_page(hearth)
    assert page.get_attribute("#messages", "aria-live") == "polite"
    page.fill("#question", PARIS)
    page.evaluate(
        """() => {
          window.__lengths = [];
          new MutationObserver(() => {
            const body = document.querySelector('.message-assistant .answer-body.is-streaming');
            if (body) window.__lengths.push(body.textContent.length);
          }).observe(document.getElementById('messages'),
                     {subtree: true, childList: true, characterData: true});
        }"""
    )
    page.click("#ask")
    page.wait_for_selector("#stop:not([hidden])")
    page.wait_for_selector(".answer-body.is-streaming")
    answer = page.locator(".message-assistant").first
    answer.locator(".answer-meta").wait_for(state="attached")
    lengths = page.evaluate("window.__lengths")
    assert len(set(lengths)) >= 10 and lengths == sorted(lengths)  # it grew token by token
    assert "27 days" in answer.locator(".answer-body").inner_text()
    assert answer.locator(".cite").count() >= 1
    cards = page.locator("#source-list .source")
    assert cards.count() >= 1
    assert cards.first.locator(".source-title").inner_text() == "Annual leave"
    assert "Paris" in cards.first.locator(".source-heading").inner_text()
    assert "27 days" in cards.first.locator(".source-snippet").inner_text()
    assert "revision r7" in cards.first.locator(".source-meta").inner_text()
    assert "match 100%" in cards.first.locator(".source-meta").inner_text()  # the best one
    if cards.count() > 1:
        assert re.search(r"match \d{1,3}%", cards.nth(1).locator(".source-meta").inner_text())
    link = cards.first.locator("a")
    assert link.get_attribute("href") == "https://intranet.example/leave#Paris"
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert page.is_visible("#ask") and not page.is_visible("#stop")


def test_citation_opens_its_source(start_hearth, open_page):
    # the page is under test, not retrieval: both passages shown, the hash embedder's evidence
    # never compared with a threshold calibrated for MiniLM
    hearth = start_hearth(
        "Paris staff get 27 days of annual leave. The canteen opens at 11:30 on weekdays.",
        focus_ratio=0,
        abstain_threshold=0,
    )
    page, _ = open_page(hearth)
    answer = ask(page, "annual leave in Paris and canteen opening hours")
    cites = answer.locator(".cite")
    assert cites.count() >= 2
    second = cites.nth(1)
    n = second.get_attribute("data-n")
    second.click()
    card = page.locator(f"#source-{n}")
    assert "is-active" in (card.get_attribute("class") or "")
    assert card.evaluate("node => node === document.activeElement")
    assert second.get_attribute("aria-expanded") == "true"
    assert page.locator("#source-list .source.is-active").count() == 1
    assert card.is_visible()


def test_citation_opens_the_sources_drawer_on_a_phone(start_hearth, open_page):
    hearth = start_hearth()
    page, _ = open_page(hearth, viewport=(390, 844))
    answer = ask(page, PARIS)
    assert not page.locator("#sources").is_visible()
    answer.locator(".cite").first.click()
    page.wait_for_selector("#sources", state="visible")
    assert page.locator("#source-1").is_visible()
    assert page.evaluate("document.getElementById('chat').inert")  # the drawer is modal
    page.keyboard.press("Escape")
    page.wait_for_selector("#sources", state="hidden")
    assert not page.evaluate("document.getElementById('chat').inert")


def wait_until_streamed(page, text: str) -> None:
    """Wait until the answer being streamed shows `text`."""
    page.wait_for_function(
        "(text) => (document.querySelector('.answer-body.is-streaming') || {}).textContent"
        "?.includes(text)",
        arg=text,
    )


def test_stop_cancels_the_generation_on_the_server(start_hearth, open_page):
    long_answer = " ".join(f"word{i}" for i in range(100)) + "."
    hearth = start_hearth(long_answer, delay=0.2)
    page, _ = open_page(hearth)
    answer = ask(page, PARIS, wait=False)
    wait_until_streamed(page, "word2")
    screenshot(page, "desktop-light-streaming")
    page.click("#stop")
    answer.locator(".badge-stopped").wait_for()
    screenshot(page, "desktop-light-stopped")
    assert page.is_visible("#ask") and not page.is_visible("#stop")
    time.sleep(1.0)
    streamed = hearth.model.tokens_streamed
    time.sleep(1.5)
    assert hearth.model.tokens_streamed == streamed  # stopped growing
    assert streamed < 20  # well below the 100 it would have produced
    assert "word2" in answer.locator(".answer-body").inner_text()  # the partial answer stays
    note = answer.locator(".note-stopped").inner_text()
    assert "may be incomplete or wrong" in note and "checked against its sources" in note


def test_escape_stops_an_answer_from_the_keyboard(start_hearth, open_page):
    hearth = start_hearth(" ".join(["slow"] * 100), delay=0.2)
    page, _ = open_page(hearth)
    answer = ask(page, PARIS, wait=False)
    page.wait_for_selector(".answer-body.is-streaming")
    page.keyboard.press("Escape")
    answer.locator(".badge-stopped").wait_for()
    time.sleep(1.0)
    assert hearth.model.tokens_streamed < 20


def test_abstention_looks_different_and_lists_closest_matches(start_hearth, open_page):
    hearth = start_hearth()
    page, _ = open_page(hearth)
    answer = ask(page, "Who won the football world cup in 2022?")
    assert "is-abstained" in (answer.get_attribute("class") or "")
    assert answer.locator(".badge-idk").inner_text() == "I don't know"
    assert answer.locator(".cite").count() == 0
    assert (
        "closest matches" in answer.inner_text().lower() and "did not guess" in answer.inner_text()
    )
    assert page.text_content("#sources-title") == "Closest matches"
    assert hearth.model.prompts == []  # abstained before the model
    meta = answer.locator(".answer-meta").inner_text()
    assert "scripted-model" not in meta and "ms" in meta  # the model did not run: not named
    normal = ask(page, PARIS)
    assert "is-abstained" not in (normal.get_attribute("class") or "")
    assert normal.locator(".badge").count() == 0
    assert "scripted-model" in normal.locator(".answer-meta").inner_text()


def test_uncited_answer_is_flagged(start_hearth, open_page):
    hearth = start_hearth(
        "Paris staff get 27 days of annual leave. The CEO owns nine yachts in Monaco."
    )
    page, _ = open_page(hearth)
    answer = ask(page, "annual leave in Paris")
    assert "is-uncited" in (answer.get_attribute("class") or "")
    assert answer.locator(".badge-uncited").is_visible()
    note = answer.locator(".note-uncited").inner_text()
    assert "not supported by the sources" in note and "Treat them with care" in note
    assert "not supported" not in answer.locator(".answer-body").inner_text()  # said once


def test_an_unsupported_answer_is_replaced_by_a_cited_quote(start_hearth, open_page):
    hearth = start_hearth("The CEO owns nine yachts in Monaco.")
    page, _ = open_page(hearth)
    answer = ask(page, PARIS)
    assert "is-quoted" in (answer.get_attribute("class") or "")
    assert answer.locator(".badge-quoted").inner_text() == "Quoted from a source"
    body = answer.locator(".answer-body").inner_text()
    assert "27 days" in body and "yachts" not in body  # the streamed draft was replaced
    assert "not supported" not in body  # the reason is said once, in the note
    note = answer.locator(".note-quoted").inner_text()
    assert "not supported by the sources" in note and "model" not in note  # no jargon
    assert note.startswith("Hearth's own wording")
    assert answer.locator(".cite").count() == 1
    answer.locator(".cite").first.click()
    assert "27 days" in page.locator("#source-list .source").first.inner_text()


def test_a_quote_is_explained_by_its_reason_code_not_the_notes_wording(start_hearth, open_page):
    """The server's note may be reworded; the page explains a quote by `quote_reason`."""
    hearth = start_hearth("I don't know.")
    page, _ = open_page(hearth)

    def reworded(route: Any) -> None:
        response = route.fetch()
        body = response.text().replace("was that it did not know", "declined to answer")
        route.fulfill(response=response, body=body)

    page.route("**/api/query", reworded)
    answer = ask(page, PARIS)
    assert "declined to answer" not in answer.inner_text()  # the server's note is not shown
    note = answer.locator(".note-quoted").inner_text()
    assert "said it did not know" in note, note
    assert "27 days" in answer.locator(".answer-body").inner_text()


def test_thanks_gets_a_plain_reply_without_sources(start_hearth, open_page):
    hearth = start_hearth()
    page, _ = open_page(hearth)
    ask(page, PARIS)
    reply = ask(page, "thanks!")
    assert reply.locator(".answer-body").inner_text().strip() == "You're welcome."
    classes = reply.get_attribute("class") or ""
    assert "is-abstained" not in classes and "is-quoted" not in classes
    assert reply.locator(".badge").count() == 0 and reply.locator(".cite").count() == 0
    assert "scripted-model" not in reply.locator(".answer-meta").inner_text()  # it did not run


def test_an_answer_cut_at_the_length_limit_says_so(start_hearth, open_page):
    hearth = start_hearth(
        "Employees in Paris get 27 days [1] of annual leave each year, as the page says.",
        max_answer_tokens=7,
    )
    page, _ = open_page(hearth)
    answer = ask(page, PARIS)
    assert answer.locator(".badge-truncated").inner_text() == "Cut short"
    assert "may be incomplete" in answer.locator(".note-truncated").inner_text()
    assert "27 days" in answer.locator(".answer-body").inner_text()


WRAPPED_DOC = (
    "allhands", "All-hands notes", (),
    "Lisbon lease\n   - Until then, the desk booking tool is used on Mondays\n"
    "     and Thursdays, the busiest days.",
    {"public"}, None,
)  # fmt: skip


def test_a_quote_from_a_wrapped_line_is_whole_and_highlighted_in_its_card(start_hearth, open_page):
    hearth = start_hearth("The CEO owns nine yachts in Monaco.", docs=[WRAPPED_DOC])
    page, _ = open_page(hearth)
    answer = ask(page, "On which days is the desk booking tool used in Lisbon?")
    body = answer.locator(".answer-body").inner_text()
    assert "used on Mondays and Thursdays, the busiest days." in body  # not cut at the wrap
    answer.locator(".cite").first.click()
    mark = page.locator("#source-list .source").first.locator("mark")
    assert " ".join(mark.inner_text().split()) == (
        "Until then, the desk booking tool is used on Mondays and Thursdays, the busiest days."
    )


def test_follow_up_stays_in_the_conversation(start_hearth, open_page):
    def answer(messages: list[dict[str, str]]) -> str:
        if "Berlin" in messages[-1]["content"].split("answer:")[-1]:
            return "Employees in Berlin get 30 days of annual leave."
        return "Employees in Paris get 27 days of annual leave."

    hearth = start_hearth(answer)
    page, watch = open_page(hearth)
    ask(page, PARIS)
    second = ask(page, "And in Berlin?")
    assert "30 days" in second.inner_text()
    first_query, second_query = watch.queries
    assert "conversation_id" not in first_query
    conversations = hearth.services.conversations.list_for(owner_of(page))
    assert len(conversations) == 1
    assert second_query["conversation_id"] == conversations[0].id
    stored = hearth.services.conversations.get(conversations[0].id, owner_of(page))
    assert stored is not None
    assert [m.role for m in stored.messages] == ["user", "assistant"] * 2
    assert page.locator("#conversation-list li").count() == 1
    assert page.inner_text("#conversation-title") == PARIS
    # Reloading and opening it from the side list shows both exchanges with their sources.
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    page.click("#conversation-list button")
    page.wait_for_selector(".message-assistant >> nth=1")
    assert page.locator(".message-assistant").count() == 2
    assert page.locator(".message-assistant").nth(1).locator(".cite").count() >= 1
    assert page.locator("#source-list .source").count() >= 1


def test_rename_export_and_delete_a_conversation(start_hearth, open_page, tmp_path: Path):
    hearth = start_hearth()
    page, _ = open_page(hearth)
    ask(page, PARIS)
    owner = owner_of(page)
    conversation_id = hearth.services.conversations.list_for(owner)[0].id

    page.click("#rename-conversation")
    page.fill("#rename-input", "Leave in Paris")
    page.press("#rename-input", "Enter")
    page.wait_for_selector("#conversation-list button:has-text('Leave in Paris')")
    assert hearth.services.conversations.list_for(owner)[0].title == "Leave in Paris"

    with page.expect_download() as download:
        page.click("#export-conversation")
    saved = tmp_path / "export.json"
    download.value.save_as(saved)
    exported = json.loads(saved.read_text())
    assert exported["format"] == "hearth-conversation/1" and exported["id"] == conversation_id
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant"]

    page.click("#delete-conversation")
    page.click("#delete-dialog button[type=submit]")
    page.wait_for_selector("#conversation-list li", state="detached")
    assert hearth.services.conversations.list_for(owner) == []
    assert page.is_visible("#welcome") and page.locator(".message").count() == 0
    assert page.inner_text("#conversation-title") == "New conversation"


def test_new_chat_starts_a_separate_conversation(start_hearth, open_page):
    hearth = start_hearth()
    page, watch = open_page(hearth)
    ask(page, PARIS)
    page.click("#new-chat")
    assert page.locator(".message").count() == 0
    ask(page, "When does the canteen open?")
    assert "conversation_id" not in watch.queries[1]
    page.wait_for_function("() => document.querySelectorAll('#conversation-list li').length === 2")
    assert len(hearth.services.conversations.list_for(owner_of(page))) == 2


def test_thumbs_feedback_is_stored(start_hearth, open_page):
    hearth = start_hearth()
    page, _ = open_page(hearth)
    answer = ask(page, PARIS)
    owner = owner_of(page)
    conversation = hearth.services.conversations.list_for(owner)[0]
    stored = hearth.services.conversations.get(conversation.id, owner)
    assert stored is not None
    message_id = stored.messages[-1].id

    answer.get_by_role("button", name="Helpful", exact=True).click()
    answer.locator(".thanks:has-text('rating was saved')").wait_for()
    assert (
        answer.get_by_role("button", name="Helpful", exact=True).get_attribute("aria-pressed")
        == "true"
    )
    assert hearth.services.conversations.feedback_for(message_id, owner) == {
        "rating": "up", "comment": ""
    }  # fmt: skip

    answer.get_by_role("button", name="Not helpful").click()
    answer.get_by_label("Tell us more (optional)").fill("It missed the Berlin office.")
    answer.get_by_role("button", name="Send comment").click()
    answer.locator(".thanks:has-text('comment was saved')").wait_for()
    assert hearth.services.conversations.feedback_for(message_id, owner) == {
        "rating": "down", "comment": "It missed the Berlin office."
    }  # fmt: skip


def regenerate_without_leave(page) -> None:
    """Tick the leave document's source, regenerate, and wait for the second answer."""
    page.locator("#source-list input[data-document-id='leave']").first.check()
    assert page.inner_text("#regenerate") == "Regenerate without 1 source"
    page.click("#regenerate")
    page.wait_for_function(
        "() => document.querySelectorAll('.message-assistant .answer-meta').length === 2"
    )
    page.wait_for_selector("#ask:not([hidden])")


def test_exclude_a_source_and_regenerate(start_hearth, open_page):
    hearth = start_hearth()
    page, watch = open_page(hearth)
    ask(page, PARIS)
    assert page.locator("#source-list .source").first.get_attribute("data-n") == "1"
    assert page.is_disabled("#regenerate")
    regenerate_without_leave(page)
    assert watch.queries[1]["exclude_document_ids"] == ["leave"]
    assert watch.queries[1]["question"] == PARIS
    assert watch.queries[1]["conversation_id"]
    assert "Asked again without: Annual leave" in page.locator(".message-user").nth(1).inner_text()
    ids = page.eval_on_selector_all(
        "#source-list input[data-document-id]", "nodes => nodes.map(n => n.dataset.documentId)"
    )
    assert "leave" not in ids


def test_about_panel_says_what_runs(start_hearth, open_page):
    hearth = start_hearth()
    page, _ = open_page(hearth)
    page.click("#open-about")
    page.wait_for_selector("#about-list dd:has-text('scripted-model')")
    about = page.inner_text("#about-dialog")
    for expected in (
        "scripted-model",
        "apache-2.0",
        "hash-embedder",
        "Nothing leaves this machine",
    ):
        assert expected in about
    documents = about.split("Documents you can read")[1].split("\n")[1].strip()
    assert documents == "3"  # the hr document is not counted for an anonymous reader
    assert "no: you read public documents only" in about
    page.keyboard.press("Escape")
    assert not page.is_visible("#about-dialog")


def test_sign_in_with_an_api_key_when_the_server_requires_one(start_hearth, open_page):
    hearth = start_hearth(require_auth=True)
    key, _ = hearth.services.keys.create("alice", "hr")
    page, _ = open_page(hearth)
    page.wait_for_selector("#signin-dialog[open]")
    assert "requires an API key" in page.inner_text("#signin-message")
    page.fill("#api-key", key)
    page.press("#api-key", "Enter")
    assert not page.is_visible("#signin-dialog")
    assert page.evaluate("sessionStorage.getItem('hearth.apiKey')") == key
    assert page.evaluate("localStorage.getItem('hearth.apiKey')") is None
    assert page.inner_text("#open-signin") == "Sign out"
    ask(page, "What are the Band C salary ranges?")
    assert len(hearth.services.conversations.list_for("alice")) == 1
    assert any(
        s.inner_text() == "Salary bands" for s in page.locator(".source-title").all()
    )  # the key's groups apply


def test_keyboard_only_ask_cite_and_rate(start_hearth, open_page):
    hearth = start_hearth()
    page, _ = open_page(hearth)
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement?.id === 'question'")
    page.keyboard.type(PARIS)
    page.keyboard.press("Enter")
    page.wait_for_selector(".message-assistant .answer-meta", state="attached")
    page.wait_for_selector("#ask:not([hidden])")
    for _ in range(40):  # Tab forward until a citation has focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('cite')"):
            break
    else:
        pytest.fail("no citation reachable with Tab")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement?.id === 'source-1'")


def test_controls_have_accessible_names(start_hearth, open_page):
    hearth = start_hearth()
    page, _ = open_page(hearth)
    ask(page, PARIS)
    nameless = page.evaluate(
        """() => [...document.querySelectorAll('button, textarea, input, a[href]')]
            .filter(n => n.offsetParent !== null)
            .filter(n => {
              const label = n.getAttribute('aria-label') || n.labels?.[0]?.textContent
                || n.textContent;
              return !label || !label.trim();
            }).map(n => n.outerHTML.slice(0, 80))"""
    )
    assert nameless == []
    assert page.get_attribute("html", "lang") == "en"


def test_headings_start_with_the_page_and_give_each_question_its_own(start_hearth, open_page):
    """ "Conversations" (h2) came before the page's only h1, and answers had no headings: a
    screen reader's heading keys could not step from one question to the next."""
    hearth = start_hearth()
    page, _ = open_page(hearth)
    ask(page, PARIS)
    ask(page, "When does the canteen open?")
    headings = page.evaluate(
        """() => [...document.querySelectorAll('h1, h2, h3')]
            .filter(n => n.offsetParent !== null || n.closest('.message'))
            .map(n => [n.tagName, n.textContent.trim()])"""
    )
    assert headings[0] == ["H1", "Hearth"]
    assert [h for h in headings if h[0] == "H1"] == [["H1", "Hearth"]]
    questions = [text for tag, text in headings if text.startswith("You asked: ")]
    assert questions == [f"You asked: {PARIS}", "You asked: When does the canteen open?"]


def test_source_controls_say_which_source_they_act_on(start_hearth, open_page):
    """Every card had a box "Exclude from the answer" and a link "Open source": a screen
    reader's list of controls could not tell them apart."""
    hearth = start_hearth()
    page, _ = open_page(hearth)
    ask(page, PARIS)
    names = page.evaluate(
        """() => [...document.querySelectorAll('#source-list input, #source-list a[href]')]
            .map(n => n.getAttribute('aria-label'))"""
    )
    assert names and len(set(names)) == len(names)
    assert names[0].startswith("Exclude source 1, ") or names[0].startswith("Open source 1, ")


def test_keyboard_focus_follows_drawers_and_the_ask_button_on_a_phone(start_hearth, open_page):
    """Focus fell to the page's body when a drawer opened (it was still hidden while sliding
    in) and when Ask, which has focus, hid itself for Stop; Escape sent it to the question box
    instead of back to the citation."""
    hearth = start_hearth(delay=0.05)
    page, _ = open_page(hearth, viewport=(390, 844))
    page.focus("#question")
    page.keyboard.type(PARIS)
    page.focus("#ask")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement?.id === 'stop'")
    page.wait_for_selector("#ask:not([hidden])", timeout=30_000)
    page.wait_for_function("() => document.activeElement?.id === 'question'")
    citation = page.locator(".message-assistant .cite").first
    citation.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement?.id === 'source-1'")
    assert page.evaluate("document.querySelector('.skip-link').inert")  # behind the drawer
    page.keyboard.press("Escape")
    page.wait_for_selector("#sources", state="hidden")
    assert page.evaluate("document.activeElement.classList.contains('cite')")
    article = page.locator(".message-assistant").first.get_attribute("aria-label")
    assert article == "Answer to: " + PARIS  # not "Answer" for every one
    page.focus("#toggle-nav")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement?.id === 'close-nav'")


def test_a_short_window_leaves_room_to_read(start_hearth, open_page):
    """At 200% zoom on a 1280x720 laptop (640x360) the bars that never scroll away left 118 px
    for the conversation, and 24 px at 320x256; the composer's label stays for screen readers."""
    hearth = start_hearth()
    for (width, height), least in (((640, 360), 200), ((320, 256), 100)):
        page, _ = open_page(hearth, viewport=(width, height))
        ask(page, PARIS)
        assert page.evaluate("document.getElementById('chat-scroll').clientHeight") >= least
        assert page.evaluate("document.body.scrollWidth") <= width  # nothing runs off the side
        assert page.evaluate("document.getElementById('question').labels[0].textContent") == (
            "Your question"
        )


# Payloads in a stored document (title, heading, text, URL) and in the model's answer.
XSS = (
    "<script>window.__xss = 1</script> "
    "<img src=x onerror=\"window.__xss = 2; console.log('XSS-FIRED')\"> "
    "[click me](javascript:window.__xss=3) "
    '<a href="javascript:window.__xss=4">a link</a> '
    '<img src="http://example.com/x.png"> ![pixel](http://example.com/y.png) '
    '<svg onload="window.__xss = 5"></svg> <iframe src="javascript:window.__xss=6"></iframe> '
    '<style>body { background: url("http://example.com/bg.png") }</style>'
)
XSS_DOC = (
    "widgets",
    'Widget <img src=x onerror="window.__xss = 7"> handbook',
    ("<b>Safety</b> <script>window.__xss = 8</script>",),
    "Widget safety rules: widgets must be stored in the blue cabinet. " + XSS,
    {"public"},
    "javascript:window.__xss=9",
)


def test_untrusted_document_and_answer_render_inert(start_hearth, open_page):
    answer_text = "Widgets must be stored in the blue cabinet. " + XSS
    hearth = start_hearth(answer_text, docs=[*DOCS, XSS_DOC])
    page, watch = open_page(hearth)
    question = 'widget safety blue cabinet <img src=x onerror="window.__xss = 10">'
    answer = ask(page, question)
    page.locator(".cite").first.click()

    def assert_inert() -> None:
        page.wait_for_timeout(300)  # give any injected handler a chance to fire
        assert page.evaluate("typeof window.__xss") == "undefined"
        assert not any("XSS-FIRED" in line for line in watch.console)
        for selector in ("script", "img", "iframe", "svg", "style", "object", "embed"):
            count = page.locator(f"#messages {selector}, #sources {selector}").count()
            assert count == 0, selector
        assert page.locator("#conversation-list img").count() == 0
        hrefs = page.eval_on_selector_all("a[href]", "nodes => nodes.map(n => n.href)")
        assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
        assert page.locator("[onerror], [onload], [style]").count() == 0

    assert_inert()
    screenshot(page, "desktop-light-untrusted-text")
    assert "<script>window.__xss = 1</script>" in answer.locator(".answer-body").inner_text()
    # found by its title: the card shows the part of the passage closest to the question
    card = page.locator("#source-list .source", has_text="handbook")
    assert "<img src=x" in card.locator(".source-title").inner_text()
    assert card.locator("a").count() == 0  # a javascript: URL never becomes a link
    assert "<img" in page.inner_text("#conversation-list")  # the title is text, too
    # Rendered again from the stored conversation.
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    page.click("#conversation-list button")
    page.wait_for_selector(".message-assistant")
    assert_inert()
    assert watch.external == [] and watch.dialogs == []
    assert all(url.startswith(hearth.url) or url.startswith("data:") for url in watch.requests)


def test_csp_header_on_every_html_response(start_hearth, open_page):
    hearth = start_hearth()
    page, watch = open_page(hearth)
    page.goto(hearth.url + "/static/index.html")
    page.wait_for_selector("html[data-ready='true']")
    assert watch.html_responses, "no HTML response seen"
    for url, csp in watch.html_responses:
        assert csp is not None, url
        assert (
            "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        )
        assert "img-src 'self' data:" in csp and "connect-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
    for path in ("/", "/static/index.html", "/?q=1"):
        response = httpx.get(hearth.url + path)
        assert response.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_page_is_light(start_hearth, open_page):
    hearth = start_hearth()
    page, watch = open_page(hearth)
    page.wait_for_load_state("networkidle")
    total = sum(
        len(httpx.get(url).content)
        for url in set(watch.requests)
        if url.startswith(hearth.url) and "/api/" not in url
    )
    assert total < 150_000
    html = httpx.get(hearth.url + "/").text
    assert "<script>" not in html and " style=" not in html and " on" + "click" not in html


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_screenshots(start_hearth, open_page, color_scheme):
    """Desktop and phone, light and dark: saved for a person to look at."""
    hearth = start_hearth(
        lambda messages: (
            "Employees in Paris get 27 days of annual leave. "
            "In Berlin, employees get 30 days of annual leave."
        )
    )
    page, _ = open_page(hearth, color_scheme=color_scheme)
    screenshot(page, f"desktop-{color_scheme}-empty")
    ask(page, "Who won the football world cup in 2022?")  # first: a follow-up would find leave
    ask(page, "How many days of annual leave do employees in Paris and Berlin get?")
    page.locator(".message-assistant").nth(1).locator(".cite").first.click()
    screenshot(page, f"desktop-{color_scheme}-answer")
    page.click("#open-about")
    page.wait_for_selector("#about-list dd:has-text('scripted-model')")
    screenshot(page, f"desktop-{color_scheme}-about")

    phone, _ = open_page(hearth, viewport=(390, 844), color_scheme=color_scheme)
    screenshot(phone, f"phone-{color_scheme}-empty")
    ask(phone, "How many days of annual leave do employees in Paris and Berlin get?")
    screenshot(phone, f"phone-{color_scheme}-answer")
    phone.locator(".message-assistant .cite").first.click()
    phone.wait_for_selector("#sources", state="visible")
    phone.wait_for_timeout(300)
    screenshot(phone, f"phone-{color_scheme}-sources")
    phone.keyboard.press("Escape")
    phone.click("#toggle-nav")
    phone.wait_for_selector("#nav", state="visible")
    phone.wait_for_timeout(300)
    screenshot(phone, f"phone-{color_scheme}-conversations")


@pytest.mark.parametrize("how", ["button", "Escape"])
def test_stop_on_the_first_answer_keeps_its_conversation(start_hearth, open_page, how):
    """The server stores a stopped first answer; the page must adopt that conversation (no
    `done` event tells it the id), so the header, the list and a follow-up all use it."""

    def answer(messages: list[dict[str, str]]) -> str:
        if "Berlin" in messages[-1]["content"].split("answer:")[-1]:
            return "Employees in Berlin get 30 days of annual leave."
        return " ".join(f"word{i}" for i in range(100)) + "."

    hearth = start_hearth(answer, delay=0.2)
    page, watch = open_page(hearth)
    first = ask(page, PARIS, wait=False)
    wait_until_streamed(page, "word2")
    if how == "button":
        page.click("#stop")
    else:
        page.keyboard.press("Escape")
    first.locator(".badge-stopped").wait_for()
    page.wait_for_function(
        "() => document.getElementById('conversation-title').textContent === " + json.dumps(PARIS),
        timeout=15_000,
    )
    assert page.is_visible("#conversation-actions")
    assert page.is_visible("#rename-conversation") and page.is_visible("#delete-conversation")
    assert page.locator("#conversation-list li").count() == 1
    assert page.locator("#conversation-list button[aria-current='true']").count() == 1
    assert "word2" in first.locator(".answer-body").inner_text()  # the partial answer stays

    hearth.model.delay = 0
    second = ask(page, "And in Berlin?")
    assert "30 days" in second.inner_text()
    conversations = hearth.services.conversations.list_for(owner_of(page))
    assert len(conversations) == 1  # the follow-up did not start a second conversation
    assert watch.queries[1]["conversation_id"] == conversations[0].id
    stored = hearth.services.conversations.get(conversations[0].id, owner_of(page))
    assert stored is not None
    assert [m.role for m in stored.messages] == ["user", "assistant"] * 2
    assert stored.messages[1].details["stopped"] is True
    assert page.locator("#conversation-list li").count() == 1


def test_regenerate_counts_only_the_boxes_ticked_on_the_current_answer(start_hearth, open_page):
    hearth = start_hearth(focus_ratio=0, abstain_threshold=0)  # the new answer has sources
    page, watch = open_page(hearth)
    ask(page, PARIS)
    regenerate_without_leave(page)
    assert page.locator("#source-list .source").count() >= 1
    assert page.locator("#source-list input:checked").count() == 0
    assert page.inner_text("#regenerate") == "Regenerate without excluded sources"
    assert page.is_disabled("#regenerate")
    # Ticking one of the new answer's sources counts that one; the earlier exclusion still holds.
    page.locator("#source-list input[data-document-id]").first.check()
    assert page.inner_text("#regenerate") == "Regenerate without 1 source"
    assert not page.is_disabled("#regenerate")
    ticked = page.locator("#source-list input:checked").first.get_attribute("data-document-id")
    page.click("#regenerate")
    page.wait_for_function(
        "() => document.querySelectorAll('.message-assistant .answer-meta').length === 3"
    )
    assert sorted(watch.queries[2]["exclude_document_ids"]) == sorted(["leave", ticked])
    # Opening an earlier answer's sources shows its own count again.
    page.locator(".message-assistant").first.locator(".answer-foot button").first.click()
    checked = page.eval_on_selector_all(
        "#source-list input:checked", "nodes => nodes.map(n => n.dataset.documentId)"
    )
    assert set(checked) == {"leave"}  # its passages, one document
    assert page.inner_text("#regenerate") == "Regenerate without 1 source"


def test_a_stop_before_the_first_token_says_so_once(start_hearth, open_page):
    hearth = start_hearth(delay=2.0)  # the first token is two seconds away
    page, _ = open_page(hearth)
    answer = ask(page, PARIS, wait=False)
    answer.locator(".answer-status:has-text('Reading')").wait_for()  # sources came, no token
    page.click("#stop")
    answer.locator(".badge-stopped").wait_for()
    assert answer.locator(".answer-body").inner_text() == "Stopped before the answer began."
    assert answer.locator(".answer-note").count() == 0  # not also "it may be incomplete"
    assert "may be incomplete" not in answer.inner_text()


def test_a_rating_is_shown_again_when_the_conversation_is_reopened(start_hearth, open_page):
    hearth = start_hearth()
    page, _ = open_page(hearth)
    answer = ask(page, PARIS)
    answer.get_by_role("button", name="Helpful", exact=True).click()
    answer.locator(".thanks:has-text('rating was saved')").wait_for()
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    page.click("#conversation-list button")
    reopened = page.locator(".message-assistant").first
    reopened.locator(".feedback").wait_for()
    helpful = reopened.get_by_role("button", name="Helpful", exact=True)
    not_helpful = reopened.get_by_role("button", name="Not helpful")
    assert helpful.get_attribute("aria-pressed") == "true"
    assert not_helpful.get_attribute("aria-pressed") == "false"
    # Changing it from the reopened page replaces the stored rating.
    not_helpful.click()
    reopened.locator(".thanks:has-text('rating was saved')").wait_for()
    assert helpful.get_attribute("aria-pressed") == "false"
    owner = owner_of(page)
    conversation = hearth.services.conversations.list_for(owner)[0]
    stored = hearth.services.conversations.get(conversation.id, owner)
    assert stored is not None and stored.messages[-1].rating == "down"


def server_down(page, pattern: str = "**/api/**") -> None:
    """From here on the page's API requests fail as if the server were down."""
    page.route(pattern, lambda route: route.abort())


def test_an_unreachable_server_is_said_plainly_and_the_question_comes_back(start_hearth, open_page):
    hearth = start_hearth()
    page, _ = open_page(hearth)
    server_down(page)
    answer = ask(page, PARIS)
    note = answer.locator(".note-error").inner_text()
    assert "Hearth cannot be reached" in note and "fetch" not in note.lower()
    assert page.input_value("#question") == PARIS  # given back: it was cleared when asked
    sources = page.inner_text("#sources")
    assert "No passage was found" not in sources  # no search ran
    assert "not answered" in sources
    screenshot(page, "desktop-light-unreachable")
    page.click("#open-about")
    page.wait_for_selector("#about-list .error-text")
    about = page.inner_text("#about-list")
    assert "Hearth cannot be reached" in about and "fetch" not in about.lower()
    page.keyboard.press("Escape")


def test_a_failed_refresh_keeps_the_conversation_list(start_hearth, open_page):
    hearth = start_hearth()
    page, _ = open_page(hearth)
    ask(page, PARIS)
    page.wait_for_selector("#conversation-list li")
    server_down(page, "**/api/conversations**")
    ask(page, "And in Berlin?")  # its answer refreshes the list, which fails
    page.wait_for_selector("#conversation-error:has-text('could not be refreshed')")
    assert "cannot be reached" in page.inner_text("#conversation-error")
    assert page.locator("#conversation-list li").count() == 1  # the list last known stays
    assert not page.is_visible("#conversation-empty")  # not "will appear here"
    page.click("#export-conversation")  # its download fails as well: said under the title
    page.wait_for_selector("#notice:has-text('Could not export')")
    screenshot(page, "desktop-light-list-not-refreshed")
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    assert page.is_visible("#conversation-error:has-text('could not be loaded')")
    assert not page.is_visible("#conversation-empty")


def test_rename_delete_and_export_failures_are_shown(start_hearth, open_page):
    hearth = start_hearth()
    page, _ = open_page(hearth)
    ask(page, PARIS)
    owner = owner_of(page)
    page.click("#rename-conversation")
    page.fill("#rename-input", "   ")
    page.press("#rename-input", "Enter")
    assert "only spaces" in page.inner_text("#rename-error")
    assert page.is_visible("#rename-error") and page.is_visible("#rename-dialog")
    server_down(page, "**/api/conversations/**")
    page.fill("#rename-input", "Leave in Paris")
    page.press("#rename-input", "Enter")
    page.wait_for_selector("#rename-error:has-text('cannot be reached')")
    assert page.is_visible("#rename-dialog")
    page.click("#rename-dialog [data-close]")

    page.click("#delete-conversation")
    assert not page.is_visible("#delete-error")
    page.click("#delete-dialog button[type=submit]")
    page.wait_for_selector("#delete-error:has-text('Could not delete')")
    assert page.is_visible("#delete-dialog")  # not closed as if it had worked
    screenshot(page, "desktop-light-delete-failed")
    assert len(hearth.services.conversations.list_for(owner)) == 1
    assert page.locator(".message-assistant").count() == 1
    page.click("#delete-dialog [data-close]")

    page.click("#export-conversation")
    page.wait_for_selector("#notice:has-text('Could not export')")
    assert "cannot be reached" in page.inner_text("#notice")

    page.unroute("**/api/conversations/**")
    page.click("#delete-conversation")
    assert not page.is_visible("#delete-error")  # the old error is gone
    page.click("#delete-dialog button[type=submit]")
    page.wait_for_selector("#conversation-list li", state="detached")
    assert not page.is_visible("#notice")


def test_signing_in_starts_a_new_chat(start_hearth, open_page):
    hearth = start_hearth()
    key, _ = hearth.services.keys.create("alice", "hr")
    page, watch = open_page(hearth)
    ask(page, PARIS)
    assert page.is_visible("#conversation-actions")
    page.click("#open-signin")
    page.fill("#api-key", key)
    page.press("#api-key", "Enter")
    page.wait_for_selector("#open-signin:has-text('Sign out')")
    assert page.locator(".message").count() == 0 and page.is_visible("#welcome")
    assert not page.is_visible("#conversation-actions")  # the anonymous chat is not alice's
    assert page.inner_text("#conversation-title") == "New conversation"
    page.wait_for_function("() => !document.querySelector('#conversation-list li')")
    answer = ask(page, "What are the Band C salary ranges?")
    assert answer.locator(".badge-error").count() == 0
    assert "conversation_id" not in watch.queries[-1]
    assert len(hearth.services.conversations.list_for("alice")) == 1
    page.click("#open-signin")  # signing out resets too
    assert page.locator(".message").count() == 0
    assert not page.is_visible("#conversation-actions")


def test_a_follow_up_to_a_deleted_conversation_starts_a_new_one(start_hearth, open_page):
    hearth = start_hearth()
    page, watch = open_page(hearth)
    ask(page, PARIS)
    owner = owner_of(page)
    gone = hearth.services.conversations.list_for(owner)[0].id
    assert hearth.services.conversations.delete(gone, owner)  # as from another tab
    page.fill("#question", "When does the canteen open?")
    page.press("#question", "Enter")
    page.wait_for_selector("#notice:has-text('was deleted')")
    page.wait_for_selector("#ask:not([hidden])")
    page.wait_for_selector(".message-assistant .answer-meta", state="attached")
    assert page.locator(".message-assistant").count() == 1
    assert page.locator(".badge-error").count() == 0
    assert "not found" not in page.inner_text("#chat")
    assert watch.queries[-2]["conversation_id"] == gone
    assert "conversation_id" not in watch.queries[-1]
    [conversation] = hearth.services.conversations.list_for(owner)
    assert conversation.id != gone and conversation.title == "When does the canteen open?"


def accessible_name(page, selector: str) -> str:
    """The name chromium's accessibility tree gives an element (what a screen reader says)."""
    cdp = page.context.new_cdp_session(page)
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    nodes = cdp.send("Accessibility.getPartialAXTree", {"nodeId": node, "fetchRelatives": False})
    cdp.detach()
    return str(nodes["nodes"][0].get("name", {}).get("value", ""))


def test_icon_only_buttons_on_a_phone_have_names(start_hearth, open_page):
    hearth = start_hearth(delay=0.3)
    page, _ = open_page(hearth, viewport=(400, 800))
    assert not page.is_visible("#new-chat .label") and not page.is_visible("#ask .label")
    assert accessible_name(page, "#new-chat") == "New chat"
    assert accessible_name(page, "#ask") == "Ask"
    ask(page, PARIS, wait=False)
    page.wait_for_selector("#stop:not([hidden])")
    assert accessible_name(page, "#stop") == "Stop"
    page.click("#stop")


def test_a_question_at_the_length_limit_says_so(start_hearth, open_page):
    hearth = start_hearth()
    page, _ = open_page(hearth, viewport=(390, 844))
    page.fill("#question", "x" * 3000)
    assert not page.is_visible("#question-limit")
    page.fill("#question", "x" * 3700)
    assert page.inner_text("#question-limit") == "3,700 of 4,000 characters"
    page.fill("#question", "x" * 4000)
    assert "the limit" in page.inner_text("#question-limit")
    page.fill("#question", "")
    assert not page.is_visible("#question-limit")
    # A paste longer than the box: the browser keeps its first 4,000 characters, silently.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    long = "Some background. " * 300 + "So, how many days of leave do I get?"
    page.evaluate("(text) => navigator.clipboard.writeText(text)", long)
    page.focus("#question")
    page.keyboard.press("Control+V")
    page.wait_for_selector("#question-limit:has-text('cut')")
    assert len(page.input_value("#question")) == 4000
    assert page.is_visible("#question-limit")
    assert "end is missing" in page.inner_text("#question-limit")
    screenshot(page, "phone-light-question-cut")


def test_a_finished_answer_is_scrolled_into_view(start_hearth, open_page):
    words = "Employees in the Paris office get 27 days of annual leave each year. " * 8
    hearth = start_hearth(words.strip(), delay=0.01)
    page, _ = open_page(hearth, viewport=(1280, 520))
    answer = ask(page, PARIS)
    page.wait_for_timeout(300)
    gap = page.evaluate(
        "(() => { const b = document.getElementById('chat-scroll');"
        " return b.scrollHeight - b.scrollTop - b.clientHeight; })()"
    )
    assert gap < 2
    helpful = answer.get_by_role("button", name="Helpful", exact=True)
    box = helpful.bounding_box()
    scroller = page.locator("#chat-scroll").bounding_box()
    assert box and scroller and box["y"] + box["height"] <= scroller["y"] + scroller["height"]


def test_one_passage_is_a_passage(start_hearth, open_page):
    hearth = start_hearth(delay=2.0, docs=[DOCS[0]])
    page, _ = open_page(hearth)
    answer = ask(page, PARIS, wait=False)
    answer.locator(".answer-status:has-text('Reading')").wait_for()
    assert answer.locator(".answer-status").inner_text() == "Reading 1 passage…"
    page.click("#stop")
    answer.locator(".badge-stopped").wait_for()


def test_a_count_of_something_else_is_explained_as_such(start_hearth, open_page):
    """ "How many laptops" answered with the trucks' count: quoted from the sentence that counts
    laptops, and the page says why in its own words (`quote_reason` other_count)."""
    memo = (
        "memo", "Delivery memo", (),
        "There were 20,000 bottles of water, 10,000 blankets, and 200 laptops delivered on "
        "January 23, 2023. A total of 3 trucks were used for 15 hours.", {"public"}, None,
    )  # fmt: skip
    hearth = start_hearth(
        "A total of 3 trucks were used for 15 hours [1].", docs=[memo], abstain_threshold=0
    )
    page, _ = open_page(hearth)
    answer = ask(page, "How many laptops were delivered on January 23, 2023?")
    assert "200 laptops" in answer.locator(".answer-body").inner_text()
    note = answer.locator(".note-quoted").inner_text()
    assert "something other than what you asked about" in note, note
