"""Bounces and complaints that come back later: mail from a sending domain leaves with a signed VERP
return path (bounces+ID-TAG@bounces.DOMAIN); a DSN (RFC 3464) sent to kurier's bounce listener
(smtp.inbound) by smtplib becomes a `bounced` event on the right message and recipient with its reason
and hard/soft class, a suppression, and a webhook; an ARF complaint (RFC 5965) becomes `complained`; an
auto-reply (RFC 3834) and a forged VERP tag change nothing; the listener refuses every other domain
(never a relay); mail to the signed mailto: List-Unsubscribe address unsubscribes. Synchronous replies are classified by the same code: a full mailbox is a soft bounce
and does not suppress."""

import email
import email.policy
import email.utils
import re
import json
import smtplib
import time
import uuid

import pytest

from conftest import HOST
from receivers import mx_world, wait_until
from webhook_peer import WebhookReceiver


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with mx_world(str(tmp_path_factory.mktemp("dns")), "bx-rx.test", "127.0.0.35") as w:
        yield w


@pytest.fixture
def k(world, kurier_factory):
    from conftest import free_port
    dns, port, _ = world
    inbound = free_port()
    inst = kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "smtp.inbound.enabled=true",
                          f"smtp.inbound.listen={HOST}:{inbound}", sender_domains=["shop.test"], delivery=True,
                          start=False)
    inst.cli("domain", "add", "default", "shop.test")
    inst.start()
    inst.inbound_port = inbound
    return inst


def send(k, rec, to, marker):
    status, res = k.api("POST", "/v1/messages", {"from": "orders@shop.test", "to": to, "subject": f"Order {marker}",
                                                 "text": f"Thanks {marker}", "tags": ["orders"]})
    assert status == 202, res
    mail_from, rcpts, content = rec.wait_for(marker)
    return res["messages"][0]["id"], mail_from, content


def dsn(verp, rcpt, status, diagnostic, original, action="failed"):
    """An RFC 3464 report as Postfix writes it: text, message/delivery-status, text/rfc822-headers."""
    headers = original.split(b"\r\n\r\n", 1)[0]
    return (f"From: MAILER-DAEMON@mx.bx-rx.test (Mail Delivery System)\r\nTo: {verp}\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nDate: {email.utils.formatdate()}\r\n"
            f"Message-ID: {email.utils.make_msgid()}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"r1\"\r\n\r\n"
            "--r1\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host mx.bx-rx.test.\r\n\r\n"
            "I'm sorry to have to inform you that your message could not be delivered.\r\n"
            "--r1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.bx-rx.test\r\n\r\n"
            f"Final-Recipient: rfc822; {rcpt}\r\nOriginal-Recipient: rfc822;{rcpt}\r\nAction: {action}\r\n"
            f"Status: {status}\r\nRemote-MTA: dns; mx.bx-rx.test\r\nDiagnostic-Code: smtp; {diagnostic}\r\n\r\n"
            "--r1\r\nContent-Type: text/rfc822-headers\r\n\r\n").encode() + headers + b"\r\n--r1--\r\n"


def deliver_report(k, rcpt, data, mail_from=""):
    with smtplib.SMTP(HOST, k.inbound_port, local_hostname="mx.bx-rx.test", timeout=20) as s:
        s.sendmail(mail_from, [rcpt], data)


def events(k, mid, type):
    return k.api("GET", f"/v1/events?message_id={mid}&type={type}")[1]["data"]


def test_dsn_becomes_a_hard_bounce_a_suppression_and_a_webhook(world, k):
    _, _, rec = world
    hooks = WebhookReceiver()
    try:
        status, hook = k.api("POST", "/v1/webhooks", {"url": hooks.url(), "event_types": ["bounced"]})
        assert status == 201, hook
        marker = uuid.uuid4().hex
        rcpt = f"gone-{marker[:8]}@bx-rx.test"
        mid, verp, content = send(k, rec, rcpt, marker)
        local, domain = verp.rsplit("@", 1)
        assert domain == "bounces.shop.test" and local.startswith(f"bounces+{mid}-"), verp
        wait_until(lambda: events(k, mid, "delivered"), 10, "the delivered event")

        deliver_report(k, verp, dsn(verp, rcpt, "5.1.1", "550 5.1.1 <%s>: Recipient address rejected: User unknown" % rcpt, content))
        wait_until(lambda: events(k, mid, "bounced"), 10, "the bounced event")
        [b] = events(k, mid, "bounced")
        assert b["recipient"] == rcpt and b["classification"] == "hard" and b["reason"] == "userunknown", b
        assert b["status"] == "5.1.1" and "User unknown" in b["reply"] and b["source"] == "report"
        assert b["tags"] == ["orders"] and b["account"] == k.account
        status, s = k.api("GET", f"/v1/suppressions/{rcpt}")
        assert status == 200 and s["reason"] == "hard_bounce" and s["message_id"] == mid, s
        [req] = hooks.wait_for(lambda r: mid.encode() in r["body"])
        assert json.loads(req["body"])["data"]["reason"] == "userunknown"
    finally:
        hooks.stop()


