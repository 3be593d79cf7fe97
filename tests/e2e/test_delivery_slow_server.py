"""Outbound delivery to slow receiving servers: an answer to the end of data that takes longer than
delivery.data_timeout defers the recipient with a timeout reply (and kurier hangs up instead of
waiting), the retry delivers; an answer that is slow but within the timeout is simply delivered."""

import time
import uuid

import pytest

from conftest import free_port
from dns_peer import Unbound
from receivers import (CustomReceiver, SlowRecorder, final_event, submit_via_relay, wait_delivery_events,
                       wait_until)

DATA_TIMEOUT = 2
ZONE = [
    "tooslow.test. 300 IN MX 10 mx.tooslow.test.",
    "mx.tooslow.test. 300 IN A 127.0.0.21",
    "slowish.test. 300 IN MX 10 mx.slowish.test.",
    "mx.slowish.test. 300 IN A 127.0.0.22",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), ZONE)
    port = free_port()
    handlers = {"tooslow": SlowRecorder([2 * DATA_TIMEOUT]), "slowish": SlowRecorder([DATA_TIMEOUT / 2])}
    receivers = []
    try:
        receivers.append(CustomReceiver("127.0.0.21", port, handlers["tooslow"]))
        receivers.append(CustomReceiver("127.0.0.22", port, handlers["slowish"]))
        yield dns, port, handlers
    finally:
        for r in receivers:
            r.stop()
        dns.stop()


@pytest.fixture
def sender(world, kurier_factory):
    dns, port, _ = world
    # command_timeout is far longer than the receivers' delays: only data_timeout can cut them short.
    return kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "queue.retry_initial=1",
                          "queue.retry_max=2", "delivery.connect_timeout=5", "delivery.command_timeout=30",
                          f"delivery.data_timeout={DATA_TIMEOUT}", delivery=True)


def message(marker, rcpt):
    return (f"From: <alice@example.com>\r\nTo: <{rcpt}>\r\nSubject: slow {marker}\r\n"
            f"Message-ID: <{marker}@client.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n"
            f"body {marker}\r\n..two dots\r\nlast line\r\n").encode()


def test_reply_slower_than_data_timeout_is_deferred_then_delivered(world, sender):
    _, _, handlers = world
    h = handlers["tooslow"]
    marker = uuid.uuid4().hex
    rcpt = f"slow-{marker[:8]}@tooslow.test"
    sent = message(marker, rcpt)
    submit_via_relay(sender, "alice@example.com", [rcpt], sent)

    # Kurier must give up after data_timeout, not wait for the late answer: the receiver sees the
    # connection go away while it is still sleeping.
    t0 = time.monotonic()
    evs = wait_delivery_events(sender, rcpt, lambda e: len(e) >= 1, timeout=2 * DATA_TIMEOUT + 10)
    assert evs[0]["type"] == "deferred", evs
    reply = evs[0]["data"]["reply"]
    assert reply.startswith("451 4.4.2 ") and "timeout" in reply.lower(), evs[0]
    assert evs[0]["data"]["attempt"] == 1 and evs[0]["data"]["next_attempt"], evs[0]
    assert "127.0.0.21" in evs[0]["data"]["mx"], evs[0]
    wait_until(lambda: h.abandoned >= 1, 2 * DATA_TIMEOUT,
               "kurier to close the connection while the receiver was still sleeping")
    assert time.monotonic() - t0 < 2 * DATA_TIMEOUT, "the abandoned answer must not have been waited for"

    evs = wait_delivery_events(sender, rcpt, final_event, timeout=20)
    assert [e["type"] for e in evs] == ["deferred", "delivered"], evs
    assert evs[1]["data"]["attempt"] == 2 and evs[1]["data"]["reply"].startswith("250 2.0.0"), evs[1]

    got = [m for m in h.wait(1, timeout=10) if marker.encode() in m[2]]
    assert len(got) == 1, f"the receiver recorded {len(got)} copies"
    assert got[0][1] == [rcpt] and got[0][2].endswith(sent)
    assert h.abandoned == 1 and h.reply_delays == [0]
    wait_until(lambda: not any(rcpt in m["recipients"] for m in sender.queue_list()), 10,
               "the delivered message to leave the queue")


def test_reply_slow_but_within_data_timeout_is_delivered_at_once(world, sender):
    _, _, handlers = world
    h = handlers["slowish"]
    marker = uuid.uuid4().hex
    rcpt = f"patient-{marker[:8]}@slowish.test"
    sent = message(marker, rcpt)
    submit_via_relay(sender, "alice@example.com", [rcpt], sent)

    evs = wait_delivery_events(sender, rcpt, final_event, timeout=20)
    assert [e["type"] for e in evs] == ["delivered"], evs
    assert evs[0]["data"]["attempt"] == 1 and evs[0]["data"]["reply"].startswith("250 2.0.0"), evs[0]
    got = h.wait(1, timeout=10)
    assert len(got) == 1 and got[0][2].endswith(sent)
    assert h.abandoned == 0 and h.reply_delays == [DATA_TIMEOUT / 2], "the one answer was the slow one"
