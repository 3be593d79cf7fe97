"""Fail-over to backup relays: when a domain's MX hosts cannot be reached, mail goes through the first
backup relay that works (STARTTLS + AUTH here), a `failover` event records the switch, an MX that
answers 5xx never triggers fail-over, `delivery.direct = false` sends everything through the relays,
and `kurier failover test` reports each relay's health with the reason. As an operator meets it: an MX
that accepts TCP and never greets is unreachable after delivery.greeting_timeout (the next MX host or a
relay takes the mail in the same attempt); when every route fails the reply names each once, flat, and
says it is kurier's own (`local`); under steady traffic the health check fails a domain back, and the
relay connection stops taking its mail; the drill prints each relay's result as it comes."""

import base64
import json
import socket
import subprocess
import threading
import time
import uuid

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import HOST, KURIER_BIN, free_port, run
from dns_peer import Unbound
from receivers import Receiver, Recorder, self_signed_server_context, wait_until
from test_delivery import events_for, submit

ZONE = [
    "down.test. 300 IN MX 10 mx.down.test.",
    "mx.down.test. 300 IN A 127.0.0.9",       # nothing listens there
    "strict.test. 300 IN MX 10 mx.strict.test.",
    "mx.strict.test. 300 IN A 127.0.0.13",
    "ok.test. 300 IN MX 10 mx.ok.test.",
    "mx.ok.test. 300 IN A 127.0.0.14",
    "silent.test. 300 IN MX 10 mx.silent.test.",
    "mx.silent.test. 300 IN A 127.0.0.15",  # accepts TCP, never greets
    "hung.test. 300 IN MX 10 mx1.hung.test.",
    "hung.test. 300 IN MX 20 mx2.hung.test.",
    "mx1.hung.test. 300 IN A 127.0.0.15",
    "mx2.hung.test. 300 IN A 127.0.0.14",
    "flaky.test. 300 IN MX 10 mx.flaky.test.",
    "mx.flaky.test. 300 IN A 127.0.0.16",  # down at first, back during a test
]
GREETING_TIMEOUT = 2


class TcpScript:
    """A TCP server that accepts connections and stays silent (greeting None: the connections are held
    open, unanswered) or says `greeting` and hangs up."""

    def __init__(self, host, port, greeting=None):
        self.greeting, self.held, self.accepted = greeting, [], 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.greeting is None:
                self.held.append(conn)
            else:
                conn.sendall(self.greeting)
                conn.close()

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.held:
            c.close()


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
    others = [Receiver("127.0.0.13", mx_port, strict), Receiver("127.0.0.14", mx_port, ok_mx),
              TcpScript("127.0.0.15", mx_port)]
    busy_port, silent_port = free_port(), free_port()
    others += [TcpScript("127.0.0.17", busy_port, b"421 4.3.2 relay busy, try later\r\n"),
               TcpScript("127.0.0.18", silent_port)]
    yield {"dns": dns, "mx_port": mx_port, "relay_port": relay_port, "relay": relay, "strict": strict, "ok": ok_mx,
           "busy_relay": f"smtp://127.0.0.17:{busy_port}", "silent_relay": f"smtp://127.0.0.18:{silent_port}"}
    relay_ctl.stop()
    for o in others:
        o.stop()
    dns.stop()


def relays(world):
    broken = f"smtp://127.0.0.11:{free_port()}"  # nothing listens: the drill must say so
    good = f"smtp+starttls://relayuser:s3cret@127.0.0.12:{world['relay_port']}"
    return broken, good


def start(kurier_factory, world, *extra, relay_urls=None):
    broken, good = relays(world)
    urls = relay_urls or [broken, good]
    k = kurier_factory(f"dns.forward={world['dns'].forward}", f"delivery.port={world['mx_port']}",
                       "queue.retry_initial=1", "delivery.connect_timeout=3",
                       f"delivery.greeting_timeout={GREETING_TIMEOUT}",
                       "delivery.backup_relays=[%s]" % ", ".join(f'"{u}"' for u in urls), *extra, delivery=True)
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
    assert "local" not in evs[0]["data"], "the remote server's reply is not kurier's own"
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


def test_a_silent_mx_is_unreachable_after_the_greeting_timeout(world, kurier_factory):
    """An MX that accepts TCP and never greets: the next MX host takes the mail in the same attempt, and
    when there is none, the backup relay does (not after 300 s, and not retried for ever)."""
    _, good = relays(world)
    k, _, _ = start(kurier_factory, world, "delivery.command_timeout=300", relay_urls=[good])
    marker = uuid.uuid4().hex
    next_host, only_host = f"h-{marker[:8]}@hung.test", f"s-{marker[:8]}@silent.test"
    t0 = time.monotonic()
    submit(k, [next_host], marker)
    submit(k, [only_host], marker + "s")
    evs = events_for(k, next_host, timeout=20)
    assert [e["type"] for e in evs] == ["delivered"], evs
    assert evs[0]["data"]["attempt"] == 1 and "127.0.0.14" in evs[0]["data"]["mx"], evs
    evs = events_for(k, only_host, timeout=20)
    assert [e["type"] for e in evs] == ["delivered"], evs
    assert evs[0]["data"]["attempt"] == 1 and "127.0.0.12" in evs[0]["data"]["mx"], evs
    assert time.monotonic() - t0 < 4 * GREETING_TIMEOUT + 8
    fo = [e["data"] for e in k.events("failover") if e["data"]["domain"] == "silent.test"]
    assert len(fo) == 1, k.events("failover")
    assert fo[0]["reason"] == f"mx.silent.test [127.0.0.15] did not greet within {GREETING_TIMEOUT} s", fo
    assert not [e for e in k.events("failover") if e["data"]["domain"] == "hung.test"], "a working MX host was left"


