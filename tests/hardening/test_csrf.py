"""Row 8, CSRF: a page on another loopback port attacks Hearth from the victim's browser.

Hearth itself uses no cookies (API keys and the anonymous session id travel in headers the
attacker cannot set). The dangerous deployment is behind a single-sign-on proxy that turns
its own cookie into identity headers: then the browser does attach an ambient credential to
cross-origin requests. The test simulates exactly that proxy (cookie -> X-Forwarded-User, from
127.0.0.1, a trusted proxy) — and since a cookie is not bound to a port, the attacker page on
127.0.0.1:<other port> is same-site and gets the cookie sent along.

The attacker page tries HTML form POSTs (url-encoded, multipart and text/plain-holding-JSON),
a form "method override" to delete, credentialed fetch in no-cors and cors mode (JSON, text/
plain JSON, DELETE, PATCH), sendBeacon, and a credentialed cross-origin read. Afterwards no
conversation may have been created, renamed or deleted, and no feedback stored.

The other side of the same rule: a page on an origin listed in HEARTH_CORS_ORIGINS calls
/v1/chat/completions with an API key from the browser and reads the answer, streamed or not,
while a Hearth that does not list it (the default) and a credentialed call stay blocked.

Debian's chromium through Playwright (never a downloaded browser); skipped without them
unless CI=true.
"""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hardkit import ServerThread, make_services

from app.main import create_app

pytestmark = pytest.mark.hardening

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
COOKIE = "sso_session"
VICTIM = "victim"


class CookieProxy:
    """What an SSO proxy does: identity headers from its cookie (and never from the client)."""

    def __init__(self, app: Any, log: list[dict[str, Any]]) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k != b"x-forwarded-user"]
        cookie = dict(scope["headers"]).get(b"cookie", b"").decode("latin-1")
        if f"{COOKIE}=token-of-{VICTIM}" in cookie:
            headers.append((b"x-forwarded-user", VICTIM.encode()))
        scope = dict(scope, headers=headers)
        entry = {
            "method": scope["method"],
            "path": scope["path"],
            "origin": dict(headers).get(b"origin", b"").decode("latin-1"),
            "type": dict(headers).get(b"content-type", b"").decode("latin-1"),
            "victim": any(k == b"x-forwarded-user" for k, _ in headers),
        }
        self.log.append(entry)

        async def record(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, record)