def test_soft_bounce_report_does_not_suppress(world, k):
    _, _, rec = world
    marker = uuid.uuid4().hex
    rcpt = f"full-{marker[:8]}@bx-rx.test"
    mid, verp, content = send(k, rec, rcpt, marker)
    deliver_report(k, verp, dsn(verp, rcpt, "5.2.2", "552 5.2.2 <%s>: Mailbox full, quota exceeded" % rcpt, content))
    wait_until(lambda: events(k, mid, "bounced"), 10, "the bounced event")
    [b] = events(k, mid, "bounced")
    assert b["classification"] == "soft" and b["reason"] == "mailboxfull", b
    assert k.api("GET", f"/v1/suppressions/{rcpt}")[0] == 404


def test_arf_complaint_is_recorded_and_suppresses(world, k):
    _, _, rec = world
    marker = uuid.uuid4().hex
    rcpt = f"angry-{marker[:8]}@bx-rx.test"
    mid, verp, content = send(k, rec, rcpt, marker)
    arf = (f"From: feedback@bx-rx.test\r\nTo: {verp}\r\nSubject: FW: Order\r\nMIME-Version: 1.0\r\n"
           f"Message-ID: <{uuid.uuid4().hex}@bx-rx.test>\r\nDate: {email.utils.formatdate()}\r\n"
           "Content-Type: multipart/report; report-type=feedback-report; boundary=\"b1\"\r\n\r\n"
           "--b1\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
           "--b1\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: BxFBL/1.0\r\n"
           f"Version: 1\r\nSource-IP: 192.0.2.1\r\nOriginal-Rcpt-To: {rcpt}\r\n\r\n"
           # The mailbox provider returns the message as it stored it, with the Return-Path it added.
           f"--b1\r\nContent-Type: message/rfc822\r\n\r\nReturn-Path: <{verp}>\r\n").encode() + content + b"\r\n--b1--\r\n"
    deliver_report(k, "fbl@bounces.shop.test", arf, mail_from=f"feedback@bx-rx.test")
    wait_until(lambda: events(k, mid, "complained"), 10, "the complained event")
    [c] = events(k, mid, "complained")
    assert c["recipient"] == rcpt and c["feedback_type"] == "abuse", c
    status, s = k.api("GET", f"/v1/suppressions/{rcpt}")
    assert status == 200 and s["reason"] == "complaint", s


def test_auto_reply_and_forged_tags_change_nothing(world, k):
    _, _, rec = world
    marker = uuid.uuid4().hex
    rcpt = f"away-{marker[:8]}@bx-rx.test"
    mid, verp, content = send(k, rec, rcpt, marker)
    auto = (f"From: {rcpt}\r\nTo: {verp}\r\nSubject: Out of office: Order {marker}\r\nAuto-Submitted: auto-replied\r\n"
            f"Date: {email.utils.formatdate()}\r\nMessage-ID: <{uuid.uuid4().hex}@bx-rx.test>\r\n\r\n"
            "I am away until Monday.\r\n").encode()
    deliver_report(k, verp, auto, mail_from=rcpt)
    local, domain = verp.rsplit("@", 1)
    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    deliver_report(k, forged, dsn(forged, rcpt, "5.1.1", "550 5.1.1 User unknown", content))
    time.sleep(1.5)
    assert events(k, mid, "bounced") == [] and events(k, mid, "complained") == []
    assert k.api("GET", f"/v1/suppressions/{rcpt}")[0] == 404


def test_bounce_listener_is_not_a_relay(k):
    with smtplib.SMTP(HOST, k.inbound_port, local_hostname="spammer.test", timeout=20) as s:
        s.ehlo()
        assert b"AUTH" not in s.ehlo_resp
        s.mail("spammer@example.org")
        code, text = s.rcpt("victim@example.org")
        assert code == 550 and b"5.7.1" in text and b"only bounces" in text, (code, text)
        code, text = s.rcpt("someone@shop.test")
        assert code == 550, "the sending domain itself is not a bounce domain"


def test_synchronous_mailbox_full_is_soft(world, k):
    _, _, rec = world
    marker = uuid.uuid4().hex
    rcpt = f"quota-{marker[:8]}@bx-rx.test"
    rec.rcpt_replies[rcpt] = "552 5.2.2 Mailbox full"
    status, res = k.api("POST", "/v1/messages", {"from": "orders@shop.test", "to": rcpt, "subject": "s", "text": "t"})
    assert status == 202, res
    mid = res["messages"][0]["id"]
    wait_until(lambda: events(k, mid, "bounced"), 10, "the bounced event")
    [b] = events(k, mid, "bounced")
    assert b["classification"] == "soft" and b["reason"] == "mailboxfull", b
    assert k.api("GET", f"/v1/suppressions/{rcpt}")[0] == 404


