"""Outbound delivery when the receiving server hangs up in the middle of DATA: the recipient is
deferred with a reply that says the connection was lost (never delivered, never bounced), the retry
delivers it, and the receiver ends up with the message exactly once."""

import uuid

import pytest

from conftest import free_port
from dns_peer import Unbound
from receivers import (CustomReceiver, DropDuringData, DroppingRecorder, final_event, submit_via_relay,
                       wait_delivery_events, wait_until)

# name: (address, bytes of the message read before hanging up, how, body size)
CASES = {
    "fin-small": ("127.0.0.11", 64, "fin", 2_000),        # orderly close after the whole message was sent
    "rst-small": ("127.0.0.12", 64, "rst", 2_000),        # TCP reset while kurier waits for the reply
    "rst-large": ("127.0.0.13", 64_000, "rst", 3_000_000),  # TCP reset while kurier is still writing
    "fin-large": ("127.0.0.14", 64_000, "fin", 3_000_000),  # orderly close while kurier is still writing
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    zone = []
    for name, (addr, *_rest) in CASES.items():
        zone += [f"{name}.test. 300 IN MX 10 mx.{name}.test.", f"mx.{name}.test. 300 IN A {addr}"]
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), zone)
    port = free_port()
    handlers, receivers = {}, []
    try:
        for name, (addr, nbytes, how, _size) in CASES.items():
            handlers[name] = DroppingRecorder([(nbytes, how)])
            receivers.append(CustomReceiver(addr, port, handlers[name], smtp_class=DropDuringData))
        yield dns, port, handlers
    finally:
        for r in receivers:
            r.stop()
        dns.stop()


def make_message(marker, rcpt, size):
    line = f"{marker} " + "0123456789abcdefghijklmnopqrstuvwxyz" * 2 + "\r\n"
    body = "first line\r\n.a line starting with a dot\r\n" + line * max(1, size // len(line)) + "last line\r\n"
    return (f"From: <alice@example.com>\r\nTo: <{rcpt}>\r\nSubject: drop {marker}\r\n"
            f"Message-ID: <{marker}@client.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n"
            + body).encode()


@pytest.mark.parametrize("case", list(CASES))
def test_hang_up_during_data_defers_then_delivers_once(world, kurier_factory, case):
    dns, port, handlers = world
    addr, nbytes, how, size = CASES[case]
    h = handlers[case]
    k = kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "queue.retry_initial=1",
                       "queue.retry_max=2", "delivery.connect_timeout=5", "delivery.command_timeout=10",
                       "delivery.data_timeout=10", delivery=True)
    marker = uuid.uuid4().hex
    rcpt = f"bob-{marker[:8]}@{case}.test"
    sent = make_message(marker, rcpt, size)
    submit_via_relay(k, "alice@example.com", [rcpt], sent)

    evs = wait_delivery_events(k, rcpt, final_event, timeout=30)
    types = [e["type"] for e in evs]
    assert types == ["deferred", "delivered"], evs

    # The receiver really hung up in the middle of the message: it read part of it, not the end.
    assert len(h.dropped) == 1, f"the receiver should have hung up once, did {len(h.dropped)} times"
    assert len(h.dropped[0]) == nbytes and b"\r\n.\r\n" not in h.dropped[0]
    assert h.dropped[0].startswith(b"Received: ")

    deferred, delivered = evs
    reply = deferred["data"]["reply"]
    assert reply.startswith("451 4.4.2 "), deferred
    assert "connection" in reply.lower(), f"the deferral should say the connection was lost: {reply!r}"
    assert deferred["data"]["attempt"] == 1 and deferred["data"]["next_attempt"], deferred
    assert addr in deferred["data"]["mx"], deferred
    assert delivered["data"]["attempt"] == 2, delivered
    assert delivered["data"]["reply"].startswith("250 2.0.0"), delivered
    assert addr in delivered["data"]["mx"], delivered

    # Exactly once, intact.
    got = h.wait(1, timeout=10)
    assert len(got) == 1, f"the receiver accepted {len(got)} copies"
    mail_from, rcpts, content = got[0]
    assert mail_from == "alice@example.com" and rcpts == [rcpt]
    assert content.startswith(b"Received: ") and content.endswith(sent), "the message must arrive intact"

    wait_until(lambda: not any(rcpt in m["recipients"] for m in k.queue_list()), 10,
               "the delivered message to leave the queue")
