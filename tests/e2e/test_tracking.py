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
import json
import re
import time
import uuid

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
