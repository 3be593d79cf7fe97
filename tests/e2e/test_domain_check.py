"""`kurier domain check DOMAIN` against a local DNS server: with the right records every line is OK and
the exit status 0; missing and wrong records are each named with the published value, what was
expected and the fix, and the exit status is 1."""

import json

import pytest

from conftest import KURIER_BIN, free_port, run, run_with_stderr_on_a_terminal
from dns_peer import SilentServer, Unbound


EGRESS = "192.0.2.10"
HOST = "mail.kurier.test"
# HOST is under .test, which only the test's own DNS answers: `domain add|records|check` print and check
# records naming it only when told so (without the flag they refuse, as for any test-only name).
LOCAL = "--allow-local-hostname"


def txt(name, value):
    parts = " ".join('"%s"' % value[i:i + 255] for i in range(0, len(value), 255))
    return f"{name}. 300 IN TXT {parts}"


def zone_lines(records):
    """The records `kurier domain add|records --json` says to publish, as unbound local-data."""
    out = []
    for r in records:
        if not r["publish"]:
            continue
        if r["type"] == "TXT":
            out.append(txt(r["name"], r["value"]))
        else:
            out.append(f'{r["name"]}. 300 IN {r["type"]} {r["value"]}')
    return out


def replace_dkim(records, other):
    """`records` with each DKIM value taken from `other` (same algorithm)."""
    by_alg = {r["algorithm"]: r for r in other if r["purpose"].startswith("DKIM")}
    return [dict(r, value=by_alg[r["algorithm"]]["value"]) if r["purpose"].startswith("DKIM") else r for r in records]


BASE_ZONE = [f"{HOST}. 300 IN A {EGRESS}", f"10.2.0.192.in-addr.arpa. 300 IN PTR {HOST}.",
             # 192.0.2.12's PTR name does not resolve back to it
             "12.2.0.192.in-addr.arpa. 300 IN PTR liar.kurier.test.", "liar.kurier.test. 300 IN A 198.51.100.99"]
REVERSE = ["2.0.192.in-addr.arpa."]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, kurier_factory_module):
    port = free_port()
    k = kurier_factory_module(f"dns.forward=127.0.0.1@{port}", f'server.hostname="{HOST}"',
                              f'domains.egress_addresses=["{EGRESS}"]')
    added = {d: json.loads(k.cli("domain", "add", "default", d, "--json", LOCAL).stdout)
             for d in ("good.test", "missing.test", "wrong.test", "narrow.test", "deep.test", "strict.test",
                       "slow.test", "wait.test")}
    other = json.loads(k.cli("domain", "add", "default", "other.test", "--json", LOCAL).stdout)
    zone = list(BASE_ZONE) + zone_lines(added["good.test"]["records"])
    wrong = {r["algorithm"]: r for r in added["wrong.test"]["records"] if r["purpose"].startswith("DKIM")}
    other_rsa = [r for r in other["records"] if r.get("algorithm") == "rsa"][0]
    zone += [txt(wrong["rsa"]["name"], other_rsa["value"]),                           # someone else's key
             txt(wrong["ed25519"]["name"], wrong["ed25519"]["value"].replace("k=ed25519", "k=rsa")),
             txt("_dmarc.wrong.test", "v=DMARC1; p=maybe; rua=reports"),
             txt("wrong.test", "v=spf1 a ~all"), txt("wrong.test", "v=spf1 mx ~all"),
             "bounces.wrong.test. 300 IN MX 10 mx.elsewhere.test.",
             "track.wrong.test. 300 IN CNAME tracker.elsewhere.test."]
    # narrow.test: right DKIM, but SPF that does not cover the egress address
    zone += [z for z in zone_lines(added["narrow.test"]["records"]) if not z.startswith("narrow.test.")]
    zone.append(txt("narrow.test", "v=spf1 ip4:198.51.100.1 -all"))
    # deep.test: SPF needing 11 DNS lookups
    zone += [z for z in zone_lines(added["deep.test"]["records"]) if not z.startswith("deep.test.")]
    zone.append(txt("deep.test", "v=spf1 " + " ".join(f"include:i{i}.deep.test" for i in range(11)) + " -all"))
    zone += [txt(f"i{i}.deep.test", f"v=spf1 ip4:10.0.0.{i} ?all") for i in range(11)]
    # strict.test: everything right, DMARC at reject with strict SPF alignment and a BIMI record
    zone += [z for z in zone_lines(added["strict.test"]["records"]) if not z.startswith("_dmarc.strict.test.")]
    zone += [txt("_dmarc.strict.test", "v=DMARC1; p=reject; aspf=s; rua=mailto:d@strict.test"),
             txt("default._bimi.strict.test", "v=BIMI1; l=https://strict.test/logo.svg;")]
    # slow.test: right records, but its DMARC name is answered only after seconds of silence
    zone += [z for z in zone_lines(added["slow.test"]["records"]) if not z.startswith("_dmarc.slow.test.")]
    # wait.test: the same, for the check run on a terminal (the upstream caches slow.test's answer)
    zone += [z for z in zone_lines(added["wait.test"]["records"]) if not z.startswith("_dmarc.wait.test.")]
    silent = SilentServer(silent_for=1.5)
    silent.start()
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), zone, port=port, local_zones=REVERSE,
                  forward_zones=[("_dmarc.slow.test.", silent.port), ("_dmarc.wait.test.", silent.port)])
    yield k, added
    dns.stop()
    silent.stop()


