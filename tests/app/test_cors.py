"""HEARTH_CORS_ORIGINS: web pages on the listed origins may call Hearth from a browser (CORS);
none by default, never "*", and a list that is not origins is refused at start. The browser
itself is in tests/hardening/test_cors_browser.py."""

from __future__ import annotations

import sys

import pytest
from fakes import PEER
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

CHAT = "https://chat.example.org"
ASK = {"messages": [{"role": "user", "content": "annual leave in Paris"}]}
PREFLIGHT = {
    "Origin": CHAT,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os",
}


@pytest.fixture
def cors_client(settings, services):
    allowed = Settings(data_dir=settings.data_dir, cors_origins=f"{CHAT}/, http://LOCALHOST:3000")
    with TestClient(create_app(allowed, services=services), client=PEER) as client:
        yield client


def test_no_cors_headers_unless_origins_are_listed(client, hr_key):
    auth = {"Authorization": f"Bearer {hr_key}", "Origin": CHAT}
    models = client.get("/v1/models", headers=auth)
    assert models.status_code == 200 and "access-control-allow-origin" not in models.headers
    preflight = client.options("/v1/chat/completions", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in preflight.headers
    assert client.post("/v1/chat/completions", json=ASK, headers=auth).status_code == 403


def test_a_listed_origin_passes_the_preflight_and_reads_the_answer(cors_client, services):
    preflight = cors_client.options("/v1/chat/completions", headers=PREFLIGHT)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == CHAT
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "x-stainless-os" in preflight.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in preflight.headers  # no sign-on cookies
    key, _ = services.keys.create("browser-app", "public")
    headers = {"Origin": CHAT, "Authorization": f"Bearer {key}"}
    answered = cors_client.post("/v1/chat/completions", json=ASK, headers=headers)
    assert answered.status_code == 200, answered.text  # not the CSRF check's 403
    assert answered.headers["access-control-allow-origin"] == CHAT
    assert "Origin" in answered.headers["vary"]
    assert answered.headers["access-control-expose-headers"] == "Retry-After"
    assert "27 days" in answered.json()["choices"][0]["message"]["content"]
    streamed = cors_client.post("/v1/chat/completions", json={**ASK, "stream": True},
                                headers=headers)  # fmt: skip
    assert streamed.headers["access-control-allow-origin"] == CHAT
    assert streamed.text.rstrip().endswith("data: [DONE]")
    local = cors_client.get("/v1/models", headers={"Origin": "http://localhost:3000"})
    assert local.headers["access-control-allow-origin"] == "http://localhost:3000"
    refused = cors_client.post("/v1/chat/completions", content=b"x" * 2_000_000,
                               headers={**headers, "Content-Type": "application/json"})  # fmt: skip
    assert refused.status_code == 413  # a refusal the page can read as what it is
    assert refused.headers["access-control-allow-origin"] == CHAT


def test_an_unexpected_error_reaches_a_listed_origin_as_itself(cors_client, services, monkeypatch):
    """A 500 made outside the middlewares had no CORS header: the page saw a "CORS error"."""

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services.rag, "retrieve", broken)
    key, _ = services.keys.create("browser-app", "public")
    failed = cors_client.post("/api/search", json={"query": "canteen"},
                              headers={"Origin": CHAT, "Authorization": f"Bearer {key}"})  # fmt: skip
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "internal_error"
    assert failed.headers["access-control-allow-origin"] == CHAT


def test_an_origin_not_listed_gets_no_cors_and_no_state_change(cors_client):
    evil = {**PREFLIGHT, "Origin": "https://evil.example"}
    preflight = cors_client.options("/v1/chat/completions", headers=evil)
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers
    sent = cors_client.post("/v1/chat/completions", json=ASK,
                            headers={"Origin": "https://evil.example"})  # fmt: skip
    assert sent.status_code == 403 and "access-control-allow-origin" not in sent.headers
    for near in ("https://chat.example.org:8443", "http://chat.example.org"):
        other = cors_client.get("/v1/models", headers={"Origin": near})
        assert "access-control-allow-origin" not in other.headers, near


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("", []),
        (" , ", []),
        ("https://Chat.Example.org/", ["https://chat.example.org"]),
        ("https://a.example:443, http://b.example:80", ["https://a.example", "http://b.example"]),
        ("http://[::1]:8080,http://127.0.0.1:3000", ["http://[::1]:8080", "http://127.0.0.1:3000"]),
        ("https://a.example, https://A.example", ["https://a.example"]),
    ],
)
def test_origins_are_read_as_browsers_write_them(value, origins):
    assert Settings(cors_origins=value).cors_origin_list() == origins


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("*", "'*' is not accepted"),
        ("https://chat.example.org, *", "'*' is not accepted"),
        ("null", "'null' is not accepted"),
        ("chat.example.org", "'chat.example.org' is not an origin"),
        ("https://chat.example.org/app", "is not an origin"),
        ("ftp://chat.example.org", "is not an origin"),
        ("https://*.example.org", "is not an origin"),
        ("https://user:pw@chat.example.org", "is not an origin"),
        ("https://chat.example.org:99999", "is not an origin"),
        ("https://chat.example.org?x=1", "is not an origin"),
    ],
)
def test_what_is_not_an_origin_is_refused(value, said):
    with pytest.raises(ValueError, match="cors_origins") as error:
        Settings(cors_origins=value)
    assert said in str(error.value)


def test_a_bad_origins_setting_stops_serve_with_one_line(monkeypatch, settings, services, capsys):
    from app.cli import main

    monkeypatch.setattr("app.main.load_services", lambda *a: pytest.fail("loaded anyway"))
    monkeypatch.setenv("HEARTH_CORS_ORIGINS", "*")
    monkeypatch.setattr(sys, "argv", ["hearth", "serve", "--data-dir", str(settings.data_dir)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: HEARTH_CORS_ORIGINS: '*' is not accepted: any web page (or, for null, any local "
        "file) your users open could then read Hearth through their browsers; list the "
        "origins (https://chat.example.org)"
    ]
