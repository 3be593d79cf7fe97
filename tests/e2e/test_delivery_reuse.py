"""Connection reuse for a steady trickle: after its last queued message a delivery connection stays
open for delivery.connection_idle_ms (like Postfix's smtp_connection_cache_time_limit), so the next
message to the same destination goes over it; after the idle time it says QUIT. A server that closes
an idle connection first (its own command timeout, 421) costs nothing: the next message takes a new
connection and is delivered, not deferred. Receivers are aiosmtpd behind a local unbound."""

import time
import uuid

import pytest

from conftest import free_port
from dns_peer import Unbound
from receivers import CustomReceiver, Recorder, wait_until


class PeerRecorder(Recorder):
    """Records the client's (address, port) of each accepted message: one port, one connection."""

    def __init__(self):
        super().__init__()
        self.peers = {}

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            self.peers[envelope.original_content] = session.peer
        return reply

    def peer_of(self, marker):
        _, _, content = self.wait_for(marker)
        with self.lock:
            return self.peers[content]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), [
        "reuse.test. 300 IN MX 10 mx.reuse.test.", "mx.reuse.test. 300 IN A 127.0.0.37",
        "hasty.test. 300 IN MX 10 mx.hasty.test.", "mx.hasty.test. 300 IN A 127.0.0.38"])
    port = free_port()
    patient, hasty = PeerRecorder(), PeerRecorder()
    # The hasty server drops a client that says nothing for half a second (421, then close).
    rx = [CustomReceiver("127.0.0.37", port, patient), CustomReceiver("127.0.0.38", port, hasty, timeout=0.5)]
    yield dns, port, patient, hasty
    for r in rx:
        r.stop()
    dns.stop()


@pytest.fixture
def k(world, kurier_factory):
    dns, port, _, _ = world
    return kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "delivery.connection_idle_ms=1500",
                          sender_domains=["shop.test"], delivery=True)


def send(k, to):
    marker = uuid.uuid4().hex
    status, res = k.api("POST", "/v1/messages", {"from": "orders@shop.test", "to": to, "subject": f"Order {marker}",
                                                 "text": f"Thanks {marker}"})
    assert status == 202, res
    return marker, res["messages"][0]["id"]


def test_a_trickle_shares_one_connection_until_it_idles_out(world, k):
    _, _, patient, _ = world
    first, _ = send(k, "a@reuse.test")
    p1 = patient.peer_of(first)
    time.sleep(0.4)
    second, _ = send(k, "b@reuse.test")
    assert patient.peer_of(second) == p1, "the second message reuses the idle connection"
    time.sleep(2.5)  # longer than delivery.connection_idle_ms: that connection said QUIT
    third, _ = send(k, "c@reuse.test")
    assert patient.peer_of(third) != p1, "after the idle time a new connection is made"


def test_a_server_that_closes_idle_connections_costs_no_deferral(world, k):
    _, _, _, hasty = world
    first, _ = send(k, "a@hasty.test")
    p1 = hasty.peer_of(first)
    time.sleep(1.0)  # the server has closed the idle connection by now (after 0.5 s), kurier's is still waiting
    second, mid = send(k, "b@hasty.test")
    assert hasty.peer_of(second) != p1
    evs = wait_until(lambda: [e for e in k.events() if e.get("message_id") == mid and e["type"] != "accepted"], 10,
                     "the second message's delivery events")
    assert [e["type"] for e in evs] == ["delivered"], evs
