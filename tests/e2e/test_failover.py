"""Fail-over to backup relays: when a domain's MX hosts cannot be reached, mail goes through the first
backup relay that works (STARTTLS + AUTH here), a `failover` event records the switch, an MX that
answers 5xx never triggers fail-over, `delivery.direct = false` sends everything through the relays,
and `kurier failover test` reports each relay's health with the reason."""

import base64
import json
import time
import uuid

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import HOST, KURIER_BIN, free_port, run
from dns_peer import Unbound
from receivers import Receiver, Recorder, self_signed_server_context
from test_delivery import events_for, submit

ZONE = [
    "down.test. 300 IN MX 10 mx.down.test.",
    "mx.down.test. 300 IN A 127.0.0.9",       # nothing listens there
    "strict.test. 300 IN MX 10 mx.strict.test.",
    "mx.strict.test. 300 IN A 127.0.0.13",
    "ok.test. 300 IN MX 10 mx.ok.test.",
    "mx.ok.test. 300 IN A 127.0.0.14",
]


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"relayuser" and auth_data.password == b"s3cret"
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("failover")
    ctx = self_signed_server_context(d, "relay.test")
    dns = Unbound(str(d / "dns"), ZONE)
    mx_port, relay_port = free_port(), free_port()
    relay = Recorder()
    strict = Recorder(rcpt_replies={"nobody@strict.test": "550 5.1.1 unknown user"})
    ok_mx = Recorder()
    from aiosmtpd.controller import Controller
    relay_ctl = Controller(relay, hostname="127.0.0.12", port=relay_port, tls_context=ctx, require_starttls=True,
                           authenticator=authenticator, auth_require_tls=True, decode_data=False, ready_timeout=10)
    relay_ctl.start()
    others = [Receiver("127.0.0.13", mx_port, strict), Receiver("127.0.0.14", mx_port, ok_mx)]
    yield {"dns": dns, "mx_port": mx_port, "relay_port": relay_port, "relay": relay, "strict": strict, "ok": ok_mx}
    relay_ctl.stop()
    for o in others:
        o.stop()
    dns.stop()


def relays(world):
    broken = f"smtp://127.0.0.11:{free_port()}"  # nothing listens: the drill must say so
    good = f"smtp+starttls://relayuser:s3cret@127.0.0.12:{world['relay_port']}"
    return broken, good


def start(kurier_factory, world, *extra):
    broken, good = relays(world)
    k = kurier_factory(f"dns.forward={world['dns'].forward}", f"delivery.port={world['mx_port']}",
                       "queue.retry_initial=1", "delivery.connect_timeout=3",
                       f'delivery.backup_relays=["{broken}", "{good}"]', *extra, delivery=True)
    return k, broken, good


def test_unreachable_mx_fails_over_to_the_working_backup(world, kurier_factory):
    k, broken, good = start(kurier_factory, world)
    marker = uuid.uuid4().hex
    rcpt = f"x-{marker[:8]}@down.test"
    sent = submit(k, [rcpt], marker)
    got = world["relay"].wait_for(marker)
    assert got[1] == [rcpt] and got[2].endswith(sent)
    evs = events_for(k, rcpt)
    assert [e["type"] for e in evs] == ["delivered"], evs
    assert evs[0]["data"]["mx"] == "smtp+starttls://relayuser:***@127.0.0.12:%d" % world["relay_port"]
    assert evs[0]["data"]["tls"].startswith("TLSv1"), "the relay password only travels under TLS"
    fo = k.events("failover")
    assert fo and fo[0]["data"]["domain"] == "down.test" and "127.0.0.12" in fo[0]["data"]["relay"], fo
    assert "s3cret" not in json.dumps(k.events()), "the relay password never appears in events"


def test_an_mx_that_answers_5xx_does_not_fail_over(world, kurier_factory):
    k, _, _ = start(kurier_factory, world)
    marker = uuid.uuid4().hex
    submit(k, ["nobody@strict.test"], marker)
    evs = events_for(k, "nobody@strict.test")
    assert [e["type"] for e in evs] == ["bounced"] and evs[0]["data"]["reply"] == "550 5.1.1 unknown user", evs
    assert not any(marker.encode() in m[2] for m in world["relay"].received)
    assert k.events("failover") == []


def test_direct_delivery_off_sends_everything_through_the_relays(world, kurier_factory):
    k, _, _ = start(kurier_factory, world, "delivery.direct=false")
    marker = uuid.uuid4().hex
    rcpt = f"y-{marker[:8]}@ok.test"
    submit(k, [rcpt], marker)
    evs = events_for(k, rcpt)
    assert [e["type"] for e in evs] == ["delivered"] and "127.0.0.12" in evs[0]["data"]["mx"], evs
    assert not any(marker.encode() in m[2] for m in world["ok"].received), "the MX must not be used"


def test_failover_drill_reports_each_relay(world, kurier_factory):
    k, broken, good = start(kurier_factory, world, "failover.probe_recipient=drill@probe.test")
    k.stop()  # the drill runs on its own, like a cron job would run it
    proc = run([KURIER_BIN, "failover", "test", "--json", "--config", k.config], timeout=60)
    assert proc.returncode == 1, "a failed relay makes the drill fail"
    results = json.loads(proc.stdout)
    assert [r["ok"] for r in results] == [False, True], results
    assert "cannot connect" in results[0]["detail"] and "127.0.0.11" in results[0]["relay"], results[0]
    assert results[1]["detail"].startswith("probe accepted: 250"), results[1]
    probes = [m for m in world["relay"].received if m[1] == ["drill@probe.test"]]
    assert probes and b"kurier fail-over drill" in probes[-1][2]
    types = [e["type"] for e in k.events()]
    assert "failover_test_failed" in types and "failover_test" in types