ATTACK = """<!doctype html><meta charset="utf-8"><title>cute cats</title>
<body><script>
const T = %(target)s, C = %(conversation)s, M = %(message)s;
const results = {};
function form(action, enctype, fields, method) {
  const frame = document.createElement('iframe'); frame.name = 'f' + Math.random();
  document.body.appendChild(frame);
  const f = document.createElement('form');
  f.action = T + action; f.method = method || 'POST'; f.enctype = enctype; f.target = frame.name;
  for (const [name, value] of fields) {
    const i = document.createElement('input'); i.type = 'hidden'; i.name = name; i.value = value;
    f.appendChild(i);
  }
  document.body.appendChild(f); f.submit();
}
async function attempt(name, fn) {
  try { const r = await fn(); results[name] = r && r.type === 'opaque' ? 'opaque' : (r ? r.status : 'sent'); }
  catch (e) { results[name] = 'blocked: ' + e.name; }
}
(async () => {
  const wait = (ms) => new Promise((ok) => setTimeout(ok, ms));
  // 1. plain HTML forms (no preflight, cookie attached)
  form('/api/query', 'application/x-www-form-urlencoded', [['question', 'csrf form question']]);
  form('/api/query', 'multipart/form-data', [['question', 'csrf multipart question']]);
  // text/plain form whose body is valid JSON: {"question":"csrf text plain","x":"="}
  form('/api/query', 'text/plain', [['{"question":"csrf text plain","x":"', '"}']]);
  form('/api/messages/' + M + '/feedback', 'text/plain', [['{"rating":"down","x":"', '"}']]);
  form('/api/conversations/' + C + '?_method=DELETE', 'application/x-www-form-urlencoded',
       [['_method', 'DELETE']]);
  form('/api/conversations/' + C + '/delete', 'application/x-www-form-urlencoded', [['x', '1']]);
  await wait(500);
  // 2. credentialed fetch, no-cors: only "simple" requests get out, and blind
  const json = JSON.stringify({question: 'csrf fetch question'});
  await attempt('nocors-textplain', () => fetch(T + '/api/query', {method: 'POST', mode: 'no-cors',
    credentials: 'include', headers: {'Content-Type': 'text/plain'}, body: json}));
  await attempt('nocors-json-header', () => fetch(T + '/api/query', {method: 'POST', mode: 'no-cors',
    credentials: 'include', headers: {'Content-Type': 'application/json'}, body: json}));
  await attempt('nocors-feedback', () => fetch(T + '/api/messages/' + M + '/feedback', {method: 'POST',
    mode: 'no-cors', credentials: 'include', body: JSON.stringify({rating: 'down'})}));
  await attempt('nocors-v1', () => fetch(T + '/v1/chat/completions', {method: 'POST', mode: 'no-cors',
    credentials: 'include', body: JSON.stringify({messages: [{role: 'user', content: 'csrf v1'}]})}));
  // 3. credentialed fetch, cors: JSON and non-simple methods need a preflight Hearth never grants
  await attempt('cors-json', () => fetch(T + '/api/query', {method: 'POST', mode: 'cors',
    credentials: 'include', headers: {'Content-Type': 'application/json'}, body: json}));
  await attempt('cors-delete', () => fetch(T + '/api/conversations/' + C, {method: 'DELETE',
    mode: 'cors', credentials: 'include'}));
  await attempt('cors-patch', () => fetch(T + '/api/conversations/' + C, {method: 'PATCH',
    mode: 'cors', credentials: 'include', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({title: 'pwned'})}));
  await attempt('cors-feedback-json', () => fetch(T + '/api/messages/' + M + '/feedback', {method: 'POST',
    mode: 'cors', credentials: 'include', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({rating: 'down'})}));
  // 4. beacons
  results['beacon-textplain'] = navigator.sendBeacon(T + '/api/query', new Blob([json], {type: 'text/plain'}));
  try {
    results['beacon-json'] = navigator.sendBeacon(T + '/api/query', new Blob([json], {type: 'application/json'}));
  } catch (e) { results['beacon-json'] = 'blocked: ' + e.name; }
  // 5. a credentialed cross-origin read of the victim's conversations
  try {
    const r = await fetch(T + '/api/conversations', {credentials: 'include'});
    results['read'] = 'read ' + (await r.text()).length + ' bytes';
  } catch (e) { results['read'] = 'blocked: ' + e.name; }
  await wait(500);
  window.__results = results;
})();
</script>
"""


class OtherSite:
    """A plain HTTP server on another loopback port (another origin than Hearth's) serving
    `page`, which may be set once Hearth runs."""

    def __init__(self, page: str = "") -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.page = page
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.origin}/cats.html"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def browser():
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("playwright is not installed (CI=true: browser tests must run)")
        pytest.skip("playwright is not installed")
    if not CHROMIUM.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing (CI=true: browser tests must run)")
        pytest.skip(f"{CHROMIUM} is missing")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


def state(services) -> dict[str, Any]:
    store = services.store
    return {
        "conversations": store.execute("SELECT id, owner, title FROM conversations ORDER BY id"),
        "messages": store.execute("SELECT count(*) FROM messages")[0][0],
        "feedback": store.execute("SELECT message_id, owner, rating FROM feedback"),
    }


