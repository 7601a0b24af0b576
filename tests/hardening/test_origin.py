"""Row 8, CSRF without a browser: the Origin check on state-changing requests.

The browser suite (test_csrf.py) shows a hostile page on another loopback port changes
nothing; this one pins the rule itself: a POST/PATCH/DELETE carrying another site's `Origin`
(or `Sec-Fetch-Site: cross-site`) is refused with 403 before any work, Hearth's own origin and
clients that send neither header (curl, SDKs) are served, HEARTH_ALLOWED_ORIGINS widens it,
and reads are never refused for their origin.
"""

from __future__ import annotations

import pytest
from fakes import PEER
from fastapi.testclient import TestClient
from hardkit import make_services

from app.main import create_app
from app.settings import Settings

pytestmark = pytest.mark.hardening

QUERY = {"question": "annual leave in Paris"}


def post(client: TestClient, headers: dict[str, str], path: str = "/api/query") -> int:
    body = QUERY if path == "/api/query" else {"query": "canteen"}
    return client.post(path, json=body, headers=headers).status_code


def test_foreign_origins_are_refused_and_change_nothing(client, services):
    client.headers["Authorization"] = f"Bearer {services.keys.create('alice', 'hr')[0]}"
    own = {"Origin": "http://testserver"}
    assert post(client, own) == 200
    assert post(client, {}) == 200  # not a browser: no Origin, no Sec-Fetch-Site
    assert post(client, {"Sec-Fetch-Site": "same-origin"}) == 200
    before = services.store.execute("SELECT count(*) FROM messages")[0][0]
    refused = [
        {"Origin": "http://127.0.0.1:9999"},
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # sandboxed frames, file: pages
        {"Origin": "file://"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port of the same host
    ]
    for headers in refused:
        response = client.post("/api/query", json=QUERY, headers=headers)
        assert response.status_code == 403, headers
        assert response.json()["error"]["code"] == "forbidden"
        assert post(client, headers, "/api/search") == 403, headers
        assert (
            client.post(
                "/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "hi"}]},
                headers=headers,
            ).status_code
            == 403
        )
    assert before == 6  # three answered questions, stored
    assert services.store.execute("SELECT count(*) FROM messages")[0][0] == before

    conversation = client.post("/api/query", json=QUERY, headers=own).json()["conversation_id"]
    evil = {"Origin": "https://evil.example"}
    assert client.get(f"/api/conversations/{conversation}", headers=evil).status_code == 200
    assert (
        client.patch(
            f"/api/conversations/{conversation}", json={"title": "pwned"}, headers=evil
        ).status_code
        == 403
    )
    assert client.delete(f"/api/conversations/{conversation}", headers=evil).status_code == 403
    assert client.get(f"/api/conversations/{conversation}").json()["title"] != "pwned"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("*", "'*' is not accepted: any web page (or, for null, any local file) your users open "
         "could then send Hearth messages in their name"),
        ("chat.example.org", "'chat.example.org' is not an origin"),
        ("https://chat.example.org/app", "is not an origin"),
    ],
)  # fmt: skip
def test_an_allowed_origin_that_could_never_match_is_refused(value, said):
    """A browser's Origin is scheme://host[:port]: an entry with a path or no scheme never
    matched, and every message from the page it was meant for got a 403."""
    with pytest.raises(ValueError, match="allowed_origins") as error:
        Settings(allowed_origins=value)
    assert said in str(error.value)
    assert Settings(allowed_origins="https://A.example:443/").origin_set() == {"https://a.example"}


def test_allowed_origins_and_trusted_proxy_host(tmp_path):
    services, settings = make_services(
        tmp_path / "data",
        allowed_origins="https://chat.example.org/, https://Other.Example:8443",
        trusted_proxies="192.0.2.0/24",
    )
    with TestClient(create_app(settings, services=services), client=PEER) as client:
        assert post(client, {"Origin": "https://chat.example.org"}) == 200
        assert post(client, {"Origin": "https://other.example:8443"}) == 200
        assert post(client, {"Origin": "https://other.example"}) == 403
        # behind a proxy that rewrites Host, its X-Forwarded-Host names Hearth's origin
        forwarded = {"Origin": "https://hearth.example", "X-Forwarded-Host": "hearth.example"}
        assert post(client, forwarded) == 200
    services.store.close()
    services, settings = make_services(tmp_path / "data2")
    with TestClient(create_app(settings, services=services), client=PEER) as client:
        # the same header from a client that is not a trusted proxy proves nothing
        forwarded = {"Origin": "https://hearth.example", "X-Forwarded-Host": "hearth.example"}
        assert post(client, forwarded) == 403
    services.store.close()
