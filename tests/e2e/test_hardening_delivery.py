"""Hardening (issue 12, item 0), the delivery side: an exception while a message is prepared for
delivery (tracking, DKIM, ARC) costs that message a retry (a `deferred` event with 451 4.3.0 naming the
internal error), never the connection's other messages or the server. Before, the connection's
coroutine ended silently: the messages it held stayed undelivered until a restart, and the
destination kept a connection slot for good.

The fault is injected with KURIER_TEST_THROW (tests only, see delivery_manager.cpp): preparing a
message that contains the token throws where a bug would. Receivers are aiosmtpd behind a local unbound."""

import time
import uuid

import pytest

from conftest import free_port
from dns_peer import Unbound
from receivers import CustomReceiver, Recorder

TOKEN = "kurier-test-fault-5f1c"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    dns = Unbound(str(tmp_path_factory.mktemp("dns")),
                  ["fault.test. 300 IN MX 10 mx.fault.test.", "mx.fault.test. 300 IN A 127.0.0.43"])
    port = free_port()
    rec = Recorder()
    rx = CustomReceiver("127.0.0.43", port, rec)
    yield dns, port, rec
    rx.stop()
    dns.stop()


def send(k, to, text):
    marker = uuid.uuid4().hex
    status, res = k.api("POST", "/v1/messages", {"from": "orders@shop.test", "to": to, "subject": f"Order {marker}",
                                                 "text": f"{text} {marker}"})
    assert status == 202, res
    return marker, res["messages"][0]["id"]


def events_of(k, msg_id, types=("delivered", "deferred", "bounced")):
    return [e for t in types for e in k.events(t) if e.get("message_id") == msg_id]


def test_a_message_whose_preparation_throws_is_deferred_and_the_others_are_delivered(world, kurier_factory,
                                                                                     monkeypatch):
    dns, port, rec = world
    monkeypatch.setenv("KURIER_TEST_THROW", TOKEN)
    # One connection for the destination: a connection lost to the exception would leave none.
    k = kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "delivery.max_connections_per_domain=1",
                       sender_domains=["shop.test"], delivery=True)
    bad_marker, bad_id = send(k, "a@fault.test", f"this one holds {TOKEN}")
    good_marker, good_id = send(k, "b@fault.test", "this one is fine")
    rec.wait_for(good_marker)

    deadline = time.time() + 30
    while not events_of(k, bad_id) and time.time() < deadline:
        time.sleep(0.2)
    evs = events_of(k, bad_id)
    assert [e["type"] for e in evs] == ["deferred"], evs
    reply = evs[0]["data"]["reply"]
    assert reply.startswith("451 4.3.0") and "internal error" in reply and "KURIER_TEST_THROW" in reply, reply
    assert not any(bad_marker.encode() in m[2] for m in rec.received), "the failed message was not sent"
    assert bad_id in k.queue_ids(), "the deferred message stays queued for its retry"

    # The destination still gets connections, and the server runs on.
    later_marker, _ = send(k, "c@fault.test", "and so is this one")
    rec.wait_for(later_marker)
    assert k.running()
    assert "preparing" in k.stderr() and "internal error" in k.stderr()
