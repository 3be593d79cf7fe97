"""Per-destination policies ([delivery.domain."NAME"] tables): a message rate limit spaces deliveries
to one domain without slowing the others, and TLS requirements and certificate verification apply per
domain."""

import time
import uuid

import pytest
from aiosmtpd.controller import Controller

from conftest import free_port
from dns_peer import Unbound
from receivers import Receiver, Recorder, self_signed_server_context
from test_delivery import events_for, submit

ZONE = [
    "paced.test. 300 IN MX 10 mx.paced.test.",
    "mx.paced.test. 300 IN A 127.0.0.17",
    "free.test. 300 IN MX 10 mx.free.test.",
    "mx.free.test. 300 IN A 127.0.0.18",
    "strict-tls.test. 300 IN MX 10 mx.strict-tls.test.",
    "mx.strict-tls.test. 300 IN A 127.0.0.19",
]


class Stamped(Recorder):
    """Records the arrival time of each message."""

    def __init__(self):
        super().__init__()
        self.times = []

    async def handle_DATA(self, server, session, envelope):
        self.times.append(time.monotonic())
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("policies")
    ctx = self_signed_server_context(d, "mx.strict-tls.test")
    dns = Unbound(str(d / "dns"), ZONE)
    port = free_port()
    paced, free, strict = Stamped(), Stamped(), Recorder()
    rx = [Receiver("127.0.0.17", port, paced), Receiver("127.0.0.18", port, free)]
    tls_ctl = Controller(strict, hostname="127.0.0.19", port=port, tls_context=ctx, require_starttls=False,
                         decode_data=False, ready_timeout=10)
    tls_ctl.start()
    yield {"dns": dns, "port": port, "paced": paced, "free": free, "strict": strict}
    tls_ctl.stop()
    for r in rx:
        r.stop()
    dns.stop()


def test_rate_limit_spaces_one_domain_only(world, kurier_factory, tmp_path):
    k = kurier_factory(f"dns.forward={world['dns'].forward}", f"delivery.port={world['port']}", start=False,
                       delivery=True)
    with open(k.config, "a") as f:
        f.write('\n[delivery.domain."paced.test"]\nrate_per_minute = 120\n')  # one message every 0.5 s
    k.start()
    for i in range(4):
        submit(k, [f"p{i}@paced.test"], uuid.uuid4().hex)
        submit(k, [f"f{i}@free.test"], uuid.uuid4().hex)
    world["paced"].wait(4, timeout=30)
    world["free"].wait(4, timeout=30)
    paced, free = world["paced"].times[-4:], world["free"].times[-4:]
    gaps = [b - a for a, b in zip(paced, paced[1:])]
    free_gaps = [b - a for a, b in zip(free, free[1:])]
    assert all(g >= 0.45 for g in gaps), f"paced.test must get at most 2 messages a second: gaps {gaps}"
    # free.test follows the submissions, not paced.test's spacing (compared within this run, not to a clock)
    assert max(free_gaps) < min(gaps), f"free.test must not be held back: {free_gaps} vs paced {gaps}"


def test_per_domain_tls_verification(world, kurier_factory):
    k = kurier_factory(f"dns.forward={world['dns'].forward}", f"delivery.port={world['port']}",
                       "queue.retry_initial=3600", start=False, delivery=True)
    with open(k.config, "a") as f:
        f.write('\n[delivery.domain."strict-tls.test"]\ntls = "required"\nverify_certificates = true\n')
    k.start()
    rcpt = f"v-{uuid.uuid4().hex[:8]}@strict-tls.test"
    submit(k, [rcpt], uuid.uuid4().hex)
    evs = events_for(k, rcpt)
    assert [e["type"] for e in evs] == ["deferred"], evs
    reply = evs[0]["data"]["reply"]
    assert reply.startswith("451 4.7.5") and "certificate" in reply.lower(), reply
    assert "127.0.0.19" in evs[0]["data"]["mx"], evs[0]
    assert not world["strict"].received, "nothing may be sent over an unverified connection"
