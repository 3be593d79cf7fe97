"""The HTTP API's send endpoints driven with curl: POST /v1/messages (single and recipients[] batches),
/v1/messages/raw, message status and listings, scheduled sends and cancelling, Idempotency-Key, and
every error class (400, 401, 403, 404, 405, 408, 409, 413, 422, 429) as RFC 9457 problem details.
What kurier stores is parsed with Python's `email` package."""

import base64
import email
import email.policy
import json
import socket
import time

import pytest

from conftest import HOST

SENDER = "shop@api.test"


@pytest.fixture
def k(kurier_factory):
    return kurier_factory(sender_domains=["api.test"])


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def send(k, body, path="/v1/messages", **kw):
    status, res = k.api("POST", path, body, **kw)
    assert status == 202, res
    return res


def test_one_curl_command_sends_a_complete_message(k):
    png = bytes(range(256)) * 40
    pdf = b"%PDF-1.4\n" + bytes(range(255, -1, -1)) * 100
    res = send(k, {
        "from": {"email": SENDER, "name": "Sklep Zażółć"},
        "to": [{"email": "anna@example.net", "name": "Anna Müller"}, "bob@example.net"],
        "cc": "carol@example.net", "bcc": ["dave@example.net"],
        "reply_to": "help@api.test",
        "subject": "Zamówienie nr 5 — potwierdzenie ✓",
        "text": "Dzień dobry,\nzamówienie przyjęte.\n" + "długa linia " * 30 + "\n",
        "html": '<p>Dzień dobry</p><img src="cid:logo">',
        "headers": {"X-Campaign": "autumn", "List-Id": "<news.api.test>"},
        "attachments": [{"filename": "faktura żółta.pdf", "content": base64.b64encode(pdf).decode(), "content_type": "application/pdf"},
                        {"filename": "logo.png", "content": base64.b64encode(png).decode(), "content_type": "image/png", "content_id": "logo"}],
        "tags": ["orders"], "metadata": {"order": 5}})
    [m] = res["messages"]
    assert m["status"] == "queued"
    assert m["recipients"] == ["anna@example.net", "bob@example.net", "carol@example.net", "dave@example.net"]
    shown = k.queue_show(m["id"])
    assert shown  # the queue knows it: acknowledged means stored
    raw = k.queue_raw(m["id"])
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), "CRLF only"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = parse(raw)
    assert msg["Subject"] == "Zamówienie nr 5 — potwierdzenie ✓"
    assert msg["From"].addresses[0].display_name == "Sklep Zażółć" and msg["From"].addresses[0].addr_spec == SENDER
    assert [a.display_name for a in msg["To"].addresses] == ["Anna Müller", ""]
    assert msg["Cc"].addresses[0].addr_spec == "carol@example.net"
    assert msg["Bcc"] is None and b"dave@example.net" not in raw, "bcc is envelope only"
    assert msg["Reply-To"].addresses[0].addr_spec == "help@api.test"
    assert msg["X-Campaign"] == "autumn" and msg["List-Id"] == "<news.api.test>"
    assert msg["Received"].startswith("from api") and "with HTTP" in msg["Received"]
    assert msg.get_content_type() == "multipart/mixed"
    text = msg.get_body(("plain",)).get_content()
    assert text.replace("\r\n", "\n") == "Dzień dobry,\nzamówienie przyjęte.\n" + "długa linia " * 30 + "\n"
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert related, "the inline image makes multipart/related with the html"
    assert msg.get_body(("html",)).get_content().strip() == '<p>Dzień dobry</p><img src="cid:logo">'
    parts = {p.get_filename(): p for p in msg.walk() if p.get_filename()}
    assert parts["faktura żółta.pdf"].get_content() == pdf, "attachment round-trips byte-exact"
    assert parts["logo.png"].get_content() == png
    assert parts["logo.png"]["Content-ID"] == "<logo>"


