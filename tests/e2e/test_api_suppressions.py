"""Suppressions over the API (curl): add, list with a cursor, read, remove, import CSV (bad lines named,
good ones kept), export CSV; the global list is for admin keys only. A send to a suppressed address is
not attempted: the API answer says so per recipient and a `suppressed` event is written. Through real
delivery (aiosmtpd behind a local DNS): a hard bounce suppresses its address on its own, so does an
address that soft-bounces bounces.soft_limit times (reason soft_bounce_limit), and mail submitted over
SMTP to a suppressed address never reaches the receiver."""

import csv
import io
import smtplib
import time
import uuid

import pytest

from conftest import HOST, plain_ctx
from receivers import mx_world, wait_until


@pytest.fixture
def k(kurier_factory):
    return kurier_factory(sender_domains=["supp.test"])


def add(k, body, key=None):
    status, res = k.api("POST", "/v1/suppressions", body, key=key)
    assert status == 201, res
    return res


def test_add_list_read_remove(k):
    assert add(k, {"address": "One@Example.net", "reason": "manual", "detail": "asked by phone"}) == \
        {"added": 1, "already_suppressed": 0}
    assert add(k, {"addresses": ["one@example.net", {"address": "two@example.net", "reason": "complaint"},
                                 "three@example.net"]}) == {"added": 2, "already_suppressed": 1}
    status, res = k.api("GET", "/v1/suppressions?limit=2")
    assert status == 200
    assert [s["address"] for s in res["data"]] == ["one@example.net", "three@example.net"]
    assert res["data"][0]["detail"] == "asked by phone" and res["data"][0]["scope"] == "account"
    status, page2 = k.api("GET", f"/v1/suppressions?limit=2&cursor={res['next_cursor']}")
    assert [s["address"] for s in page2["data"]] == ["two@example.net"] and page2["next_cursor"] is None
    status, one = k.api("GET", "/v1/suppressions/TWO@example.net")
    assert status == 200 and one["reason"] == "complaint"
    status, _, _ = k.curl("DELETE", "/v1/suppressions/two@example.net")
    assert status == 204
    status, res = k.api("GET", "/v1/suppressions/two@example.net")
    assert status == 404
    status, res = k.api("DELETE", "/v1/suppressions/two@example.net")
    assert status == 404


def test_invalid_input_names_each_field(k):
    status, res = k.api("POST", "/v1/suppressions",
                        {"addresses": ["not-an-address", {"address": "ok@example.net", "reason": "because"}]})
    assert status == 422, res
    assert {e["pointer"] for e in res["errors"]} == {"/addresses/0", "/addresses/1/reason"}
    status, res = k.api("GET", "/v1/suppressions?limit=0")
    assert status == 422 and res["errors"][0]["pointer"] == "/query/limit"
    status, _ = k.api("GET", "/v1/suppressions", key="kur_wrong")
    assert status == 401


def test_import_and_export_csv(k):
    body = ("address,reason,detail\r\n"
            "a@example.net,hard_bounce,550 5.1.1 no such user\r\n"
            "\"b@example.net\",unsubscribe,\"said \"\"stop\"\", twice\"\r\n"
            "not an address,manual,\r\n"
            "c@example.net,,\r\n"
            "d@example.net,sometimes,\r\n")
    status, _, text = k.curl("POST", "/v1/suppressions/import", body, content_type="text/csv")
    assert status == 200, text
    import json
    res = json.loads(text)
    assert res["added"] == 3 and res["already_suppressed"] == 0
    assert [r["line"] for r in res["rejected"]] == [4, 6], res
    status, hdrs, text = k.curl("GET", "/v1/suppressions/export")
    assert status == 200 and hdrs["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["address"], r["reason"]) for r in rows] == [
        ("a@example.net", "hard_bounce"), ("b@example.net", "unsubscribe"), ("c@example.net", "manual")]
    assert rows[1]["detail"] == 'said "stop", twice'


