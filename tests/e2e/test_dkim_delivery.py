"""Sending domains: `kurier domain add` creates RSA and Ed25519 keys (0600 files) and prints the DNS
records; every message from that domain leaves kurier with both signatures, and both verify with dkimpy
against exactly the records `domain add` printed. Mail from other domains is not signed."""

import json
import smtplib
import uuid

import dkim
import pytest

from receivers import mx_world
from test_delivery import events_for, submit


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with mx_world(str(tmp_path_factory.mktemp("dns")), "dkim-rx.test", "127.0.0.23") as w:
        yield w


def send_from(k, sender, marker):
    msg = (f"From: Shop <{sender}>\r\nTo: <buyer@dkim-rx.test>\r\nSubject: order {marker}\r\n"
           f"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <{marker}@client.test>\r\n\r\n"
           f"Thank you for your order {marker}.\r\n").encode()
    with smtplib.SMTP("127.0.0.1", k.relay_port, timeout=10) as s:
        s.sendmail(sender, ["buyer@dkim-rx.test"], msg)
    return msg


def test_mail_from_a_sending_domain_carries_two_valid_signatures(world, kurier_factory):
    dns, port, rec = world
    k = kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", delivery=True)
    added = json.loads(k.cli("domain", "add", "default", "shop.test", "--json").stdout)
    dkim_records = [r for r in added["records"] if r["purpose"].startswith("DKIM")]
    records = {r["name"] + ".": r for r in dkim_records}
    assert sorted(r["algorithm"] for r in dkim_records) == ["ed25519", "rsa"]
    for r in dkim_records:
        assert all(len(s) <= 255 for s in r["strings"]) and "".join(r["strings"]) == r["value"]
    key_files = [p for p in (k.dir / "dkim" / "shop.test").iterdir()]
    assert len(key_files) == 2 and all(oct(p.stat().st_mode & 0o777) == "0o600" for p in key_files)
    again = k.cli("domain", "add", "default", "shop.test", check=False)
    assert again.returncode == 1 and "already exists" in again.stderr

    marker = uuid.uuid4().hex
    sent = send_from(k, "orders@shop.test", marker)
    content = rec.wait_for(marker)[2]
    assert content.endswith(sent), "the message itself arrives unchanged below the signatures"

    def dnsfunc(name, timeout=5):
        return records[name.decode()]["value"].encode()
    d = dkim.DKIM(content)
    sigs = [line for line in content.split(b"\r\n") if line.startswith(b"DKIM-Signature:")]
    assert len(sigs) == 2, content[:600]
    assert d.verify(idx=0, dnsfunc=dnsfunc), "first signature must verify"
    assert d.verify(idx=1, dnsfunc=dnsfunc), "second signature must verify"
    algs = sorted(s.split(b"a=")[1].split(b";")[0] for s in sigs)
    assert algs == [b"ed25519-sha256", b"rsa-sha256"]
    ev = events_for(k, "buyer@dkim-rx.test")[-1]
    assert sorted(ev["data"]["dkim"]) == sorted(r["selector"] for r in dkim_records)


def test_mail_from_other_domains_is_not_signed(world, kurier_factory):
    dns, port, rec = world
    k = kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", delivery=True)
    k.cli("domain", "add", "default", "shop.test")
    marker = uuid.uuid4().hex
    send_from(k, "someone@example.com", marker)
    assert b"DKIM-Signature:" not in rec.wait_for(marker)[2]