def test_addresses_and_json_as_other_services_take_them(k):
    """"Name <address>" strings wherever an address goes (as Mailgun and SendGrid users write them), and a
    JSON syntax error says its line and column."""
    res = send(k, {"from": "Sklep Zażółć <shop@api.test>", "to": ["Anna Müller <anna@example.net>", "bob@example.net"],
                   "reply_to": '"Help, desk" <help@api.test>', "subject": "s", "text": "t"})
    [m] = res["messages"]
    assert m["recipients"] == ["anna@example.net", "bob@example.net"]
    msg = parse(k.queue_raw(m["id"]))
    assert msg["From"].addresses[0].display_name == "Sklep Zażółć" and msg["From"].addresses[0].addr_spec == SENDER
    assert msg["To"].addresses[0].display_name == "Anna Müller"
    assert msg["Reply-To"].addresses[0].display_name == "Help, desk"
    status, res = k.api("POST", "/v1/messages", {"from": SENDER, "to": "Anna <anna@example.net>, bob@example.net", "text": "t"})
    assert status == 422 and res["errors"][0]["pointer"] == "/to" and "must be one address" in res["errors"][0]["detail"], res
    raw = send(k, {"from": "Shop <shop@api.test>", "to": ["Bob <bob@example.net>"],
                   "message": "From: shop@api.test\r\nSubject: r\r\n\r\nbody\r\n"}, path="/v1/messages/raw")
    assert raw["messages"][0]["recipients"] == ["bob@example.net"]
    status, _, text = k.curl("POST", "/v1/messages", '{\n  "from": "shop@api.test",\n  "to": "a@example.net"\n  "text": "x"\n}')
    assert status == 400 and "at line 4, column 3" in json.loads(text)["detail"], text


def test_batch_renders_each_recipient_with_its_own_variables(k):
    n = 25
    res = send(k, {"from": SENDER, "subject": "Hello {{name}}", "text": "Your code is {{code}}.",
                   "html": "<p>{{name}}</p>",
                   "recipients": [{"to": {"email": f"user{i}@example.net", "name": f"User {i}"},
                                   "variables": {"name": f"Ola & Jan {i}", "code": f"C{i:03}"}} for i in range(n)]})
    assert len(res["messages"]) == n and len({m["id"] for m in res["messages"]}) == n
    for i in (0, 7, n - 1):
        m = res["messages"][i]
        assert m["recipients"] == [f"user{i}@example.net"]
        msg = parse(k.queue_raw(m["id"]))
        assert msg["Subject"] == f"Hello Ola & Jan {i}", "subject is not HTML-escaped"
        assert msg.get_body(("plain",)).get_content().strip() == f"Your code is C{i:03}."
        assert msg.get_body(("html",)).get_content().strip() == f"<p>Ola &amp; Jan {i}</p>", "html is escaped"


def test_missing_variables_are_named(k):
    status, res = k.api("POST", "/v1/messages", {"from": SENDER, "subject": "Hi {{name}}", "text": "{{order.id}}",
                                                 "recipients": [{"to": "a@example.net", "variables": {"name": "A"}}]})
    assert status == 422 and res["errors"][0]["pointer"] == "/recipients/0/variables"
    assert "order.id" in res["errors"][0]["detail"]


@pytest.mark.parametrize("body, pointer, words", [
    ({"subject": "hi\r\nBcc: victim@example.net"}, "/subject", "line break"),
    ({"headers": {"X-Evil": "a\r\nBcc: victim@example.net"}}, "/headers/X-Evil", "line break"),
    ({"headers": {"X-Nul": "a\u0000b"}}, "/headers/X-Nul", ""),
    ({"headers": {"From": "boss@bank.test"}}, "/headers/From", "cannot be given"),
    ({"headers": {"Content-Type": "text/html"}}, "/headers/Content-Type", ""),
    ({"headers": {"Bad Name": "x"}}, "/headers/Bad Name", ""),
    ({"to": {"email": "a@example.net", "name": "A\r\nBcc: v@example.net"}}, "/to/email", ""),
    ({"to": "a@example.net>\r\nRCPT TO:<v@example.net"}, "/to", ""),
    ({"attachments": [{"filename": "a\r\nb.txt", "content": "eA=="}]}, "/attachments/0/filename", ""),
])
def test_header_injection_is_refused(k, body, pointer, words):
    req = {"from": SENDER, "to": "a@example.net", "subject": "s", "text": "t"}
    req.update(body)
    status, res = k.api("POST", "/v1/messages", req)
    assert status == 422, res
    pointers = [e["pointer"] for e in res["errors"]]
    assert any(p.startswith(pointer.split("/email")[0]) for p in pointers), (pointer, res)
    assert words in json.dumps(res)
    assert k.queue_ids() == [], "nothing is stored"