def test_name_addr_is_accepted_wherever_an_address_is(k):
    """"Jane <jane@example.net>", as the send routes and other services take it: in the body (one and
    many), in a CSV import and in the path; the entry is the address alone. Two mailboxes are refused."""
    assert add(k, {"address": "Jane <Jane@Example.net>", "reason": "manual"}) == {"added": 1, "already_suppressed": 0}
    assert add(k, {"addresses": ["\"Doe, John\" <john@example.net>", {"address": "=?utf-8?q?Zo=C3=AB?= <zoe@example.net>"},
                                 "jane@example.net"]}) == {"added": 2, "already_suppressed": 1}
    status, _, text = k.curl("POST", "/v1/suppressions/import", "Max <max@example.net>,unsubscribe,\r\n",
                             content_type="text/csv")
    assert status == 200 and '"added":1' in text, text
    status, res = k.api("GET", "/v1/suppressions?limit=10")
    assert [s["address"] for s in res["data"]] == ["jane@example.net", "john@example.net", "max@example.net",
                                                   "zoe@example.net"], res
    status, one = k.api("GET", "/v1/suppressions/Max%20%3Cmax@example.net%3E")
    assert status == 200 and one["address"] == "max@example.net" and one["reason"] == "unsubscribe", one
    status, _, _ = k.curl("DELETE", "/v1/suppressions/Jane%20%3Cjane@example.net%3E")
    assert status == 204
    status, res = k.api("POST", "/v1/suppressions", {"addresses": ["a@example.net, b@example.net", "Bad <not an address>"]})
    assert status == 422, res
    errors = {e["pointer"]: e["detail"] for e in res["errors"]}
    assert set(errors) == {"/addresses/0", "/addresses/1"} and "Jane <jane@example.net>" in errors["/addresses/1"], errors


def test_global_list_is_for_admins(k):
    status, res = k.api("POST", "/v1/api-keys", {"name": "shop", "scopes": ["send", "read"]})
    assert status == 201, res
    shop_key = res["key"]
    status, res = k.api("POST", "/v1/suppressions?global=true", {"address": "spamtrap@example.net"}, key=shop_key)
    assert status == 422 and res["errors"][0]["pointer"] == "/query/global"
    status, res = k.api("POST", "/v1/suppressions?global=true", {"address": "spamtrap@example.net"})
    assert status == 201, res
    # The global entry applies to the account too.
    status, res = k.api("GET", "/v1/suppressions/spamtrap@example.net", key=shop_key)
    assert status == 200 and res["scope"] == "global"
    status, res = k.api("POST", "/v1/messages", {"from": "shop@supp.test", "to": "spamtrap@example.net",
                                                 "subject": "x", "text": "y"}, key=shop_key)
    assert status == 202 and res["messages"][0]["status"] == "suppressed", res


def test_send_skips_suppressed_recipients(k):
    add(k, {"address": "gone@example.net", "reason": "unsubscribe"})
    status, res = k.api("POST", "/v1/messages", {"from": "shop@supp.test", "to": ["gone@example.net", "here@example.net"],
                                                 "subject": "News", "text": "Hello", "tags": ["news"]})
    assert status == 202, res
    [m] = res["messages"]
    assert m["status"] == "queued" and m["recipients"] == ["here@example.net"]
    assert m["suppressed"] == [{"address": "gone@example.net", "reason": "unsubscribe"}]
    shown = k.queue_show(m["id"])
    assert shown["recipients"] == ["here@example.net"], shown
    status, evs = k.api("GET", f"/v1/events?type=suppressed&message_id={m['id']}")
    assert status == 200
    [e] = evs["data"]
    assert e["recipient"] == "gone@example.net" and e["reason"] == "unsubscribe" and e["tags"] == ["news"]

    # A batch where one message is wholly suppressed: that one is not queued at all.
    status, res = k.api("POST", "/v1/messages", {"from": "shop@supp.test", "subject": "Hi {{name}}", "text": "x",
                                                 "recipients": [{"to": "gone@example.net", "variables": {"name": "A"}},
                                                                {"to": "new@example.net", "variables": {"name": "B"}}]})
    assert status == 202, res
    assert [m["status"] for m in res["messages"]] == ["suppressed", "queued"]
    assert res["messages"][0]["id"] not in k.queue_ids()


