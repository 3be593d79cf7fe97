"""Open and click tracking and one-click unsubscribe, end to end: an HTML message sent through the API
reaches a real receiver (aiosmtpd behind a local DNS) with every http(s) link rewritten to kurier's
click endpoint and an open pixel, and nothing else of the HTML changed (mailto:, tel:, anchors, links in
<style> and comments, and opted-out links stay as they were); each rewritten link answers 302 to its
original URL and records a `clicked` event; forged or malformed tokens answer 404 and never redirect;
the pixel records `opened` with the machine/person judgement; the List-Unsubscribe (RFC 8058) POST
records `unsubscribed` and suppresses the address."""

import email
import email.message
import email.policy
import http.client
import json
import re
import smtplib
import sqlite3
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest

from conftest import curl
from receivers import mx_world, wait_until

HTML = """<!doctype html>
<html><head><title>Offer http://title.example/not-a-link</title>
<style>.x { background: url("https://style.example/bg.png"); }</style></head>
<body>
<!-- <a href="https://comment.example/hidden">hidden</a> -->
<p>Hello {marker}, see <a href="https://shop.example/offer?id=7&amp;utm=mail">our offer</a>
and <a class="b" href='http://Shop.Example/path#frag'>this</a>
or <A HREF="https://shop.example/caps">caps</A>.</p>
<p><a href="mailto:help@shop.example">mail us</a> <a href="tel:+48123">call</a> <a href="#top">top</a>
<a href="https://shop.example/private" data-kurier-notrack>not tracked</a></p>
<area shape="rect" href="https://shop.example/map" alt="map">
</body></html>
"""
TRACKED = ["https://shop.example/offer?id=7&utm=mail", "http://Shop.Example/path#frag", "https://shop.example/caps",
           "https://shop.example/map"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with mx_world(str(tmp_path_factory.mktemp("dns")), "trk-rx.test", "127.0.0.36") as w:
        yield w


@pytest.fixture
def k(world, kurier_factory):
    dns, port, _ = world
    return kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", sender_domains=["trk.test"], delivery=True)


def send_tracked(k, rec, to, **extra):
    marker = uuid.uuid4().hex
    html = HTML.replace("{marker}", marker)
    status, res = k.api("POST", "/v1/messages", {"from": "news@trk.test", "to": to, "subject": f"News {marker}",
                                                 "text": f"Hello {marker}", "html": html, "track_opens": True,
                                                 "track_clicks": True, "tags": ["news"], **extra})
    assert status == 202, res
    _, _, content = rec.wait_for(marker)
    msg = email.message_from_bytes(content, policy=email.policy.default)
    got = msg.get_body(("html",)).get_content()
    return res["messages"][0]["id"], html, got, msg


def hrefs(k, html):
    return re.findall(r'(?:href|HREF)=(["\'])(' + re.escape(k.api_url) + r'/t/c/[^"\']+)\1', html)


def test_links_rewritten_and_the_rest_unchanged(world, k):
    _, _, rec = world
    mid, sent, got, _ = send_tracked(k, rec, "reader@trk-rx.test")
    links = [u for _, u in hrefs(k, got)]
    assert len(links) == len(TRACKED), got
    pixel = re.search(r'<img src="(' + re.escape(k.api_url) + r'/t/o/[^"]+)"[^>]*>', got)
    assert pixel, got
    # Put the original URLs back and drop the pixel: byte-identical to what was sent.
    restored = got.replace(pixel.group(0), "")
    originals = ["https://shop.example/offer?id=7&amp;utm=mail", "http://Shop.Example/path#frag",
                 "https://shop.example/caps", "https://shop.example/map"]
    for link, orig in zip(links, originals):
        restored = restored.replace(link, orig, 1)
    assert restored.replace("\r\n", "\n") == sent, (restored, sent)

    for link, want in zip(links, TRACKED):
        status, hdrs, _ = curl("GET", link, key="")
        assert status == 302 and hdrs["location"] == want, (link, status, hdrs)
    status, ev = k.api("GET", f"/v1/events?message_id={mid}&type=clicked&order=asc")
    assert [e["url"] for e in ev["data"]] == TRACKED
    assert all(e["recipient"] == "reader@trk-rx.test" and e["tags"] == ["news"] for e in ev["data"])
    assert ev["data"][0]["user_agent"].startswith("curl/") and ev["data"][0]["machine"] is True


def test_forged_and_malformed_tokens_never_redirect(world, k):
    _, _, rec = world
    _, _, got, _ = send_tracked(k, rec, "reader2@trk-rx.test")
    link = hrefs(k, got)[0][1]
    token = link.rsplit("/", 1)[1]
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    for bad in [flipped, token[:-1], token + "x", "abc", "x" * 5000, "%00", "..%2f..%2fetc"]:
        status, hdrs, body = curl("GET", f"{k.api_url}/t/c/{bad}", key="")
        assert status in (404, 400, 431) and "location" not in hdrs, (bad[:40], status, hdrs)
    # An open token is not a click token.
    pixel = re.search(r'/t/o/([^"]+)"', got).group(1)
    status, hdrs, _ = curl("GET", f"{k.api_url}/t/c/{pixel}", key="")
    assert status == 404 and "location" not in hdrs


def test_clicks_answered_before_kill_9_are_recorded_once(world, kurier_factory):
    """A click is answered once its event is in the event journal (a file append); the import into the
    event log comes later. Killed in between (the import held back for ten minutes here), the server
    imports every answered click on its next start, each once."""
    dns, port, rec = world
    k = kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "store.event_journal_delay_ms=600000",
                       sender_domains=["trk.test"], delivery=True)
    mid, _, got, _ = send_tracked(k, rec, "crash@trk-rx.test")
    links = [u for _, u in hrefs(k, got)]
    # Known delivered first: the endpoint then looks the message up once (a look-up reads the event
    # log, which imports the journal).
    wait_until(lambda: k.api("GET", f"/v1/events?message_id={mid}&type=delivered")[1]["data"], 10, "delivery")
    answered = 0
    for _ in range(10):
        for link in links:
            u = urllib.parse.urlsplit(link)
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            conn.request("GET", u.path, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0"})
            assert conn.getresponse().status == 302
            conn.close()
            answered += 1
    k.kill9()
    data_dir = Path(k.info["data_dir"])
    db = sqlite3.connect(f"file:{data_dir / 'kurier.db'}?mode=ro", uri=True)
    row = db.execute("SELECT position FROM journal_positions WHERE name = 'events'").fetchone()
    imported = db.execute("SELECT COUNT(*) FROM events WHERE type = 'clicked'").fetchone()[0]
    db.close()
    assert imported == 0, "the import was held back: nothing should be in the event log yet"
    journal = (data_dir / "events.journal").read_bytes()
    assert (row[0] if row else 0) < len(journal.split(b"\0", 1)[0]), "answered clicks wait in the journal"
    k.start()
    status, ev = k.api("GET", f"/v1/events?message_id={mid}&type=clicked&limit=1000")
    assert status == 200
    assert len(ev["data"]) == answered, (len(ev["data"]), answered)
    assert sorted(e["url"] for e in ev["data"]) == sorted(TRACKED * 10)


def test_open_pixel_records_people_and_machines(world, k):
    _, _, rec = world
    mid, _, got, _ = send_tracked(k, rec, "eyes@trk-rx.test")
    pixel = re.search(r'<img src="([^"]+/t/o/[^"]+)"', got).group(1)
    wait_until(lambda: k.api("GET", f"/v1/events?message_id={mid}&type=delivered")[1]["data"], 10, "delivery")
    status, hdrs, body = curl("GET", pixel, key="", headers=["User-Agent: Mozilla/5.0"])
    assert status == 200 and hdrs["content-type"] == "image/gif" and body.startswith("GIF89a")
    time.sleep(2.2)  # past the "too fast to be a person" window
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    status, _, _ = curl("GET", pixel, key="", headers=[f"User-Agent: {firefox}"])
    assert status == 200
    status, ev = k.api("GET", f"/v1/events?message_id={mid}&type=opened&order=asc")
    mpp, person = ev["data"]
    assert mpp["machine"] is True and mpp["machine_reason"] == "apple_mpp", mpp
    assert person["machine"] is False and person["user_agent"] == firefox and person["ip"] == "127.0.0.1", person
    status, st = k.api("GET", "/v1/stats?tag=news")
    assert st["totals"]["opened"]["total"] >= 2


def test_one_click_unsubscribe(world, k):
    _, _, rec = world
    mid, _, _, msg = send_tracked(k, rec, "leaving@trk-rx.test", list_unsubscribe=True)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(http://[^>]+/t/u/[^>]+)>", msg["List-Unsubscribe"].strip()).group(1)
    status, _, page = curl("GET", url, key="")
    assert status == 200 and 'method="post"' in page and "leaving@trk-rx.test" in page
    assert k.api("GET", f"/v1/events?message_id={mid}&type=unsubscribed")[1]["data"] == [], "a GET unsubscribes no one"
    status, _, page = curl("POST", url, "List-Unsubscribe=One-Click", key="", content_type="application/x-www-form-urlencoded")
    assert status == 200 and "Unsubscribed" in page
    [e] = k.api("GET", f"/v1/events?message_id={mid}&type=unsubscribed")[1]["data"]
    assert e["recipient"] == "leaving@trk-rx.test"
    status, s = k.api("GET", "/v1/suppressions/leaving@trk-rx.test")
    assert status == 200 and s["reason"] == "unsubscribe"
    status, res = k.api("POST", "/v1/messages", {"from": "news@trk.test", "to": "leaving@trk-rx.test", "subject": "s", "text": "t"})
    assert res["messages"][0]["status"] == "suppressed"


def test_account_defaults_apply_to_sends_that_do_not_say(world, k):
    """An account's track_clicks / track_opens / list_unsubscribe defaults (PATCH /v1/accounts/NAME, or
    `kurier account set`) apply to API sends that leave the flag out; a send's own flag wins; null goes
    back to the server's configuration (tracking.* off here)."""
    _, _, rec = world

    def plain_send(**flags):
        marker = uuid.uuid4().hex
        status, res = k.api("POST", "/v1/messages", {"from": "news@trk.test", "to": "defaults@trk-rx.test",
                                                     "subject": f"D {marker}", "text": "t", "html": HTML.replace("{marker}", marker),
                                                     **flags})
        assert status == 202, res
        _, _, content = rec.wait_for(marker)
        msg = email.message_from_bytes(content, policy=email.policy.default)
        html = msg.get_body(("html",)).get_content()
        return len(hrefs(k, html)), "/t/o/" in html, msg["List-Unsubscribe"] is not None

    assert plain_send() == (0, False, False), "server defaults: no tracking"
    status, acc = k.api("PATCH", "/v1/accounts/default", {"track_clicks": True, "list_unsubscribe": True})
    assert status == 200 and acc["track_clicks"] is True and acc["track_opens"] is None and acc["list_unsubscribe"] is True
    assert plain_send() == (len(TRACKED), False, True)
    assert plain_send(track_clicks=False, list_unsubscribe=False) == (0, False, False), "the send's own flags win"
    status, bad = k.api("PATCH", "/v1/accounts/default", {"track_opens": "yes"})
    assert status == 422 and bad["errors"][0]["pointer"] == "/track_opens"
    k.cli("account", "set", "default", "--track-opens", "on", "--track-clicks", "default")
    listed = json.loads(k.cli("account", "list", "--json").stdout)
    [d] = [a for a in listed if a["name"] == "default"]
    assert d["track_opens"] is True and d["track_clicks"] is None
    time.sleep(5.2)  # the API re-reads an account's defaults changed outside it after at most 5 s
    assert plain_send() == (0, True, True)
    status, acc = k.api("PATCH", "/v1/accounts/default", {"track_opens": None, "list_unsubscribe": None})
    assert status == 200 and acc["track_opens"] is None and acc["list_unsubscribe"] is None
    assert plain_send() == (0, False, False)


def test_smtp_submissions_follow_the_account_defaults(world, k):
    """Mail submitted over SMTP (smtplib, AUTH) gets the account's tracking as it leaves: the HTML part
    of a multipart/alternative message is rewritten in place (re-encoded quoted-printable, the text
    part untouched), the pixel added, List-Unsubscribe set; the tracked links redirect and record."""
    _, _, rec = world
    status, _ = k.api("PATCH", "/v1/accounts/default", {"track_clicks": True, "track_opens": True, "list_unsubscribe": True})
    assert status == 200
    marker = uuid.uuid4().hex
    html = HTML.replace("{marker}", marker)
    msg = email.message.EmailMessage()
    msg["From"] = "news@trk.test"
    msg["To"] = "smtp-reader@trk-rx.test"
    msg["Subject"] = f"SMTP {marker}"
    msg.set_content(f"Plain {marker} http://plain.example/not-rewritten\n")
    msg.add_alternative(html, subtype="html", cte="base64")
    with k.smtp_submission() as s:
        s.sendmail("news@trk.test", ["smtp-reader@trk-rx.test"], msg.as_bytes(policy=email.policy.SMTP))
    _, _, content = rec.wait_for(marker)
    got = email.message_from_bytes(content, policy=email.policy.default)
    assert got.get_body(("plain",)).get_content().replace("\r\n", "\n") == f"Plain {marker} http://plain.example/not-rewritten\n"
    assert got.get_body(("html",))["Content-Transfer-Encoding"] == "quoted-printable"
    body = got.get_body(("html",)).get_content()
    links = hrefs(k, body)
    assert len(links) == len(TRACKED) and "/t/o/" in body
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and "/t/u/" in got["List-Unsubscribe"]
    for (_, url), want in zip(links, TRACKED):
        status, headers, _ = curl("GET", url, key="")
        assert status == 302 and headers["location"] == want
    mid = wait_until(lambda: [e["message_id"] for e in k.events("clicked")], 10, "clicked events")[0]
    assert len(k.api("GET", f"/v1/events?message_id={mid}&type=clicked")[1]["data"]) == len(TRACKED)


def test_smtp_submissions_set_their_own_tags_metadata_and_tracking(world, k):
    """An SMTP submission's X-Kurier-* fields: its tags and metadata land on its events (and stats), its
    X-Kurier-Track-* fields win over the account's defaults, and none of them leaves kurier. A field
    kurier cannot use refuses the message (550 5.6.0) and says which."""
    _, _, rec = world
    status, _ = k.api("PATCH", "/v1/accounts/default", {"track_clicks": True, "track_opens": False, "list_unsubscribe": False})
    assert status == 200
    marker = uuid.uuid4().hex
    msg = email.message.EmailMessage()
    msg["From"] = "news@trk.test"
    msg["To"] = "own-flags@trk-rx.test"
    msg["Subject"] = f"Own {marker}"
    msg["X-Kurier-Tag"] = "spring, vip"
    msg["X-Kurier-Metadata"] = '{"order": "%s"}' % marker
    msg["X-Kurier-Track-Clicks"] = "no"
    msg["X-Kurier-Track-Opens"] = "yes"
    msg.set_content(f"Plain {marker}\n")
    msg.add_alternative(HTML.replace("{marker}", marker), subtype="html")
    with k.smtp_submission() as s:
        s.sendmail("news@trk.test", ["own-flags@trk-rx.test"], msg.as_bytes(policy=email.policy.SMTP))
    _, _, content = rec.wait_for(marker)
    got = email.message_from_bytes(content, policy=email.policy.default)
    assert not [n for n in got.keys() if n.lower().startswith("x-kurier-")], got.keys()
    body = got.get_body(("html",)).get_content()
    assert hrefs(k, body) == [] and "/t/o/" in body, "the message's own fields win over the account's defaults"
    status, ev = k.api("GET", "/v1/events?type=accepted&tag=vip")
    [accepted] = [e for e in ev["data"] if e.get("metadata") == {"order": marker}] or [None]
    assert accepted and accepted["tags"] == ["spring", "vip"], ev
    mid = accepted["message_id"]
    delivered = wait_until(lambda: k.api("GET", f"/v1/events?message_id={mid}&type=delivered")[1]["data"], 10, "delivered")
    assert delivered[0]["tags"] == ["spring", "vip"] and delivered[0]["metadata"] == {"order": marker}

    bad = email.message.EmailMessage()
    bad["From"] = "news@trk.test"
    bad["To"] = "own-flags@trk-rx.test"
    bad["Subject"] = "bad"
    bad["X-Kurier-Metadata"] = "order=42"
    bad.set_content("x\n")
    with k.smtp_submission() as s:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            s.sendmail("news@trk.test", ["own-flags@trk-rx.test"], bad.as_bytes(policy=email.policy.SMTP))
    assert refused.value.smtp_code == 550 and b"5.6.0" in refused.value.smtp_error
    assert b"X-Kurier-Metadata" in refused.value.smtp_error, refused.value.smtp_error


def copies_for(rec, marker, count):
    """The `count` deliveries whose content holds `marker`, by recipient: {rcpt: parsed message}."""
    def got():
        with rec.lock:
            found = [m for m in rec.received if marker.encode() in m[2]]
        return found if len(found) >= count else None
    return {rcpts[0]: email.message_from_bytes(content, policy=email.policy.default)
            for _, rcpts, content in wait_until(got, 30, f"{count} copies of {marker}")}


def test_each_recipient_of_a_message_gets_links_of_its_own(world, k):
    """A tracked message to several recipients (an API send with two To addresses, and an SMTP
    submission to two) leaves as one copy per recipient whose links, pixel and List-Unsubscribe name that
    recipient: a click, an open and an unsubscribe are recorded for the one who made them."""
    _, _, rec = world
    marker = uuid.uuid4().hex
    a, b = "first@trk-rx.test", "second@trk-rx.test"
    status, res = k.api("POST", "/v1/messages", {"from": "news@trk.test", "to": [a, b], "subject": f"Two {marker}",
                                                 "text": f"Hello {marker}", "html": HTML.replace("{marker}", marker),
                                                 "track_opens": True, "track_clicks": True, "list_unsubscribe": True})
    assert status == 202, res
    mid = res["messages"][0]["id"]
    copies = copies_for(rec, marker, 2)
    assert set(copies) == {a, b}, copies.keys()
    links = {r: [u for _, u in hrefs(k, m.get_body(("html",)).get_content())] for r, m in copies.items()}
    assert len(links[a]) == len(TRACKED) and not set(links[a]) & set(links[b]), "each copy has links of its own"
    assert all(not n.lower().startswith("x-kurier-") for m in copies.values() for n in m.keys())
    status, _, _ = curl("GET", links[b][0], key="")
    assert status == 302
    pixel = re.search(r'<img src="([^"]+/t/o/[^"]+)"', copies[a].get_body(("html",)).get_content()).group(1)
    assert curl("GET", pixel, key="")[0] == 200
    unsubscribe = re.search(r"<(http[^>]+/t/u/[^>]+)>", copies[b]["List-Unsubscribe"]).group(1)
    status, _, _ = curl("POST", unsubscribe, body="List-Unsubscribe=One-Click", key="",
                        content_type="application/x-www-form-urlencoded")
    assert status == 200
    events = k.api("GET", f"/v1/events?message_id={mid}&order=asc&limit=100")[1]["data"]
    by_type = {t: [e["recipient"] for e in events if e["type"] == t] for t in ("clicked", "opened", "unsubscribed")}
    assert by_type == {"clicked": [b], "opened": [a], "unsubscribed": [b]}, by_type
    suppressed = [s["address"] for s in k.api("GET", "/v1/suppressions")[1]["data"]]
    assert b in suppressed and a not in suppressed

    # An SMTP submission to two recipients, tracked by the account's defaults: the same.
    status, _ = k.api("PATCH", "/v1/accounts/default", {"track_clicks": True})
    assert status == 200
    marker = uuid.uuid4().hex
    c, d = "third@trk-rx.test", "fourth@trk-rx.test"
    msg = email.message.EmailMessage()
    msg["From"] = "news@trk.test"
    msg["To"] = f"{c}, {d}"
    msg["Subject"] = f"SMTP two {marker}"
    msg.set_content(f"Plain {marker}\n")
    msg.add_alternative(HTML.replace("{marker}", marker), subtype="html")
    with k.smtp_submission() as s:
        s.sendmail("news@trk.test", [c, d], msg.as_bytes(policy=email.policy.SMTP))
    copies = copies_for(rec, marker, 2)
    link_d = hrefs(k, copies[d].get_body(("html",)).get_content())[0][1]
    assert link_d not in copies[c].get_body(("html",)).get_content()
    assert curl("GET", link_d, key="")[0] == 302
    clicked = wait_until(lambda: [e for e in k.api("GET", "/v1/events?type=clicked&limit=100")[1]["data"]
                                  if e["recipient"] == d], 10, "the click of the fourth recipient")
    assert len(clicked) == 1


def test_raw_api_messages_read_their_x_kurier_fields(world, k):
    """POST /v1/messages/raw takes a message's X-Kurier-* fields as an SMTP submission does (the
    request's own tags win), and refuses one it cannot use with a 422 on /message."""
    _, _, rec = world
    marker = uuid.uuid4().hex
    raw = (f"From: news@trk.test\r\nTo: raw@trk-rx.test\r\nSubject: Raw {marker}\r\nX-Kurier-Tag: rawtag\r\n"
           f"X-Kurier-Metadata: {{\"order\": \"{marker}\"}}\r\nX-Kurier-Track-Opens: yes\r\n"
           f"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello {marker}</p>\r\n")
    status, res = k.api("POST", "/v1/messages/raw", {"from": "news@trk.test", "to": ["raw@trk-rx.test"], "message": raw})
    assert status == 202, res
    _, _, content = rec.wait_for(marker)
    got = email.message_from_bytes(content, policy=email.policy.default)
    assert not [n for n in got.keys() if n.lower().startswith("x-kurier-")]
    assert "/t/o/" in got.get_body(("html",)).get_content()
    status, ev = k.api("GET", "/v1/events?type=accepted&tag=rawtag")
    assert [e["metadata"] for e in ev["data"]] == [{"order": marker}], ev
    status, bad = k.api("POST", "/v1/messages/raw", {"from": "news@trk.test", "to": ["raw@trk-rx.test"],
                                                     "message": raw.replace("X-Kurier-Track-Opens: yes", "X-Kurier-Track-Opens: sometimes")})
    assert status == 422 and bad["errors"][0]["pointer"] == "/message" and "X-Kurier-Track-Opens" in bad["errors"][0]["detail"], bad
