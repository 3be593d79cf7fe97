"""Outbound delivery end to end: kurier resolves MX through a local unbound and delivers to aiosmtpd
receivers on 127.0.0.x; what they receive is compared byte for byte with what was submitted, and the
events say delivered, deferred or bounced with the remote reply."""

import smtplib
import time
import uuid

import pytest

from conftest import HOST, free_port
from dns_peer import Unbound
from receivers import Receiver, Recorder

ZONE = [
    "dest.test. 300 IN MX 10 mx.dest.test.",
    "mx.dest.test. 300 IN A 127.0.0.2",
    "backup.test. 300 IN MX 10 down.backup.test.",
    "backup.test. 300 IN MX 20 up.backup.test.",
    "down.backup.test. 300 IN A 127.0.0.3",
    "up.backup.test. 300 IN A 127.0.0.4",
    "retry.test. 300 IN MX 10 mx.retry.test.",
    "mx.retry.test. 300 IN A 127.0.0.5",
    "picky.test. 300 IN MX 10 mx.picky.test.",
    "mx.picky.test. 300 IN A 127.0.0.6",
    "nullmx.test. 300 IN MX 0 .",
    "sender.test. 300 IN MX 10 mx.sender.test.",
    "mx.sender.test. 300 IN A 127.0.0.8",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), ZONE)
    port = free_port()
    handlers = {
        "dest": Recorder(),
        "backup": Recorder(),
        "retry": Recorder(),  # each test that wants a deferral queues its reply
        "picky": Recorder(rcpt_replies={"nobody@picky.test": "550 5.1.1 no such user here"}),
        "sender": Recorder(),
    }
    receivers = [Receiver("127.0.0.2", port, handlers["dest"]), Receiver("127.0.0.4", port, handlers["backup"]),
                 Receiver("127.0.0.5", port, handlers["retry"]), Receiver("127.0.0.6", port, handlers["picky"]),
                 Receiver("127.0.0.8", port, handlers["sender"])]
    yield dns, port, handlers
    for r in receivers:
        r.stop()
    dns.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def sender(request, world, kurier_factory, tmp_path):
    """A delivering kurier on each storage backend: the embedded SQLite files, or store and spool in a
    real PostgreSQL database (issue 16), so every delivery behaviour below holds on both."""
    dns, port, _ = world
    sets = [f"dns.forward={dns.forward}", f"delivery.port={port}", "queue.retry_initial=1", "delivery.connect_timeout=5"]
    if request.param == "postgresql":
        pg = request.getfixturevalue("postgres")
        pw = tmp_path / "pgpass"
        pw.write_text(pg.PASSWORD + "\n")
        sets += [f"store.url={pg.url(pg.createdb('delivery_' + uuid.uuid4().hex[:12]))}", f"store.password_file={pw}"]
    return kurier_factory(*sets, delivery=True)


def submit(k, rcpts, body_marker, extra="", mail_from="alice@example.com"):
    msg = (f"From: <alice@example.com>\r\nTo: <{rcpts[0]}>\r\nSubject: delivery {body_marker}\r\n"
           f"Message-ID: <{body_marker}@client.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n"
           f"line one {body_marker}\r\n.starts with a dot\r\n{extra}last line\r\n").encode()
    with smtplib.SMTP(HOST, k.relay_port, timeout=10) as s:
        s.ehlo("client.test")
        s.sendmail(mail_from, rcpts, msg)
    return msg


def events_for(k, marker_rcpt, types=("delivered", "deferred", "bounced"), want=1, timeout=30):
    deadline = time.time() + timeout
    while True:
        evs = [e for t in types for e in k.events(t) if e["data"].get("recipient") == marker_rcpt]
        if len(evs) >= want or time.time() > deadline:
            return sorted(evs, key=lambda e: e["id"])  # ids grow in the order events were recorded
        time.sleep(0.1)


def test_delivered_byte_exact_with_delivered_event(world, sender):
    _, _, h = world
    marker = uuid.uuid4().hex
    rcpt = f"bob-{marker[:8]}@dest.test"
    sent = submit(sender, [rcpt], marker)
    mail_from, rcpts, content = h["dest"].wait_for(marker)
    assert mail_from == "alice@example.com" and rcpts == [rcpt]
    assert content.startswith(b"Received: "), content[:200]
    assert content.endswith(sent), "headers and body must arrive exactly as submitted"
    evs = events_for(sender, rcpt)
    assert [e["type"] for e in evs] == ["delivered"], evs
    assert evs[0]["data"]["reply"].startswith("250 2.0.0"), evs[0]
    assert "127.0.0.2" in evs[0]["data"]["mx"]
    deadline = time.time() + 10
    while any(m for m in sender.queue_list() if rcpt in m["recipients"]):
        assert time.time() < deadline, "a delivered message must leave the queue"
        time.sleep(0.1)