# ------------------------------------------------------------------------------------------------------
# through real delivery

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with mx_world(str(tmp_path_factory.mktemp("dns")), "supp-rx.test", "127.0.0.33") as w:
        yield w


@pytest.fixture
def dk(world, kurier_factory):
    dns, port, _ = world
    return kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "queue.retry_initial=1",
                          sender_domains=["supp.test"], delivery=True)


def test_hard_bounce_suppresses_the_address(world, dk):
    _, _, rec = world
    gone = f"nobody-{uuid.uuid4().hex[:8]}@supp-rx.test"
    rec.rcpt_replies[gone] = "550 5.1.1 <%s>: Recipient address rejected: User unknown" % gone
    status, res = dk.api("POST", "/v1/messages", {"from": "shop@supp.test", "to": gone, "subject": "a", "text": "b"})
    assert status == 202, res
    wait_until(lambda: dk.api("GET", f"/v1/suppressions/{gone}")[0] == 200, 15, "the hard bounce to suppress the address")
    status, s = dk.api("GET", f"/v1/suppressions/{gone}")
    assert s["reason"] == "hard_bounce" and "5.1.1" in s["detail"] and s["message_id"] == res["messages"][0]["id"], s
    status, res = dk.api("POST", "/v1/messages", {"from": "shop@supp.test", "to": gone, "subject": "a", "text": "b"})
    assert res["messages"][0]["status"] == "suppressed", res


@pytest.fixture
def soft_dk(world, kurier_factory):
    dns, port, _ = world
    return kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "bounces.soft_limit=2",
                          "bounces.soft_window_days=1", sender_domains=["supp.test"], delivery=True)


def test_an_address_that_keeps_soft_bouncing_is_suppressed(world, soft_dk):
    """bounces.soft_limit = 2: a receiving server that refuses an address with a 5xx that is not a hard
    bounce (a full mailbox) gets it suppressed at the second such message, with reason soft_bounce_limit
    and a detail naming the count and the window; the first alone suppresses nothing. One DELETE lifts it
    and the next message is delivered."""
    _, _, rec = world
    full = f"full-{uuid.uuid4().hex[:8]}@supp-rx.test"
    rec.rcpt_replies[full] = "552 5.2.2 <%s>: Mailbox full, quota exceeded" % full

    def send(marker="x"):
        status, res = soft_dk.api("POST", "/v1/messages", {"from": "shop@supp.test", "to": full, "subject": marker,
                                                          "text": f"body {marker}"})
        assert status == 202, res
        return res["messages"][0]

    def bounced(mid):
        return soft_dk.api("GET", f"/v1/events?type=bounced&message_id={mid}")[1]["data"]

    first = send()["id"]
    [b] = wait_until(lambda: bounced(first), 15, "the first soft bounce")
    assert b["classification"] == "soft" and b["reason"] == "mailboxfull" and "552 5.2.2" in b["reply"], b
    assert any(w in b["rule"] for w in ("5.2.2", "mailboxfull")), b  # the rule that decided
    assert soft_dk.api("GET", f"/v1/suppressions/{full}")[0] == 404, "one soft bounce does not suppress"

    second = send()["id"]
    wait_until(lambda: soft_dk.api("GET", f"/v1/suppressions/{full}")[0] == 200, 15, "the second soft bounce to suppress")
    status, s = soft_dk.api("GET", f"/v1/suppressions/{full}")
    assert s["reason"] == "soft_bounce_limit" and s["message_id"] == second, s
    assert s["detail"].startswith("2 soft bounces within 1 day without a delivery (bounces.soft_limit 2); "
                                  "last: mailboxfull: 552 5.2.2"), s
    status, page = soft_dk.api("GET", "/v1/suppressions?limit=100")
    assert status == 200 and [e["reason"] for e in page["data"] if e["address"] == full] == ["soft_bounce_limit"]
    assert send()["status"] == "suppressed"

    # Lifted with one call; the mailbox has room again and the next message arrives.
    status, _, _ = soft_dk.curl("DELETE", f"/v1/suppressions/{full}")
    assert status == 204
    del rec.rcpt_replies[full]
    marker = uuid.uuid4().hex
    assert send(marker)["status"] == "queued"
    _, rcpts, _ = rec.wait_for(marker)
    assert rcpts == [full]


