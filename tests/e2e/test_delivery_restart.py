"""Deferred mail survives kill -9: messages that a receiver keeps tempfailing stay queued with their
retry state while kurier is killed and restarted; once the receiver accepts, every one of them
arrives (a duplicate would be tolerated, a loss not) and the queue empties. Also: a transaction cut
by kill -9 while the receiver had not answered the end of data yet is delivered after the restart."""

import uuid

import pytest

from conftest import free_port
from dns_peer import Unbound
from receivers import (CustomReceiver, GateRecorder, SlowRecorder, delivery_events, final_event,
                       submit_via_relay, wait_delivery_events, wait_until)

MESSAGES = 4
ZONE = [
    "gate.test. 300 IN MX 10 mx.gate.test.",
    "mx.gate.test. 300 IN A 127.0.0.41",
    "hold.test. 300 IN MX 10 mx.hold.test.",
    "mx.hold.test. 300 IN A 127.0.0.42",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), ZONE)
    port = free_port()
    handlers = {"gate": GateRecorder(), "hold": SlowRecorder([60])}
    receivers = []
    try:
        receivers.append(CustomReceiver("127.0.0.41", port, handlers["gate"]))
        receivers.append(CustomReceiver("127.0.0.42", port, handlers["hold"]))
        yield dns, port, handlers
    finally:
        for r in receivers:
            r.stop()
        dns.stop()


@pytest.fixture
def sender(world, kurier_factory):
    dns, port, _ = world
    return kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "queue.retry_initial=1",
                          "queue.retry_max=2", "delivery.connect_timeout=5", "delivery.command_timeout=10",
                          "delivery.data_timeout=90", delivery=True)


def message(marker, rcpt):
    return (f"From: <alice@example.com>\r\nTo: <{rcpt}>\r\nSubject: restart {marker}\r\n"
            f"Message-ID: <{marker}@client.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n"
            f"body {marker}\r\n.\r\nend\r\n").encode()


def copies(h, marker):
    with h.lock:
        return [m for m in h.received if marker.encode() in m[2]]


def test_deferred_messages_survive_kill_9_and_are_delivered_after_restart(world, sender):
    h = world[2]["gate"]
    sent = {}
    for _ in range(MESSAGES):
        marker = uuid.uuid4().hex
        rcpt = f"r-{marker[:10]}@gate.test"
        sent[rcpt] = (marker, message(marker, rcpt))
        submit_via_relay(sender, "alice@example.com", [rcpt], sent[rcpt][1])

    # Every message tempfailed at least twice: the retries are running when kurier dies.
    for rcpt in sent:
        evs = wait_delivery_events(sender, rcpt, lambda e: len(e) >= 2, timeout=20)
        assert all(e["type"] == "deferred" for e in evs), evs
        assert all(e["data"]["reply"] == h.refusal for e in evs), evs
    before = {d["recipient"]: d for m in sender.queue_list() for d in m["delivery"] if d["recipient"] in sent}
    assert set(before) == set(sent), f"every deferred recipient must be queued: {before}"
    for d in before.values():
        assert d["status"] == "deferred" and d["attempts"] >= 2 and d["last_reply"] == h.refusal, d

    sender.kill9()
    assert not sender.running()
    h.open()
    sender.start()

    for rcpt, (marker, msg) in sent.items():
        got = wait_until(lambda: copies(h, marker), 30, f"the message to {rcpt} after the restart")
        for _, rcpts, content in got:
            assert rcpts == [rcpt] and content.endswith(msg)
    wait_until(lambda: not any(set(m["recipients"]) & set(sent) for m in sender.queue_list()), 20,
               "the queue to empty")
    for rcpt in sent:
        evs = wait_delivery_events(sender, rcpt, final_event, timeout=10)
        assert evs[-1]["type"] == "delivered", evs
        assert not [e for e in evs if e["type"] == "bounced"], evs
        # The attempt count went on from the spool; it did not start again at 1.
        assert evs[-1]["data"]["attempt"] > before[rcpt]["attempts"], (before[rcpt], evs)
    assert "rebuilt from the spool" in sender.stderr()


def test_transaction_cut_by_kill_9_before_the_reply_is_delivered_after_restart(world, sender):
    h = world[2]["hold"]
    marker = uuid.uuid4().hex
    rcpt = f"held-{marker[:8]}@hold.test"
    msg = message(marker, rcpt)
    submit_via_relay(sender, "alice@example.com", [rcpt], msg)

    # The receiver has the whole message and sits on its answer to the end of data.
    wait_until(lambda: not h.delays, 20, "the receiver to get the end of data")
    assert delivery_events(sender, rcpt) == [], "no outcome can be known before the reply"
    sender.kill9()
    wait_until(lambda: h.abandoned == 1, 10, "the receiver to see the connection go")
    assert not copies(h, marker)

    sender.start()
    got = wait_until(lambda: copies(h, marker), 30, "the message after the restart")
    assert len(got) == 1 and got[0][2].endswith(msg)
    evs = wait_delivery_events(sender, rcpt, final_event, timeout=10)
    assert [e["type"] for e in evs] == ["delivered"], evs
    wait_until(lambda: not any(rcpt in m["recipients"] for m in sender.queue_list()), 10,
               "the queue to empty")