def test_unreachable_primary_mx_falls_back_to_the_next(world, sender):
    _, _, h = world
    marker = uuid.uuid4().hex
    rcpt = f"carol-{marker[:8]}@backup.test"
    submit(sender, [rcpt], marker)
    h["backup"].wait_for(marker)
    evs = events_for(sender, rcpt)
    assert evs[-1]["type"] == "delivered" and "127.0.0.4" in evs[-1]["data"]["mx"], evs


def test_tempfail_is_deferred_then_retried(world, sender):
    _, _, h = world
    marker = uuid.uuid4().hex
    rcpt = f"dave-{marker[:8]}@retry.test"
    with h["retry"].lock:
        h["retry"].data_replies.append("451 4.3.0 greylisted, try again later")
    submit(sender, [rcpt], marker)
    evs = events_for(sender, rcpt, want=2, timeout=40)
    assert [e["type"] for e in evs] == ["deferred", "delivered"], evs
    assert evs[0]["data"]["reply"] == "451 4.3.0 greylisted, try again later"
    assert evs[0]["data"]["next_attempt"]
    assert any(marker.encode() in m[2] for m in h["retry"].received)


def test_one_rejected_recipient_bounces_the_others_are_delivered(world, sender):
    _, _, h = world
    marker = uuid.uuid4().hex
    good = f"erin-{marker[:8]}@picky.test"
    submit(sender, [good, "nobody@picky.test"], marker)
    got = events_for(sender, good)
    assert [e["type"] for e in got] == ["delivered"], got
    bad = [e for e in events_for(sender, "nobody@picky.test", types=("bounced",))
           if e["message_id"] == got[0]["message_id"]]
    assert bad and bad[0]["data"]["reply"] == "550 5.1.1 no such user here", bad
    assert bad[0]["data"]["classification"] == "hard" and bad[0]["data"]["reason"] == "userunknown", bad
    delivered = [m for m in h["picky"].received if marker.encode() in m[2]]
    assert delivered and delivered[0][1] == [good]


def test_null_mx_bounces_at_once(world, sender):
    marker = uuid.uuid4().hex
    rcpt = f"frank-{marker[:8]}@nullmx.test"
    submit(sender, [rcpt], marker)
    evs = events_for(sender, rcpt)
    assert [e["type"] for e in evs] == ["bounced"], evs
    assert evs[0]["data"]["reply"].startswith("556 5.1.10"), evs[0]


def test_permanent_failure_returns_a_dsn_to_the_sender(world, sender):
    import email
    import email.policy
    _, _, h = world
    marker = uuid.uuid4().hex
    submit(sender, ["nobody@picky.test"], marker, mail_from=f"alice-{marker[:8]}@sender.test")
    deadline = time.time() + 30
    dsn = None
    while dsn is None:
        for mail_from, rcpts, content in list(h["sender"].received):
            if rcpts == [f"alice-{marker[:8]}@sender.test"]:
                dsn = (mail_from, content)
        assert dsn or time.time() < deadline, "no DSN reached the sender's mail server"
        time.sleep(0.1)
    mail_from, content = dsn
    assert mail_from == "<>", "a DSN uses the null reverse-path (RFC 5321 4.5.5); aiosmtpd shows it as <>"
    msg = email.message_from_bytes(content, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status", "text/rfc822-headers"]
    status = parts[1].as_string()
    assert "Final-Recipient: rfc822; nobody@picky.test" in status
    assert "Action: failed" in status and "Status: 5.1.1" in status
    assert "Diagnostic-Code: smtp; 550 5.1.1 no such user here" in status
    assert f"Subject: delivery {marker}" in parts[2].as_string()
    assert marker.encode() in content, "the original headers come back"
    assert f"line one {marker}".encode() not in content, "the original body does not"


def test_no_dsn_for_the_null_sender_or_when_the_account_declines(world, sender):
    _, _, h = world
    # Earlier hard bounces suppressed the address; lift that so both messages are attempted.
    sender.api("DELETE", "/v1/suppressions/nobody@picky.test")
    before = len(events_for(sender, "nobody@picky.test", types=("bounced",), want=0))
    marker = uuid.uuid4().hex
    submit(sender, ["nobody@picky.test"], marker, mail_from="")
    events_for(sender, "nobody@picky.test", types=("bounced",), want=before + 1)
    sender.api("DELETE", "/v1/suppressions/nobody@picky.test")
    sender.cli("account", "set", "default", "--dsn", "off")
    marker2 = uuid.uuid4().hex
    submit(sender, ["nobody@picky.test"], marker2, mail_from=f"zed-{marker2[:8]}@sender.test")
    bounced = events_for(sender, "nobody@picky.test", types=("bounced",), want=before + 2)
    assert len(bounced) >= before + 2, bounced
    time.sleep(1.5)  # a DSN would be queued in the same commit as the bounce; give delivery time
    assert sender.events("dsn") == []
    assert not any(f"zed-{marker2[:8]}@sender.test" in r for _, rs, _ in h["sender"].received for r in rs)