def test_when_every_route_fails_each_is_named_once(world, kurier_factory):
    broken, _ = relays(world)
    busy = world["busy_relay"]
    # no health loop: the relays are tried in the configured order
    k, _, _ = start(kurier_factory, world, "delivery.backup_check_interval=0", relay_urls=[broken, busy])
    marker = uuid.uuid4().hex
    rcpt = f"z-{marker[:8]}@down.test"
    submit(k, [rcpt], marker)
    evs = events_for(k, rcpt, timeout=20)
    assert evs and evs[0]["type"] == "deferred", evs
    data = evs[0]["data"]
    mx = "mx.down.test [127.0.0.9]"
    assert data["reply"] == (f"451 4.4.1 every route failed: cannot connect to {mx} port {world['mx_port']}: "
                             f"Connection refused; cannot connect to {broken} port {broken.rsplit(':', 1)[1]}: "
                             f"Connection refused; {busy}: 421 4.3.2 relay busy, try later"), data
    assert data["mx"] == f"{mx}, {broken}, {busy}", "every host and relay tried is named"
    assert data["local"] is True, "kurier's own reply is told apart from a server's"
    for t in ("failover", "failback", "backup_health", "failover_test", "failover_test_failed"):
        status, body = k.api("GET", f"/v1/events?type={t}")
        assert status == 200, ("the API must know every fail-over event type", t, status, body)


def test_the_health_check_fails_back_under_steady_traffic(world, kurier_factory):
    """Mail for a failed-over domain keeps coming, one message at a time, so the relay connection never
    idles out; when the MX is back the health check fails the domain back and the next messages go
    direct, not through the open relay connection."""
    _, good = relays(world)
    k, _, _ = start(kurier_factory, world, "delivery.backup_check_interval=1", relay_urls=[good])
    marker = uuid.uuid4().hex
    sent = []

    def send_one():
        rcpt = f"f{len(sent)}-{marker[:8]}@flaky.test"
        submit(k, [rcpt], f"{marker}-{len(sent)}")
        sent.append(rcpt)
        time.sleep(0.3)

    for _ in range(3):
        send_one()
    first = events_for(k, sent[0], timeout=20)
    assert first and first[0]["type"] == "delivered" and "127.0.0.12" in first[0]["data"]["mx"], first
    back = Recorder()
    mx = Receiver("127.0.0.16", world["mx_port"], back)
    try:
        deadline = time.monotonic() + 15
        while not [e for e in k.events("failback") if e["data"]["domain"] == "flaky.test"]:
            assert time.monotonic() < deadline, "no failback while traffic kept coming"
            send_one()
        fb = [e["data"] for e in k.events("failback") if e["data"]["domain"] == "flaky.test"]
        # (a second connection, opened while the relay's was busy, may have found the MX first: "delivery")
        assert fb[0]["found_by"] in ("health check", "delivery") and "127.0.0.16" in fb[0]["mx"], fb
        after = len(sent)
        for _ in range(5):
            send_one()
        for rcpt in sent[after:]:
            evs = events_for(k, rcpt, timeout=20)
            assert [e["type"] for e in evs] == ["delivered"], evs
            assert "127.0.0.16" in evs[0]["data"]["mx"], ("went through the relay after the fail-back", evs)
    finally:
        mx.stop()


def test_failover_drill_prints_each_relay_as_it_comes(world, kurier_factory):
    """A silent relay fails after the greeting timeout; the relay before it is printed at once."""
    broken, _ = relays(world)
    k, _, _ = start(kurier_factory, world, relay_urls=[broken, world["silent_relay"]])
    k.stop()
    t0 = time.monotonic()
    proc = subprocess.Popen([KURIER_BIN, "failover", "test", "--config", k.config], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        first_at = time.monotonic() - t0
        out, err = proc.communicate(timeout=GREETING_TIMEOUT + 20)
        end_at = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert first.startswith(f"FAIL {broken}: ") and "Connection refused" in first, first
    assert end_at - first_at > GREETING_TIMEOUT / 2, ("printed only at the end", first_at, end_at)
    assert out.strip() == (f"FAIL {world['silent_relay']}: 451 4.4.1 {world['silent_relay']} did not greet within "
                           f"{GREETING_TIMEOUT} s"), out
    assert proc.returncode == 1
    assert "delivery.greeting_timeout" in err, err


def test_a_relay_url_without_a_port_uses_its_schemes_default_and_serve_says_so(world, kurier_factory):
    """delivery.port is the MX hosts' port; a relay URL without one keeps its scheme's default (25 here)."""
    k, _, _ = start(kurier_factory, world, "delivery.backup_check_interval=0", relay_urls=["smtp://127.0.0.11"])
    wait_until(lambda: "backup relay smtp://127.0.0.11:25 has no port in its URL and uses 25" in k.stderr(), 10,
               "serve's warning about the relay's port")
    assert f"delivery.port ({world['mx_port']}) is for MX hosts only" in k.stderr()