@pytest.fixture(scope="module")
def kurier_factory_module(tmp_path_factory):
    from conftest import Kurier
    made = []

    def make(*sets):
        inst = Kurier(tmp_path_factory.mktemp("k"), sets=sets)
        made.append(inst)
        return inst
    yield make


def check(k, domain):
    proc = run([KURIER_BIN, "domain", "check", domain, "--json", LOCAL, "--config", k.config], timeout=60)
    return proc.returncode, json.loads(proc.stdout)


def by_record(r):
    return {x["record"]: x for x in r["records"]}


def test_add_prints_every_record_to_publish(setup):
    _, added = setup
    recs = {r["purpose"]: r for r in added["good.test"]["records"]}
    assert set(recs) == {"DKIM rsa", "DKIM ed25519", "SPF", "DMARC", "Return-Path MX", "Return-Path SPF", "Tracking", "BIMI"}
    assert recs["SPF"]["value"] == f"v=spf1 ip4:{EGRESS} ~all"
    assert recs["DMARC"]["value"].startswith("v=DMARC1; p=none; rua=mailto:dmarc-reports@good.test")
    assert "p=none only monitors" in recs["DMARC"]["note"]
    assert recs["Return-Path MX"]["name"] == "bounces.good.test" and recs["Return-Path MX"]["value"] == f"10 {HOST}."
    assert recs["Tracking"]["type"] == "CNAME" and recs["Tracking"]["value"] == f"{HOST}."
    assert not recs["BIMI"]["publish"] and "p=quarantine or p=reject" in recs["BIMI"]["note"]
    rsa = recs["DKIM rsa"]
    assert len(rsa["strings"]) == 2 and all(len(s) <= 255 for s in rsa["strings"]) and "".join(rsa["strings"]) == rsa["value"]


def test_records_command_bimi_only_when_dmarc_enforces(setup):
    k, _ = setup
    none = json.loads(k.cli("domain", "records", "good.test", "--json", LOCAL).stdout)
    assert [r for r in none["records"] if r["purpose"] == "BIMI"][0]["publish"] is False
    rej = json.loads(k.cli("domain", "records", "good.test", "--json", LOCAL, "--dmarc-policy", "reject",
                           "--bimi-logo", "https://good.test/logo.svg").stdout)
    by = {r["purpose"]: r for r in rej["records"]}
    assert by["DMARC"]["value"].startswith("v=DMARC1; p=reject;")
    assert by["BIMI"]["publish"] and by["BIMI"]["value"] == "v=BIMI1; l=https://good.test/logo.svg;"
    text = k.cli("domain", "records", "good.test", LOCAL).stdout
    assert 'good.test. IN TXT ( "v=spf1 ip4:192.0.2.10 ~all" )' in text and "bounces.good.test. IN MX 10" in text