def test_validation_errors_carry_a_pointer_per_field(k):
    status, res = k.api("POST", "/v1/messages", {"to": "not-an-address", "subject": 5, "tags": "x",
                                                 "attachments": [{"filename": "a.bin", "content": "%%%"}], "colour": 1})
    assert status == 422
    pointers = {e["pointer"] for e in res["errors"]}
    assert {"/from", "/subject", "/tags", "/attachments/0/content", "/colour"} <= pointers, pointers
    assert res["type"].startswith("urn:kurier:problem:") and res["status"] == 422


def test_error_classes(k, kurier_factory):
    # 400 malformed JSON
    status, hdrs, text = k.curl("POST", "/v1/messages", "{not json")
    assert status == 400 and hdrs["content-type"] == "application/problem+json" and "not valid JSON" in text
    # 401 without a key, and with a wrong one; distinct from 403
    status, hdrs, text = k.curl("POST", "/v1/messages", "{}", key="")
    assert status == 401 and "Bearer" in hdrs["www-authenticate"] and "Authorization: Bearer KEY" in text
    status, _, text = k.curl("GET", "/v1/messages", key="kr_wrong")
    assert status == 401 and "not valid" in text
    read_key = json.loads(k.cli("api-key", "create", "default", "--scopes", "read", "--json").stdout)["api_key"]
    status, res = k.api("POST", "/v1/messages", {"from": SENDER, "to": "a@example.net", "text": "x"}, key=read_key)
    assert status == 403 and "'send' scope" in res["detail"]
    assert k.api("GET", "/v1/messages", key=read_key)[0] == 200
    # 403 for a sender domain the account may not use
    status, res = k.api("POST", "/v1/messages", {"from": "x@other.test", "to": "a@example.net", "text": "x"})
    assert status == 403 and "kurier account add-domain default other.test" in res["detail"]
    # 404 unknown route and unknown message; 405 with Allow
    assert k.curl("GET", "/v1/nope")[0] == 404
    assert k.api("GET", "/v1/messages/doesnotexist")[0] == 404
    status, hdrs, _ = k.curl("PUT", "/v1/messages")
    assert status == 405 and set(hdrs["allow"].split(", ")) == {"POST", "GET"}
    # 413 names the limit; 429 with Retry-After
    small = kurier_factory("api.max_body=2048", "api.rate_per_second=1", "api.burst=2", sender_domains=["api.test"])
    status, hdrs, text = small.curl("POST", "/v1/messages", json.dumps({"from": SENDER, "to": "a@example.net", "text": "x" * 5000}))
    assert status == 413 and "2048" in text
    codes = [small.curl("GET", "/v1/messages")[0] for _ in range(4)]
    assert 429 in codes, codes
    status, hdrs, text = small.curl("GET", "/v1/messages")
    if status == 429:
        assert int(hdrs["retry-after"]) >= 1 and "rate limit" in text


def test_recipient_limit(kurier_factory):
    k = kurier_factory("api.max_recipients=3", sender_domains=["api.test"])
    status, res = k.api("POST", "/v1/messages", {"from": SENDER, "to": [f"u{i}@example.net" for i in range(4)], "text": "x"})
    assert status == 422 and "api.max_recipients" in res["errors"][0]["detail"]


def test_slow_client_is_cut_off(kurier_factory):
    k = kurier_factory("api.request_timeout=1", sender_domains=["api.test"])
    with socket.create_connection((HOST, k.api_port), timeout=10) as s:
        # With a valid key: a request without one is refused on its headers, before any body is awaited.
        s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
                  b"Authorization: Bearer " + k.api_key.encode() + b"\r\n\r\n{")
        started = time.monotonic()
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert time.monotonic() - started < 8
    assert data.startswith(b"HTTP/1.1 408"), data[:200]


def test_idempotency_key_replays_the_first_response(k):
    body = {"from": SENDER, "to": "a@example.net", "subject": "once", "text": "x"}
    s1, h1, t1 = k.curl("POST", "/v1/messages", json.dumps(body), headers=["Idempotency-Key: order-77"])
    s2, h2, t2 = k.curl("POST", "/v1/messages", json.dumps(body), headers=["Idempotency-Key: order-77"])
    assert s1 == s2 == 202 and t1 == t2 and h2.get("idempotent-replayed") == "true"
    assert len(k.queue_ids()) == 1, "sent once"
    body["subject"] = "changed"
    s3, _, t3 = k.curl("POST", "/v1/messages", json.dumps(body), headers=["Idempotency-Key: order-77"])
    assert s3 == 422 and "different request" in t3


