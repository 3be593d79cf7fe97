"""Outbound STARTTLS: with the default opportunistic mode kurier encrypts when the receiver offers
STARTTLS and sends in plaintext when it does not (the delivered event's "tls" says which); with
delivery.tls=required a receiver without STARTTLS gets no mail (deferred with 450 4.7.10) while a
receiver with it still gets its mail; with delivery.tls=none kurier does not start TLS at all."""

import ssl
import time
import uuid

import pytest

from conftest import free_port
from dns_peer import Unbound
from receivers import (CustomReceiver, GateRecorder, final_event, self_signed_server_context, submit_via_relay,
                       wait_delivery_events)

ZONE = [
    "tls.test. 300 IN MX 10 mx.tls.test.",
    "mx.tls.test. 300 IN A 127.0.0.31",
    "plain.test. 300 IN MX 10 mx.plain.test.",
    "mx.plain.test. 300 IN A 127.0.0.32",
]


class TlsRecorder(GateRecorder):
    """Accepts everything (the gate is open) and notes whether each message came over TLS."""

    def __init__(self):
        super().__init__()
        self.open()
        self.tls_of = []  # per accepted message: the TLS version, or None for plaintext

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            self.tls_of.append(session.ssl.get("ssl_object").version() if session.ssl else None)
        return reply


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    ctx = self_signed_server_context(tmp_path_factory.mktemp("cert"), "mx.tls.test")
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), ZONE)
    port = free_port()
    handlers = {"tls": TlsRecorder(), "plain": TlsRecorder()}
    receivers = []
    try:
        receivers.append(CustomReceiver("127.0.0.31", port, handlers["tls"], tls_context=ctx,
                                        require_starttls=False))
        receivers.append(CustomReceiver("127.0.0.32", port, handlers["plain"]))
        yield dns, port, handlers
    finally:
        for r in receivers:
            r.stop()
        dns.stop()


def make_sender(world, kurier_factory, *sets):
    dns, port, _ = world
    return kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "queue.retry_initial=60",
                          "delivery.connect_timeout=5", "delivery.command_timeout=10", *sets, delivery=True)


def send(k, domain):
    marker = uuid.uuid4().hex
    rcpt = f"tina-{marker[:8]}@{domain}"
    msg = (f"From: <alice@example.com>\r\nTo: <{rcpt}>\r\nSubject: tls {marker}\r\n"
           f"Message-ID: <{marker}@client.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nsecret {marker}\r\n.\r\n..\r\nend\r\n").encode()
    submit_via_relay(k, "alice@example.com", [rcpt], msg)
    return marker, rcpt, msg


def wait_received(h, marker, timeout=10):
    """The (mail_from, rcpts, content) the receiver accepted with marker, and its TLS version."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with h.lock:
            for i, m in enumerate(h.received):
                if marker.encode() in m[2]:
                    return m, h.tls_of[i]
        time.sleep(0.05)
    raise AssertionError(f"the receiver never got the message {marker}")


def test_opportunistic_uses_starttls_when_offered(world, kurier_factory):
    k = make_sender(world, kurier_factory)
    marker, rcpt, sent = send(k, "tls.test")
    evs = wait_delivery_events(k, rcpt, final_event, timeout=20)
    assert [e["type"] for e in evs] == ["delivered"], evs
    tls = evs[0]["data"]["tls"]
    assert tls.startswith("TLSv1."), f"the delivered event should name the TLS version: {tls!r}"
    (_, rcpts, content), version = wait_received(world[2]["tls"], marker)
    assert version and version.startswith("TLSv1."), "the receiver must have got the message over TLS"
    assert tls.split()[0] == version, (tls, version)
    assert rcpts == [rcpt] and content.endswith(sent)


def test_opportunistic_sends_plaintext_without_starttls(world, kurier_factory):
    k = make_sender(world, kurier_factory)
    marker, rcpt, sent = send(k, "plain.test")
    evs = wait_delivery_events(k, rcpt, final_event, timeout=20)
    assert [e["type"] for e in evs] == ["delivered"], evs
    assert evs[0]["data"]["tls"] == "", evs[0]
    (_, rcpts, content), version = wait_received(world[2]["plain"], marker)
    assert version is None and rcpts == [rcpt] and content.endswith(sent)


def test_required_tls_defers_a_server_without_starttls(world, kurier_factory):
    h = world[2]["plain"]
    k = make_sender(world, kurier_factory, "delivery.tls=required")
    with h.lock:
        mails_before = h.mails
    marker, rcpt, _ = send(k, "plain.test")
    evs = wait_delivery_events(k, rcpt, lambda e: len(e) >= 1, timeout=20)
    assert [e["type"] for e in evs] == ["deferred"], evs
    assert evs[0]["data"]["reply"].startswith("450 4.7.10"), evs[0]
    assert evs[0]["data"]["next_attempt"], evs[0]
    # Not one byte of the transaction went over the plaintext connection.
    with h.lock:
        assert h.mails == mails_before, "kurier must not start a transaction without TLS"
        assert not any(marker.encode() in m[2] for m in h.received)
    entry = [m for m in k.queue_list() if rcpt in m["recipients"]]
    assert entry, "the deferred message must stay queued"
    d = [x for x in entry[0]["delivery"] if x["recipient"] == rcpt][0]
    assert d["status"] == "deferred" and d["attempts"] == 1 and d["last_reply"].startswith("450 4.7.10"), d


def test_required_tls_delivers_to_a_server_with_starttls(world, kurier_factory):
    k = make_sender(world, kurier_factory, "delivery.tls=required")
    marker, rcpt, sent = send(k, "tls.test")
    evs = wait_delivery_events(k, rcpt, final_event, timeout=20)
    assert [e["type"] for e in evs] == ["delivered"], evs
    assert evs[0]["data"]["tls"].startswith("TLSv1."), evs[0]
    (_, _, content), version = wait_received(world[2]["tls"], marker)
    assert version and content.endswith(sent)


def test_tls_none_never_starts_tls(world, kurier_factory):
    k = make_sender(world, kurier_factory, "delivery.tls=none")
    marker, rcpt, sent = send(k, "tls.test")
    evs = wait_delivery_events(k, rcpt, final_event, timeout=20)
    assert [e["type"] for e in evs] == ["delivered"], evs
    assert evs[0]["data"]["tls"] == "", evs[0]
    (_, _, content), version = wait_received(world[2]["tls"], marker)
    assert version is None and content.endswith(sent)