def test_right_records_pass(setup):
    k, _ = setup
    rc, r = check(k, "good.test")
    assert rc == 0 and r["ok"] and r["verified"], [x for x in r["records"] if x["status"] != "ok"]
    by = by_record(r)
    for name in ("DKIM rsa (active)", "DKIM ed25519 (active)", "SPF", "DMARC", "DMARC alignment", "Return-Path MX",
                 "Return-Path SPF", "Tracking", "PTR"):
        assert by[name]["status"] == "ok", by[name]
    assert "covers 1 egress address(es); 0 of 10 DNS lookups used" in by["SPF"]["fix"]
    assert by["BIMI"]["status"] == "info" and "not applicable yet" in by["BIMI"]["fix"]


def test_missing_records_are_named_with_their_fix(setup):
    k, added = setup
    rc, r = check(k, "missing.test")
    assert rc == 1 and not r["ok"] and not r["verified"]
    by = {x["name"]: x for x in r["records"] if x["record"] != "PTR"}
    for rec in added["missing.test"]["records"]:
        if not rec["purpose"].startswith("DKIM"):
            continue
        f = by[rec["name"]]
        assert f["status"] == "missing" and f["hurts_delivery"]
        # the value as it is published: in strings of at most 255 octets (an RSA key takes two)
        assert f["fix"] == "publish %s TXT %s" % (rec["name"], " ".join('"%s"' % s for s in rec["strings"]))
        assert len(rec["strings"]) == (2 if rec["algorithm"] == "rsa" else 1)
    assert by["_dmarc.missing.test"]["status"] == "missing" and "v=DMARC1; p=none" in by["_dmarc.missing.test"]["fix"]
    spf = by["missing.test"]
    assert spf["status"] == "missing" and not spf["hurts_delivery"], "a missing SPF record warns only"
    assert spf["fix"] == f'publish missing.test TXT "v=spf1 ip4:{EGRESS} ~all"'
    rp = by_record(r)["Return-Path MX"]
    assert rp["status"] == "missing" and f"bounces.missing.test MX 10 {HOST}." in rp["fix"]
    assert by_record(r)["Tracking"]["status"] == "missing"
    text = run([KURIER_BIN, "domain", "check", "missing.test", LOCAL, "--config", k.config], timeout=60).stdout
    assert "FAIL" in text and "fix: publish" in text and "is not ready" in text


def test_wrong_records_show_published_expected_and_fix(setup):
    k, added = setup
    rc, r = check(k, "wrong.test")
    assert rc == 1
    by = by_record(r)
    rsa, ed = by["DKIM rsa (active)"], by["DKIM ed25519 (active)"]
    assert rsa["status"] == "wrong" and "not the one kurier signs with" in rsa["fix"] and rsa["published"] != rsa["expected"]
    assert ed["status"] == "wrong" and "k=rsa should be k=ed25519" in ed["fix"]
    dmarc = by["DMARC"]
    assert dmarc["status"] == "wrong" and "p=maybe is not valid: use one of none, quarantine, reject" in dmarc["fix"]
    assert "rua=reports is not a report address" in dmarc["fix"]
    assert by["SPF"]["status"] == "wrong" and "merge them into one" in by["SPF"]["fix"] and by["SPF"]["hurts_delivery"]
    assert by["Return-Path MX"]["status"] == "wrong" and "mx.elsewhere.test" in by["Return-Path MX"]["published"]
    assert by["Tracking"]["status"] == "wrong" and by["Tracking"]["published"] == "tracker.elsewhere.test"


def test_spf_not_covering_egress_address_fails_with_fix(setup):
    k, _ = setup
    rc, r = check(k, "narrow.test")
    spf = by_record(r)["SPF"]
    assert rc == 1 and spf["status"] == "wrong" and spf["hurts_delivery"], spf
    assert spf["fix"] == f'SPF does not pass for {EGRESS}: add "ip4:{EGRESS}" before the all term'
    assert by_record(r)["DKIM rsa (active)"]["status"] == "ok" and r["verified"], "DKIM alone verifies the domain"


def test_spf_past_ten_lookups_is_reported(setup):
    k, _ = setup
    rc, r = check(k, "deep.test")
    spf = by_record(r)["SPF"]
    assert rc == 1 and spf["status"] == "wrong" and "more than 10 DNS lookups" in spf["fix"], spf


