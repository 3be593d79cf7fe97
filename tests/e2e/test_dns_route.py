"""Route planning through kurier's own resolver (libunbound) against a real local DNS server:
MX preference order with random order among equals, A fall-back, null MX, NXDOMAIN and SERVFAIL."""

import json

import pytest

from conftest import KURIER_BIN, run
from dns_peer import Unbound

ZONE = [
    "multi.test. 300 IN MX 20 mx2.multi.test.",
    "multi.test. 300 IN MX 10 mx1a.multi.test.",
    "multi.test. 300 IN MX 10 mx1b.multi.test.",
    "multi.test. 300 IN MX 30 mx3.multi.test.",
    "mx1a.multi.test. 300 IN A 127.0.0.11",
    "mx1b.multi.test. 300 IN A 127.0.0.12",
    "mx2.multi.test. 300 IN A 127.0.0.13",
    "mx3.multi.test. 300 IN AAAA ::1",
    "amx.test. 300 IN A 127.0.0.21",
    "nullmx.test. 300 IN MX 0 .",
    "nullmx.test. 300 IN A 127.0.0.22",
]


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    server = Unbound(str(tmp_path_factory.mktemp("unbound")), ZONE)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def config(dns, tmp_path_factory):
    d = tmp_path_factory.mktemp("kurier") / "k"
    proc = run([KURIER_BIN, "init", "--dir", str(d), "--json", "--set", f"dns.forward={dns.forward}"], check=True)
    return json.loads(proc.stdout)["config"]


def route(config, domain):
    proc = run([KURIER_BIN, "dns", "route", domain, "--json", "--config", config], timeout=60)
    return proc.returncode, json.loads(proc.stdout)


def test_mx_hosts_in_preference_order_with_equal_preferences_shuffled(config):
    firsts = set()
    for _ in range(12):
        rc, r = route(config, "multi.test")
        assert rc == 0 and r["route"] == "mx", r
        hosts = [h["host"] for h in r["hosts"]]
        assert set(hosts[:2]) == {"mx1a.multi.test", "mx1b.multi.test"}, hosts
        assert hosts[2:] == ["mx2.multi.test", "mx3.multi.test"], hosts
        firsts.add(hosts[0])
        addrs = {h["host"]: h["addresses"] for h in r["hosts"]}
        assert addrs["mx1a.multi.test"] == ["127.0.0.11"] and addrs["mx3.multi.test"] == ["::1"], addrs
    assert firsts == {"mx1a.multi.test", "mx1b.multi.test"}, "equal preferences must be tried in random order"


def test_domain_without_mx_falls_back_to_its_address(config):
    rc, r = route(config, "amx.test")
    assert rc == 0 and r["route"] == "implicit", r
    assert r["hosts"] == [{"host": "amx.test", "addresses": ["127.0.0.21"]}]


def test_null_mx_means_no_mail(config):
    rc, r = route(config, "nullmx.test")
    assert rc == 0 and r["route"] == "null_mx" and r["hosts"] == [], r
    assert "RFC 7505" in r["detail"]


def test_nxdomain(config):
    rc, r = route(config, "no-such-domain.test")
    assert rc == 0 and r["route"] == "nxdomain", r


def test_servfail_is_temporary(config):
    rc, r = route(config, "broken.servfail.test")
    assert rc == 2 and r["route"] == "tempfail", r
    assert "SERVFAIL" in r["detail"]
