"""Operator actions on a running server through the control socket: `kurier queue retry ID` tries a
deferred message now, `queue delete ID` drops it, `queue suspend DOMAIN` holds a destination until
`queue resume DOMAIN`."""

import time
import uuid

import pytest

from conftest import free_port
from dns_peer import Unbound
from receivers import Receiver, Recorder
from test_delivery import events_for, submit

ZONE = [
    "later.test. 300 IN MX 10 mx.later.test.",
    "mx.later.test. 300 IN A 127.0.0.15",
    "held.test. 300 IN MX 10 mx.held.test.",
    "mx.held.test. 300 IN A 127.0.0.16",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), ZONE)
    port = free_port()
    later = Recorder(data_replies=["451 4.3.0 not now"] * 2)
    held = Recorder()
    rx = [Receiver("127.0.0.15", port, later), Receiver("127.0.0.16", port, held)]
    yield dns, port, later, held
    for r in rx:
        r.stop()
    dns.stop()


@pytest.fixture
def k(world, kurier_factory):
    dns, port, _, _ = world
    # A long first retry interval: only `queue retry` makes the second attempt happen within the test.
    return kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "queue.retry_initial=3600",
                          delivery=True)


def queued(k, rcpt):
    return [m for m in k.queue_list() if rcpt in m["recipients"]]


def test_retry_tries_a_deferred_message_now(world, k):
    _, _, later, _ = world
    marker = uuid.uuid4().hex
    rcpt = f"r-{marker[:8]}@later.test"
    submit(k, [rcpt], marker)
    evs = events_for(k, rcpt)
    assert [e["type"] for e in evs] == ["deferred"], evs
    msg_id = evs[0]["message_id"]
    state = queued(k, rcpt)[0]["delivery"][0]
    assert state["status"] == "deferred" and state["attempts"] == 1 and state["last_reply"] == "451 4.3.0 not now"
    out = k.cli("queue", "retry", msg_id).stdout
    assert "will be tried now" in out, out
    evs = events_for(k, rcpt, want=2)
    assert [e["type"] for e in evs][:2] == ["deferred", "deferred"], evs  # the receiver refuses twice
    k.cli("queue", "retry", msg_id)
    evs = events_for(k, rcpt, want=3)
    assert [e["type"] for e in evs] == ["deferred", "deferred", "delivered"], evs


def test_delete_drops_a_deferred_message(world, k):
    marker = uuid.uuid4().hex
    rcpt = f"d-{marker[:8]}@later.test"
    world[2].data_replies.extend(["451 4.3.0 not now"] * 5)
    submit(k, [rcpt], marker)
    evs = events_for(k, rcpt)
    msg_id = evs[0]["message_id"]
    out = k.cli("queue", "delete", msg_id).stdout
    assert "deleted" in out, out
    deadline = time.time() + 10
    while queued(k, rcpt):
        assert time.time() < deadline, "a deleted message must leave the queue"
        time.sleep(0.1)
    assert [e["message_id"] for e in k.events("deleted")] == [msg_id]
    bad = k.cli("queue", "retry", msg_id, check=False)
    assert bad.returncode == 1


def test_suspend_holds_a_domain_until_resumed(world, k):
    _, _, _, held = world
    assert "suspended" in k.cli("queue", "suspend", "held.test").stdout
    marker = uuid.uuid4().hex
    rcpt = f"s-{marker[:8]}@held.test"
    submit(k, [rcpt], marker)
    time.sleep(2)
    assert not any(marker.encode() in m[2] for m in held.received), "a suspended domain gets nothing"
    assert queued(k, rcpt), "its mail waits in the queue"
    assert "resumed" in k.cli("queue", "resume", "held.test").stdout
    evs = events_for(k, rcpt)
    assert [e["type"] for e in evs] == ["delivered"], evs
    assert any(marker.encode() in m[2] for m in held.received)
    assert [e["type"] for e in k.events() if e["type"] in ("suspended", "resumed")] == ["suspended", "resumed"]