def test_smtp_mail_to_a_suppressed_address_is_not_attempted(world, dk):
    _, _, rec = world
    marker = uuid.uuid4().hex
    gone, kept = f"quiet-{marker[:8]}@supp-rx.test", f"loud-{marker[:8]}@supp-rx.test"
    add(dk, {"address": gone, "reason": "complaint"})
    msg = (f"From: shop@supp.test\r\nTo: {gone}, {kept}\r\nSubject: {marker}\r\n\r\nbody {marker}\r\n")
    with smtplib.SMTP(HOST, dk.submission_port, local_hostname="client.test", timeout=20) as s:
        s.starttls(context=plain_ctx())
        s.login(dk.username, dk.password)
        s.sendmail("shop@supp.test", [gone, kept], msg)
    _, rcpts, _ = rec.wait_for(marker)
    assert rcpts == [kept]
    wait_until(lambda: any(e["recipient"] == gone for e in dk.api("GET", "/v1/events?type=suppressed")[1]["data"]),
               10, "the suppressed event")
    # The `accepted` event of SMTP mail carries its Subject, as for API sends (RFC 2047 words decoded).
    accepted = wait_until(lambda: [e for e in dk.api("GET", "/v1/events?type=accepted")[1]["data"]
                                   if e.get("subject") == marker], 10, "the accepted event with the subject")
    assert accepted[0]["recipients"] == [kept], accepted


def test_an_account_may_refuse_suppressed_recipients_at_rcpt(k):
    """Account setting refuse_suppressed (API and CLI): SMTP refuses a suppressed recipient at RCPT with
    550 5.7.1 naming the suppression and how to lift it; other recipients of the same message are taken;
    turning it off again accepts the address (and records `suppressed`) as by default."""
    gone = f"refused-{uuid.uuid4().hex[:8]}@example.net"
    add(k, {"address": gone, "reason": "hard_bounce"})
    status, acc = k.api("PATCH", "/v1/accounts/default", {"refuse_suppressed": True})
    assert status == 200 and acc["refuse_suppressed"] is True, acc
    with smtplib.SMTP(HOST, k.submission_port, local_hostname="client.test", timeout=20) as s:
        s.starttls(context=plain_ctx())
        s.login(k.username, k.password)
        assert s.mail("shop@supp.test")[0] == 250
        code, text = s.rcpt(gone.upper())
        assert code == 550 and text.startswith(b"5.7.1"), text
        assert b"suppression list (hard_bounce since" in text and f"DELETE /v1/suppressions/{gone}".encode() in text, text
        assert s.rcpt("someone-else@example.net")[0] == 250
        s.rset()
    assert "off" in k.cli("account", "set", "default", "--refuse-suppressed", "off").stdout
    assert k.api("GET", "/v1/accounts/default")[1]["refuse_suppressed"] is False
    with smtplib.SMTP(HOST, k.submission_port, local_hostname="client.test", timeout=20) as s:
        s.starttls(context=plain_ctx())
        s.login(k.username, k.password)
        assert s.mail("shop@supp.test")[0] == 250
        assert s.rcpt(gone)[0] == 250
    status, res = k.api("PATCH", "/v1/accounts/default", {"refuse_suppressed": "yes"})
    assert status == 422 and "/refuse_suppressed" in str(res), res