def test_scheduled_send_can_be_cancelled(k):
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    res = send(k, {"from": SENDER, "to": "a@example.net", "subject": "later", "text": "x", "send_at": later})
    [m] = res["messages"]
    assert m["status"] == "scheduled" and res["send_at"] == later
    status, got = k.api("GET", f"/v1/messages/{m['id']}")
    assert status == 200 and got["status"] == "scheduled" and got["send_at"] == later
    status, res = k.api("DELETE", f"/v1/messages/{m['id']}")
    assert status == 200 and res["status"] == "cancelled"
    assert m["id"] not in k.queue_ids()
    # Afterwards it says so, and a listing finds it by that state (not "scheduled" for ever).
    status, got = k.api("GET", f"/v1/messages/{m['id']}")
    assert status == 200 and got["status"] == "cancelled", got
    assert [r["status"] for r in got["recipients"]] == ["cancelled"] and got["recipients"][0]["events"][-1]["type"] == "deleted"
    status, listed = k.api("GET", "/v1/messages?status=cancelled")
    assert status == 200 and m["id"] in [x["id"] for x in listed["data"]], listed
    assert k.api("DELETE", f"/v1/messages/{m['id']}")[0] == 409
    now = send(k, {"from": SENDER, "to": "a@example.net", "subject": "now", "text": "x"})["messages"][0]
    status, res = k.api("DELETE", f"/v1/messages/{now['id']}")
    assert status == 409 and "only scheduled sends" in res["detail"]


def test_raw_message_both_forms(k):
    raw = (f"From: Shop <{SENDER}>\r\nTo: a@example.net\r\nSubject: raw\r\n\r\nbody line\r\n.leading dot\r\n")
    res = send(k, {"from": SENDER, "to": ["a@example.net"], "message": raw, "tags": ["raw"]}, path="/v1/messages/raw")
    stored = k.queue_raw(res["messages"][0]["id"])
    msg = parse(stored)
    assert msg["Subject"] == "raw" and msg["Message-ID"] and msg["Date"], "Message-ID and Date are added"
    assert stored.endswith(b"\r\n\r\nbody line\r\n.leading dot\r\n")
    status, _, text = k.curl("POST", "/v1/messages/raw?from=" + SENDER + "&to=b@example.net,c@example.net",
                             raw.replace("\r\n", "\n"), content_type="message/rfc822")
    assert status == 202, text
    mid = json.loads(text)["messages"][0]
    assert mid["recipients"] == ["b@example.net", "c@example.net"]
    status, res = k.api("POST", "/v1/messages/raw", {"from": SENDER, "to": "a@example.net", "message": "no headers here"})
    assert status == 422 and "From:" in json.dumps(res)


def test_status_and_listing(k):
    ids = []
    for i in range(5):
        res = send(k, {"from": SENDER, "to": f"r{i}@example.net", "subject": f"n{i}", "text": "x",
                       "tags": ["even" if i % 2 == 0 else "odd"], "metadata": {"i": i}})
        ids.append(res["messages"][0]["id"])
    status, m = k.api("GET", f"/v1/messages/{ids[2]}")
    assert status == 200 and m["subject"] == "n2" and m["metadata"] == {"i": 2} and m["tags"] == ["even"]
    assert m["recipients"][0]["address"] == "r2@example.net" and m["recipients"][0]["status"] == "queued"
    status, page = k.api("GET", "/v1/messages?tag=even")
    assert [x["id"] for x in page["data"]] == [ids[4], ids[2], ids[0]]
    status, page = k.api("GET", "/v1/messages?recipient=R3@example.net")
    assert [x["id"] for x in page["data"]] == [ids[3]]
    seen, cursor = [], None
    while True:
        status, page = k.api("GET", "/v1/messages?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200
        seen += [x["id"] for x in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    status, res = k.api("GET", "/v1/messages?limit=0&colour=red")
    assert status == 422 and {e["pointer"] for e in res["errors"]} == {"/query/limit", "/query/colour"}