def test_dmarc_alignment_and_bimi_when_enforcing(setup):
    k, _ = setup
    rc, r = check(k, "strict.test")
    by = by_record(r)
    assert rc == 0, r
    assert by["DMARC"]["status"] == "ok"
    al = by["DMARC alignment"]
    assert al["status"] == "warning" and "aspf=s" in al["fix"] and "DMARC passes on DKIM alone" in al["fix"]
    assert by["BIMI"]["status"] == "ok" and "logo.svg" in by["BIMI"]["published"]


def test_ptr_missing_or_not_forward_confirmed_fails(tmp_path_factory, kurier_factory_module):
    port = free_port()
    k = kurier_factory_module(f"dns.forward=127.0.0.1@{port}", f'server.hostname="{HOST}"',
                              'domains.egress_addresses=["192.0.2.11", "192.0.2.12"]')
    added = json.loads(k.cli("domain", "add", "default", "ptr.test", "--json", LOCAL).stdout)
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), BASE_ZONE + zone_lines(added["records"]), port=port,
                  local_zones=REVERSE)
    try:
        rc, r = check(k, "ptr.test")
    finally:
        dns.stop()
    ptr = {x["name"]: x for x in r["records"] if x["record"] == "PTR"}
    assert rc == 1
    assert ptr["192.0.2.11"]["status"] == "missing" and ptr["192.0.2.11"]["hurts_delivery"]
    assert f"set its PTR to {HOST}" in ptr["192.0.2.11"]["fix"]
    assert ptr["192.0.2.12"]["status"] == "wrong" and "does not resolve back to 192.0.2.12" in ptr["192.0.2.12"]["fix"]
    assert by_record(r)["SPF"]["status"] == "ok", "the generated SPF record lists both egress addresses"


def test_dkim_rotation(tmp_path_factory, kurier_factory_module):
    """rotate-dkim: new keys wait (pending, not signing) until their records are seen; then they sign and
    the old keys retire after the grace period (0 here), all driven by `domain check`."""
    port = free_port()
    k = kurier_factory_module(f"dns.forward=127.0.0.1@{port}", f'server.hostname="{HOST}"', "domains.dkim_grace=0")
    added = json.loads(k.cli("domain", "add", "default", "rot.test", "--json", LOCAL).stdout)
    old = {r["algorithm"]: r["selector"] for r in added["records"] if r["purpose"].startswith("DKIM")}

    def states():
        return {x["selector"]: x["state"] for x in k.cli_json("domain", "list", "--json") if x["domain"] == "rot.test"}

    def check_with(zone):
        dns = Unbound(str(tmp_path_factory.mktemp("dns")), zone, port=port)
        try:
            return check(k, "rot.test")
        finally:
            dns.stop()

    zone = zone_lines(added["records"])
    rotated = json.loads(k.cli("domain", "rotate-dkim", "rot.test", "--json").stdout)
    new = {r["algorithm"]: r["selector"] for r in rotated["records"]}
    assert set(new) == {"rsa", "ed25519"} and not set(new.values()) & set(old.values())
    assert all(r["state"] == "pending" for r in rotated["records"])
    again = k.cli("domain", "rotate-dkim", "rot.test", check=False)
    assert again.returncode != 0 and "rotation of rot.test is under way" in again.stderr

    rc, r = check_with(zone)  # new records not published yet: nothing changes, the old keys still sign
    assert rc == 0 and r["rotation"] == [], r
    assert states() == {**{s: "active" for s in old.values()}, **{s: "pending" for s in new.values()}}
    pending = by_record(r)["DKIM rsa (pending)"]
    assert pending["status"] == "warning" and "rotation waits for this record" in pending["fix"]

    zone += zone_lines(rotated["records"])
    rc, r = check_with(zone)
    assert rc == 0 and r["verified"], r
    assert {(c["selector"], c["state"]) for c in r["rotation"]} == {
        *((s, "active") for s in new.values()), *((s, "retiring") for s in old.values())}
    assert states() == {**{s: "retiring" for s in old.values()}, **{s: "active" for s in new.values()}}

    rc, r = check_with(zone)  # grace 0: the old keys are retired now
    assert {(c["selector"], c["state"]) for c in r["rotation"]} == {(s, "retired") for s in old.values()}
    rc, r = check_with(zone)
    assert rc == 0 and r["rotation"] == [] and r["verified"], r
    assert by_record(r)["DKIM rsa (retired)"]["fix"] == "this key is retired: you may remove the record"


