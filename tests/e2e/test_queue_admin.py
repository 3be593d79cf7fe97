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
    # The event log is written through the server's event journal, imported a few milliseconds after the
    # spool's commit: a reader in another process may see the queue empty a moment before the event.
    while not k.events("deleted"):
        assert time.time() < deadline, "a deleted message leaves a 'deleted' event"
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


def test_cli_and_api_name_states_alike(world, k):
    """A deferred recipient, a scheduled message and a half-delivered one: `queue list --json` and
    GET /v1/messages say the same of each (before, the CLI said "queued" for all three)."""
    _, _, later, _ = world
    later.data_replies.extend(["451 4.3.0 not now"] * 3)
    marker = uuid.uuid4().hex[:8]
    send_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    bodies = {"deferred": {"to": f"d-{marker}@later.test"},
              "mixed": {"to": [f"m-{marker}@later.test", f"m-{marker}@held.test"]},
              "scheduled": {"to": f"s-{marker}@held.test", "send_at": send_at}}
    ids = {}
    for name, body in bodies.items():
        status, res = k.api("POST", "/v1/messages", {"from": "alice@example.com", "subject": name, "text": "x", **body})
        assert status == 202, res
        ids[name] = res["messages"][0]["id"]
    for rcpt in (f"d-{marker}@later.test", f"m-{marker}@later.test", f"m-{marker}@held.test"):
        events_for(k, rcpt)

    def states():
        cli = {m["id"]: m for m in k.queue_list()}
        api = {mid: k.api("GET", f"/v1/messages/{mid}")[1] for mid in ids.values()}
        return cli, api
    deadline = time.time() + 10
    cli, api = states()
    while any(cli.get(mid, {}).get("status") != name for name, mid in ids.items()) and time.time() < deadline:
        time.sleep(0.2)
        cli, api = states()
    for name, mid in ids.items():
        assert cli[mid]["status"] == api[mid]["status"] == name, (name, cli[mid], api[mid])
        assert ({d["recipient"]: d["status"] for d in cli[mid]["delivery"]}
                == {r["address"]: r["status"] for r in api[mid]["recipients"]}), (name, cli[mid], api[mid])
    assert {d["status"] for d in cli[ids["mixed"]]["delivery"]} == {"deferred", "delivered"}
    assert cli[ids["scheduled"]]["send_at"] == api[ids["scheduled"]]["send_at"] == send_at
    # the same filter both ways
    for name, mid in ids.items():
        listed = [m["id"] for m in k.cli_json("queue", "list", "--status", name, "--json")]
        status, page = k.api("GET", f"/v1/messages?status={name}")
        assert status == 200 and listed == [m["id"] for m in page["data"]] == [mid], (name, listed, page)
    assert k.cli("queue", "list", "--count", "--status", "deferred").stdout == "1\n"
    shown = k.cli("queue", "show", ids["deferred"]).stdout
    assert "status:      deferred" in shown and f"<d-{marker}@later.test> deferred (1 attempt(s)" in shown, shown
    table = k.cli("queue", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "RECEIVED", "STATUS", "SIZE", "FROM", "->", "RECIPIENTS"], table
    assert any(ids["scheduled"] in line and " scheduled " in line for line in table), table


def test_status_shows_listeners_queue_deliveries_and_last_errors(world, k):
    """`kurier status`: the running server's listeners, the queue by state with its oldest age, what was
    delivered in the last minute and hour, and the last deferral with its reply."""
    _, _, later, _ = world
    later.data_replies.extend(["451 4.3.0 not now"])
    marker = uuid.uuid4().hex[:8]
    submit(k, [f"st-{marker}@later.test"], marker)
    submit(k, [f"st-{marker}@held.test"], marker)
    events_for(k, f"st-{marker}@later.test")
    events_for(k, f"st-{marker}@held.test")
    st = k.cli_json("status", "--json")
    assert st["running"] and st["server"]["delivery"] is True, st
    listeners = {l["name"]: l["address"] for l in st["server"]["listeners"]}
    assert listeners["submission"] == f"127.0.0.1:{k.submission_port}" and listeners["api"] == f"127.0.0.1:{k.api_port}"
    assert st["queue"]["deferred"] == 1 and st["queue"]["total"] == 1 and st["queue"]["oldest_age_seconds"] >= 0, st
    assert st["last_minute"]["delivered"] == 1 and st["last_hour"]["delivered"] == 1, st
    assert st["last_hour"]["deferred"] == 1 and st["last_hour"]["accepted"] == 2, st
    [err] = st["last_errors"]
    assert err["type"] == "deferred" and err["recipient"] == f"st-{marker}@later.test" and err["reply"] == "451 4.3.0 not now"
    text = k.cli("status").stdout
    for want in ("kurier is running", f"submission    127.0.0.1:{k.submission_port}", "deferred      1",
                 "total         1 (oldest", "LAST ERRORS", "451 4.3.0 not now"):
        assert want in text, text
    k.stop()
    text = k.cli("status").stdout
    assert "kurier is not running" in text and "kurier serve --config" in text and "deferred      1" in text, text