@pytest.mark.timeout(120)
def test_cross_origin_pages_cannot_change_state(tmp_path, browser):
    log: list[dict[str, Any]] = []
    services, settings = make_services(tmp_path / "data", trusted_proxies="127.0.0.1")
    server = ServerThread(CookieProxy(create_app(settings, services=services), log)).start()
    try:
        import httpx

        # The victim's own (same-origin, proxied) use: one conversation with an answer.
        with httpx.Client(base_url=server.url, cookies={COOKIE: f"token-of-{VICTIM}"}) as ok:
            body = ok.post("/api/query", json={"question": "annual leave in Paris"}).json()
        assert body["conversation_id"], body
        conversation, message = body["conversation_id"], body["message_id"]
        assert services.conversations.get(conversation, f"proxy:{VICTIM}") is not None
        before = state(services)
        log.clear()

        attacker = OtherSite(
            ATTACK
            % {
                "target": json.dumps(server.url),
                "conversation": json.dumps(conversation),
                "message": json.dumps(message),
            }
        )
        context = browser.new_context(service_workers="block")
        try:
            context.add_cookies(
                [
                    {
                        "name": COOKIE,
                        "value": f"token-of-{VICTIM}",
                        "domain": "127.0.0.1",
                        "path": "/",
                        "sameSite": "Lax",
                    }
                ]
            )
            # Watched, not routed: Playwright's request interception answers CORS preflights
            # itself (allowing everything), which would fake a hole Hearth does not have.
            outside: list[str] = []
            context.on(
                "request",
                lambda r: None if r.url.startswith("http://127.0.0.1:") else outside.append(r.url),
            )
            page = context.new_page()
            page.goto(attacker.url)
            page.wait_for_function("window.__results !== undefined", timeout=30_000)
            results = page.evaluate("window.__results")
            time.sleep(0.5)  # let form submissions in iframes land
        finally:
            context.close()
            attacker.stop()
        after = state(services)
    finally:
        server.stop()
        services.store.close()

    reached = [e for e in log if e["method"] != "OPTIONS"]
    print("attacker results:", json.dumps(results, sort_keys=True))
    print(
        "requests that reached Hearth:",
        [(e["method"], e["path"], e["type"][:24], e.get("status")) for e in log],
    )
    assert outside == []
    # The cookie really was attached (the attack is realistic), yet nothing changed.
    assert any(e["victim"] for e in reached), "the SSO cookie never reached the proxy"
    assert after == before, (before, after)
    changing = [e for e in reached if e["method"] not in ("GET", "HEAD")]
    assert changing and all(e.get("status", 500) >= 400 for e in changing), changing
    assert str(results.get("read", "")).startswith("blocked"), results
    assert not any(e.get("status", 0) >= 500 for e in log)


CLIENT_PAGE = """<!doctype html><meta charset="utf-8"><title>a chat front-end</title>
<body><script>
const TARGETS = %(targets)s, KEY = %(key)s, results = {};
const ask = {model: 'scripted-model', messages: [{role: 'user', content: 'annual leave in Paris'}]};
const headers = {'Authorization': 'Bearer ' + KEY, 'Content-Type': 'application/json',
                 'X-Stainless-OS': 'Linux'};  // as the openai JavaScript client sends
async function attempt(name, fn) {
  try { results[name] = await fn(); } catch (e) { results[name] = 'blocked: ' + e.name; }
}
(async () => {
  for (const [name, target] of Object.entries(TARGETS)) {
    await attempt(name + '-json', async () => {
      const r = await fetch(target + '/v1/chat/completions',
                            {method: 'POST', headers, body: JSON.stringify(ask)});
      return (await r.json()).choices[0].message.content;
    });
    await attempt(name + '-stream', async () => {
      const r = await fetch(target + '/v1/chat/completions',
                            {method: 'POST', headers, body: JSON.stringify({...ask, stream: true})});
      return await r.text();
    });
    await attempt(name + '-credentialed', async () => {
      const r = await fetch(target + '/v1/models', {credentials: 'include', headers});
      return r.status;
    });
  }
  window.__results = results;
})();
</script>
"""


@pytest.mark.timeout(120)
def test_a_listed_origin_reads_answers_from_the_browser_and_no_other(tmp_path, browser):
    site = OtherSite()
    listed, listed_settings = make_services(tmp_path / "listed", cors_origins=site.origin)
    unlisted, unlisted_settings = make_services(tmp_path / "unlisted")
    key = listed.keys.create("front-end", "public")[0]
    servers = [
        ServerThread(create_app(listed_settings, services=listed)).start(),
        ServerThread(create_app(unlisted_settings, services=unlisted)).start(),
    ]
    try:
        # the listed Hearth's key for both: the browser stops the calls to the other at its
        # preflight, before any key is looked at
        site.page = CLIENT_PAGE % {
            "targets": json.dumps({"listed": servers[0].url, "unlisted": servers[1].url}),
            "key": json.dumps(key),
        }
        context = browser.new_context(service_workers="block")
        try:
            page = context.new_page()
            page.goto(site.origin + "/chat.html")
            page.wait_for_function("window.__results !== undefined", timeout=60_000)
            results = page.evaluate("window.__results")
        finally:
            context.close()
    finally:
        for server in servers:
            server.stop()
        site.stop()
        listed.store.close()
        unlisted.store.close()
    print("front-end results:", json.dumps(results, sort_keys=True)[:2000])
    assert "27 days" in results["listed-json"]
    assert "27 days" in results["listed-stream"] and "data: [DONE]" in results["listed-stream"]
    assert results["listed-credentialed"] == "blocked: TypeError"  # no sign-on cookies
    assert results["unlisted-json"] == "blocked: TypeError"
    assert results["unlisted-stream"] == "blocked: TypeError"