def test_verification_gate_outside_sandbox(tmp_path_factory, kurier_factory):
    """Outside sandbox mode, mail from a sending domain is refused (550 5.7.1, naming the command to run)
    until `kurier domain check` has seen its DKIM records; then it is accepted."""
    import smtplib
    from conftest import plain_ctx
    port = free_port()
    k = kurier_factory(f"dns.forward=127.0.0.1@{port}", start=False)
    added = json.loads(k.cli("domain", "add", "default", "gate.test", "--json").stdout)
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), zone_lines(added["records"]), port=port)
    try:
        k.cli("account", "set", "default", "--sandbox", "off")
        k.start()

        def mail_from():
            with smtplib.SMTP("127.0.0.1", k.submission_port, timeout=10) as s:
                s.starttls(context=plain_ctx())
                s.login(k.username, k.password)
                return s.mail("shop@gate.test")

        code, text = mail_from()
        assert code == 550 and b"5.7.1" in text and b"kurier domain check gate.test" in text, (code, text)
        r = run([KURIER_BIN, "domain", "check", "gate.test", "--json", "--config", k.config], timeout=60)
        assert json.loads(r.stdout)["verified"] is True, r.stdout
        code, text = mail_from()
        assert code == 250, (code, text)
        accounts = k.cli_json("account", "list", "--json")
        assert accounts[0]["sandbox"] is False and accounts[0]["verified_domains"] == ["gate.test"]
    finally:
        dns.stop()


def test_serve_advances_rotation_on_its_own(tmp_path_factory, kurier_factory):
    """With domains.check_interval set, the running server switches to the new keys once their records
    are in DNS and retires the old ones after the grace period, without an operator."""
    import time
    port = free_port()
    k = kurier_factory(f"dns.forward=127.0.0.1@{port}", "domains.check_interval=1", "domains.dkim_grace=1", start=False)
    added = json.loads(k.cli("domain", "add", "default", "auto.test", "--json").stdout)
    rotated = json.loads(k.cli("domain", "rotate-dkim", "auto.test", "--json").stdout)
    new = {r["selector"] for r in rotated["records"]}
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), zone_lines(added["records"] + rotated["records"]), port=port)
    try:
        k.start()
        deadline, states = time.time() + 20, {}
        while time.time() < deadline:
            states = {x["selector"]: x["state"] for x in k.cli_json("domain", "list", "--json")}
            if all(states[s] == "active" for s in new) and list(states.values()).count("retired") == 2:
                break
            time.sleep(0.5)
        assert all(states[s] == "active" for s in new) and list(states.values()).count("retired") == 2, states
    finally:
        dns.stop()


