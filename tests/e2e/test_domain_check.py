"""`kurier domain check DOMAIN` against a local DNS server: with the right records every line is OK and
the exit status 0; missing and wrong records are each named with the published value, what was
expected and the fix, and the exit status is 1."""

import json

import pytest

from conftest import KURIER_BIN, free_port, run
from dns_peer import Unbound


def txt(name, value):
    parts = " ".join('"%s"' % value[i:i + 255] for i in range(0, len(value), 255))
    return f"{name}. 300 IN TXT {parts}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, kurier_factory_module):
    port = free_port()
    k = kurier_factory_module(f"dns.forward=127.0.0.1@{port}")
    added = {d: json.loads(k.cli("domain", "add", "default", d, "--json").stdout)
             for d in ("good.test", "missing.test", "wrong.test")}
    other = json.loads(k.cli("domain", "add", "default", "other.test", "--json").stdout)
    zone = []
    for r in added["good.test"]["records"]:
        zone.append(txt(r["name"], r["value"]))
    zone += [txt("_dmarc.good.test", "v=DMARC1; p=none; rua=mailto:reports@good.test"),
             txt("good.test", "v=spf1 a mx ~all")]
    wrong = {r["algorithm"]: r for r in added["wrong.test"]["records"]}
    other_rsa = [r for r in other["records"] if r["algorithm"] == "rsa"][0]
    zone += [txt(wrong["rsa"]["name"], other_rsa["value"]),                           # someone else's key
             txt(wrong["ed25519"]["name"], wrong["ed25519"]["value"].replace("k=ed25519", "k=rsa")),
             txt("_dmarc.wrong.test", "v=DMARC1; p=maybe"),
             txt("wrong.test", "v=spf1 a ~all"), txt("wrong.test", "v=spf1 mx ~all")]
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), zone, port=port)
    yield k, added
    dns.stop()


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
    proc = run([KURIER_BIN, "domain", "check", domain, "--json", "--config", k.config], timeout=60)
    return proc.returncode, json.loads(proc.stdout)


def test_right_records_pass(setup):
    k, _ = setup
    rc, r = check(k, "good.test")
    assert rc == 0 and r["ok"], r
    assert [x["status"] for x in r["records"]] == ["ok"] * 4, r


def test_missing_records_are_named_with_their_fix(setup):
    k, added = setup
    rc, r = check(k, "missing.test")
    assert rc == 1 and not r["ok"]
    by = {x["name"]: x for x in r["records"]}
    for rec in added["missing.test"]["records"]:
        f = by[rec["name"]]
        assert f["status"] == "missing" and f["hurts_delivery"]
        assert f["fix"] == 'publish %s TXT "%s"' % (rec["name"], rec["value"])
    assert by["_dmarc.missing.test"]["status"] == "missing" and "v=DMARC1; p=none" in by["_dmarc.missing.test"]["fix"]
    spf = by["missing.test"]
    assert spf["status"] == "missing" and not spf["hurts_delivery"], "a missing SPF record warns only"
    text = run([KURIER_BIN, "domain", "check", "missing.test", "--config", k.config], timeout=60).stdout
    assert "FAIL" in text and "fix: publish" in text and "is not ready" in text


def test_wrong_records_show_published_expected_and_fix(setup):
    k, added = setup
    rc, r = check(k, "wrong.test")
    assert rc == 1
    by = {x["record"]: x for x in r["records"]}
    rsa, ed = by["DKIM rsa"], by["DKIM ed25519"]
    assert rsa["status"] == "wrong" and "not the one kurier signs with" in rsa["fix"] and rsa["published"] != rsa["expected"]
    assert ed["status"] == "wrong" and "k=rsa should be k=ed25519" in ed["fix"]
    assert by["DMARC"]["status"] == "wrong" and "p=maybe is not a policy" in by["DMARC"]["fix"]
    assert by["SPF"]["status"] == "wrong" and "merge them into one" in by["SPF"]["fix"] and by["SPF"]["hurts_delivery"]


def test_verification_gate_outside_sandbox(tmp_path_factory, kurier_factory):
    """Outside sandbox mode, mail from a sending domain is refused (550 5.7.1, naming the command to run)
    until `kurier domain check` has seen its DKIM records; then it is accepted."""
    import smtplib
    from conftest import plain_ctx
    port = free_port()
    k = kurier_factory(f"dns.forward=127.0.0.1@{port}", start=False)
    added = json.loads(k.cli("domain", "add", "default", "gate.test", "--json").stdout)
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), [txt(r["name"], r["value"]) for r in added["records"]], port=port)
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