def test_mailto_list_unsubscribe(world, k):
    """The List-Unsubscribe of marketing mail also carries a signed mailto: address at the return-path
    domain (RFC 2369); mail to it unsubscribes the message's recipient, an auto-reply to it does not,
    and a forged address changes nothing."""
    _, _, rec = world
    marker = uuid.uuid4().hex
    rcpt = f"unsub-{marker[:8]}@bx-rx.test"
    status, res = k.api("POST", "/v1/messages", {"from": "news@shop.test", "to": rcpt, "subject": f"News {marker}",
                                                 "text": f"Hello {marker}", "list_unsubscribe": True})
    assert status == 202, res
    mid = res["messages"][0]["id"]
    _, _, content = rec.wait_for(marker)
    msg = email.message_from_bytes(content, policy=email.policy.default)
    links = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])
    assert len(links) == 2 and links[0].startswith("http") and "/t/u/" in links[0], links
    m = re.fullmatch(r"mailto:(unsubscribe\+[a-z0-9_]+-[a-z2-7]+)@bounces\.shop\.test\?subject=unsubscribe", links[1])
    assert m, links[1]
    address = m.group(1) + "@bounces.shop.test"
    # The recipient's mail client writes to the address; an auto-reply first, then the request.
    auto = (f"From: {rcpt}\r\nTo: {address}\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n"
            f"Date: {email.utils.formatdate()}\r\nMessage-ID: <{uuid.uuid4().hex}@bx-rx.test>\r\n\r\nAway.\r\n").encode()
    deliver_report(k, address, auto, mail_from=rcpt)
    local, domain = address.rsplit("@", 1)
    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    request = (f"From: {rcpt}\r\nTo: {forged}\r\nSubject: unsubscribe\r\nDate: {email.utils.formatdate()}\r\n"
               f"Message-ID: <{uuid.uuid4().hex}@bx-rx.test>\r\n\r\nunsubscribe\r\n").encode()
    deliver_report(k, forged, request, mail_from=rcpt)
    time.sleep(1.0)
    assert events(k, mid, "unsubscribed") == []
    deliver_report(k, address, request.replace(forged.encode(), address.encode()), mail_from=rcpt)
    wait_until(lambda: events(k, mid, "unsubscribed"), 10, "the unsubscribed event")
    [e] = events(k, mid, "unsubscribed")
    assert e["recipient"] == rcpt and e["method"] == "mailto" and e["requested_by"] == rcpt
    status, s = k.api("GET", f"/v1/suppressions/{rcpt}")
    assert status == 200 and s["reason"] == "unsubscribe"


def test_mailto_unsubscribe_of_a_message_to_several(world, k):
    """The mailto: address names the message, not a recipient: for a message to several, the request
    unsubscribes the recipient who writes, and a request from someone else unsubscribes nobody."""
    _, _, rec = world
    marker = uuid.uuid4().hex
    a, b = f"many-a-{marker[:8]}@bx-rx.test", f"many-b-{marker[:8]}@bx-rx.test"
    status, res = k.api("POST", "/v1/messages", {"from": "news@shop.test", "to": [a, b], "subject": f"News {marker}",
                                                 "text": f"Hello {marker}", "list_unsubscribe": True})
    assert status == 202, res
    mid = res["messages"][0]["id"]
    _, _, content = rec.wait_for(marker)
    msg = email.message_from_bytes(content, policy=email.policy.default)
    address = re.search(r"<mailto:([^?>]+)", msg["List-Unsubscribe"]).group(1)

    def request(sender):
        return (f"From: {sender}\r\nTo: {address}\r\nSubject: unsubscribe\r\nDate: {email.utils.formatdate()}\r\n"
                f"Message-ID: <{uuid.uuid4().hex}@bx-rx.test>\r\n\r\nunsubscribe\r\n").encode()

    deliver_report(k, address, request("stranger@bx-rx.test"), mail_from="stranger@bx-rx.test")
    time.sleep(1.0)
    assert events(k, mid, "unsubscribed") == [], "a request from someone else unsubscribes nobody"
    deliver_report(k, address, request(b), mail_from=b)
    wait_until(lambda: events(k, mid, "unsubscribed"), 10, "the unsubscribed event")
    [e] = events(k, mid, "unsubscribed")
    assert e["recipient"] == b
    assert k.api("GET", f"/v1/suppressions/{b}")[0] == 200 and k.api("GET", f"/v1/suppressions/{a}")[0] == 404