def test_check_prints_each_record_as_it_is_checked(setup):
    """`domain check` prints each record's line as soon as it is checked, also into a pipe, and says what it
    is waiting for when a lookup takes long: slow.test's DMARC name is answered only after seconds of
    silence, so the DKIM lines come first, then the notice (stderr), then the DMARC line."""
    import subprocess
    import threading
    import time
    k, _ = setup
    start = time.monotonic()
    proc = subprocess.Popen([KURIER_BIN, "domain", "check", "slow.test", LOCAL, "--config", k.config],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []

    def read(stream, tag):
        for line in stream:
            lines.append((time.monotonic() - start, tag, line.rstrip("\n")))
    readers = [threading.Thread(target=read, args=(proc.stdout, "out")),
               threading.Thread(target=read, args=(proc.stderr, "err"))]
    for t in readers:
        t.start()
    try:
        proc.wait(timeout=60)
    finally:
        proc.kill()
        for t in readers:
            t.join(5)

    def when(tag, text):
        found = [t for t, s, line in lines if s == tag and text in line]
        assert found, (text, lines)
        return found[0]
    dkim = when("out", "DKIM rsa (active)  ")
    waiting = when("err", "waiting on DNS for TXT _dmarc.slow.test")
    dmarc = when("out", "DMARC  _dmarc.slow.test")
    assert dkim < waiting < dmarc, lines
    assert dmarc - dkim > 1.0, ("the DKIM line was printed when it was checked, not at the end", lines)
    assert waiting - dkim > 0.9, ("the notice comes after a second of waiting", lines)
    assert "dns.forward 127.0.0.1@" in [line for _, s, line in lines if s == "err"][0]
    # nothing but the notice in a pipe: no turning line, no carriage return or escape sequence
    err = [line for _, s, line in lines if s == "err"]
    assert len(err) == 1 and "\r" not in err[0] and "\x1b" not in err[0], err


def test_check_shows_a_turning_wait_line_on_a_terminal(setup):
    """On a terminal (stderr a pty) `domain check` shows what it waits for while wait.test's DMARC lookup is
    pending, redrawn in place with a turning bar and the seconds waited, and clears it before the DMARC
    line (in a pipe it writes only its one-line notice: test_check_prints_each_record_as_it_is_checked)."""
    k, _ = setup
    proc, shown = run_with_stderr_on_a_terminal([KURIER_BIN, "domain", "check", "wait.test", LOCAL, "--config", k.config])
    assert b"DMARC  _dmarc.wait.test" in proc.stdout, proc.stdout
    frames = [f for f in shown.split(b"\r") if b"waiting on DNS for TXT _dmarc.wait.test" in f]
    assert len(frames) >= 5, shown  # redrawn ten times a second while the lookup is pending
    assert {f[:1] for f in frames} >= {b"|", b"/", b"-", b"\\"}, frames  # the bar turns
    assert any(b" 1 s" in f for f in frames) and b"dns.forward 127.0.0.1@" in frames[0], frames
    assert shown.endswith(b"\r\x1b[K"), shown[-80:]  # cleared, nothing left on the line
    assert b"kurier: waiting on DNS" not in shown, "the pipe's notice is not printed on a terminal"


def set_hostname(k, name):
    """What the user is told to do: write server.hostname in kurier.toml."""
    import re
    from pathlib import Path
    path = Path(k.config)
    path.write_text(re.sub(r'^hostname = .*$', f'hostname = "{name}"', path.read_text(), count=1, flags=re.M))


@pytest.fixture(scope="module")
def new_user(kurier_factory_module):
    """A directory as `kurier init` makes it: server.hostname is "localhost"."""
    return kurier_factory_module()


WITHHELD = ("SPF (shop.pl TXT)", "Return-Path MX (bounces.shop.pl MX)", "Return-Path SPF (bounces.shop.pl TXT)",
            "Tracking (track.shop.pl CNAME)")


def test_add_with_localhost_hostname_prints_no_record_naming_it(new_user):
    k = new_user
    proc = k.cli("domain", "add", "default", "shop.pl")
    out, err = proc.stdout, proc.stderr
    assert "localhost." not in out and "a:localhost" not in out, out
    assert '._domainkey.shop.pl. IN TXT ( "v=DKIM1; k=rsa; p=' in out and "_dmarc.shop.pl. IN TXT" in out
    for rec in WITHHELD:
        assert f'; {rec}: not printed while server.hostname is "localhost"' in out, out
    assert 'server.hostname is "localhost"' in err and 'server.hostname = "mail.shop.pl"' in err, err
    assert k.config in err and "kurier domain records shop.pl" in err
    # what `domain add` did besides the keys: the sender rule, and how another account gets it
    assert "Account 'default' may send from shop.pl" in out and "kurier account add-domain ACCOUNT shop.pl" in out

    rec = json.loads(k.cli("domain", "records", "shop.pl", "--json").stdout)
    by = {r["purpose"]: r for r in rec["records"]}
    for purpose in ("SPF", "Return-Path MX", "Return-Path SPF", "Tracking"):
        assert by[purpose]["publish"] is False and by[purpose]["value"] == "", by[purpose]
        assert by[purpose]["withheld_by"] == "server.hostname"
    assert by["DKIM rsa"]["publish"] and by["DMARC"]["publish"]
    assert [(p["key"], p["value"], p["fix"]) for p in rec["setting_problems"]] == [
        ("server.hostname", "localhost", 'server.hostname = "mail.shop.pl"')]
    # the flag for a DNS server of one's own never makes localhost right
    text = k.cli("domain", "records", "shop.pl", LOCAL).stdout
    assert "localhost." not in text and "a:localhost" not in text


def test_records_follow_the_hostname_once_it_is_set(new_user):
    """A test-only name is refused unless the operator says its own DNS serves it; a public name prints
    every record."""
    k = new_user
    k.cli("domain", "add", "default", "shop.pl", check=False)  # (when this test runs alone)
    try:
        set_hostname(k, "mx.shop.test")
        proc = k.cli("domain", "records", "shop.pl")
        assert "mx.shop.test." not in proc.stdout and "is under .test" in proc.stderr, proc.stderr
        assert "--allow-local-hostname" in proc.stderr
        text = k.cli("domain", "records", "shop.pl", LOCAL).stdout
        assert "bounces.shop.pl. IN MX 10 mx.shop.test." in text and "track.shop.pl. IN CNAME mx.shop.test." in text
        set_hostname(k, "mail.shop.pl")
        proc = k.cli("domain", "records", "shop.pl")
        assert proc.stderr == "" and "not printed" not in proc.stdout
        assert "bounces.shop.pl. IN MX 10 mail.shop.pl." in proc.stdout
        assert 'shop.pl. IN TXT ( "v=spf1 a:mail.shop.pl ~all" )' in proc.stdout
        assert "track.shop.pl. IN CNAME mail.shop.pl." in proc.stdout
    finally:
        set_hostname(k, "localhost")


def test_check_with_localhost_hostname_names_the_setting_and_skips_its_records(tmp_path_factory, kurier_factory_module):
    port = free_port()
    k = kurier_factory_module(f"dns.forward=127.0.0.1@{port}")
    added = json.loads(k.cli("domain", "add", "default", "lh.test", "--json").stdout)
    assert "localhost" not in " ".join(r["value"] for r in added["records"])
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), zone_lines(added["records"]), port=port)
    try:
        text = run([KURIER_BIN, "domain", "check", "lh.test", "--config", k.config], timeout=60)
        rc, r = check(k, "lh.test")
    finally:
        dns.stop()
    assert text.returncode == 1 and rc == 1 and not r["ok"] and r["verified"], r
    first = r["records"][0]
    assert first["record"] == "server.hostname" and first["name"] == "localhost" and first["hurts_delivery"]
    assert 'server.hostname = "mail.lh.test"' in first["fix"]
    by = by_record(r)
    for name in ("SPF", "Return-Path MX", "Return-Path SPF", "Tracking"):
        assert by[name]["status"] == "skipped" and not by[name]["hurts_delivery"], by[name]
    assert by["DKIM rsa (active)"]["status"] == "ok" and by["DMARC"]["status"] == "ok"
    out = text.stdout
    assert out.index("FAIL   server.hostname  localhost") < out.index("DKIM rsa (active)"), out
    assert "SKIP   Return-Path MX  bounces.lh.test" in out and "localhost." not in out


def test_help_and_output_tell_domain_add_and_account_add_domain_apart(new_user):
    k = new_user
    add_help = run([KURIER_BIN, "domain", "add", "--help"]).stdout
    assert "signed sending domain" in add_help and "kurier account add-domain" in add_help
    assert "--allow-local-hostname" in add_help
    allow_help = run([KURIER_BIN, "account", "add-domain", "--help"]).stdout
    assert "does not sign" in allow_help and "kurier domain add ACCOUNT DOMAIN" in allow_help
    out = k.cli("account", "add-domain", "default", "Unsigned.PL").stdout
    assert "account 'default' may send from unsigned.pl" in out
    assert "not DKIM-signed: 'kurier domain add default unsigned.pl'" in out
    bad = k.cli("account", "add-domain", "default", "not a domain", check=False)
    assert bad.returncode == 1 and "'not a domain' is not a domain name" in bad.stderr
    set_help = run([KURIER_BIN, "account", "set", "--help"]).stdout
    assert "SMTP submissions without X-Kurier-Track-Opens" in set_help and "API sends without track_opens" in set_help
