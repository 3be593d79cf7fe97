"""ARC (RFC 8617) seals made by kurier pass dkimpy's `arc_verify`, the ARC verifier of Debian's
python3-dkim: by hand with `kurier dkim arc-seal` over varied messages, and at delivery, where mail
received on the relay listener leaves sealed when arc.enabled is on. A message altered after sealing
fails; a message that already carries an ARC chain is not sealed (kurier does not validate incoming
chains, so it does not extend them), and Ed25519 keys are refused (ARC verifiers, dkimpy's included,
accept rsa-sha256 only), as documented in src/dkim/arc.hpp."""

import smtplib
import time
import uuid

import authres  # python3-authres: dkimpy's ARC code needs it, and it parses the AAR payload here
import dkim
import pytest

from conftest import KURIER_BIN, free_port, run
from dns_peer import Unbound
from receivers import Receiver, Recorder
from test_delivery import events_for
from test_dkim_verifiers import MESSAGES

SEALER = "seal.test"
AUTHSERV_ID = "relay.seal.test"
CHAIN_REFUSED = ("message already carries an ARC chain (i=1); kurier does not validate incoming chains yet, "
                 "so it does not extend them")


def keygen(directory, algorithm):
    path = directory / f"{algorithm}.pem"
    proc = run([KURIER_BIN, "dkim", "keygen", "--algorithm", algorithm, "--out", str(path)], check=True)
    return algorithm, path, proc.stdout.strip().encode()


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return keygen(tmp_path_factory.mktemp("arc"), "rsa")


def seal(key_path, message, results=None, check=True):
    cmd = [KURIER_BIN, "dkim", "arc-seal", "--domain", SEALER, "--selector", "arc", "--key", str(key_path),
           "--authserv-id", AUTHSERV_ID]
    if results is not None:
        cmd += ["--results", results]
    proc = run(cmd, input=message, text=False, check=check)
    return proc if not check else proc.stdout


def dnsfunc_for(record, name=b"arc._domainkey.seal.test."):
    def dnsfunc(qname, timeout=5):
        assert qname == name, qname
        return record
    return dnsfunc


def arc_verify(message, record):
    cv, results, reason = dkim.arc_verify(message, dnsfunc=dnsfunc_for(record))
    return cv, reason


def header_fields(message):
    """(name, unfolded value) of each header field, top to bottom."""
    head = message.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ").replace(b"\r\n ", b"  ")
    return [tuple(part.strip() for part in line.split(b":", 1)) for line in head.split(b"\r\n")]


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_seal_passes_arcverify(key, name):
    alg, path, record = key
    sealed = seal(path, MESSAGES[name], results="arc=none smtp.remote-ip=192.0.2.1")
    assert sealed.endswith(MESSAGES[name]), "the message itself is not changed"
    fields = header_fields(sealed)
    assert [f[0] for f in fields[:3]] == [b"ARC-Seal", b"ARC-Message-Signature", b"ARC-Authentication-Results"]
    assert fields[0][1].startswith(b"i=1; a=rsa-sha256; cv=none; d=seal.test; s=arc; t="), fields[0]
    assert fields[1][1].startswith(b"i=1; a=rsa-sha256; c=relaxed/relaxed; d=seal.test;"), fields[1]
    assert not any(tag.strip().startswith(b"v=") for tag in fields[1][1].split(b";")), "the AMS has no v= tag"
    cv, reason = arc_verify(sealed, record)
    assert cv == dkim.CV_Pass, f"arcverify rejected kurier's seal on the {name} message: {reason}"


def test_aar_is_valid_authentication_results(key):
    alg, path, record = key
    sealed = seal(path, MESSAGES["simple"], results='arc=none smtp.remote-ip="2001:db8::25"')
    aar = dict(header_fields(sealed))[b"ARC-Authentication-Results"].decode()
    instance, payload = aar.split(";", 1)
    assert instance == "i=1"
    parsed = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + payload)
    assert parsed.authserv_id == AUTHSERV_ID
    [result] = parsed.results
    assert (result.method, result.result) == ("arc", "none")
    assert [(p.type, p.name, p.value) for p in result.properties] == [("smtp", "remote-ip", "2001:db8::25")]


@pytest.mark.parametrize("alteration", ["body", "subject", "added from", "aar", "ams removed"])
def test_altered_message_fails_arcverify(key, alteration):
    alg, path, record = key
    sealed = seal(path, MESSAGES["simple"], results="arc=none smtp.remote-ip=192.0.2.1")
    assert arc_verify(sealed, record)[0] == dkim.CV_Pass
    if alteration == "body":
        bad = sealed.replace(b"Hello Bob.", b"Hello Eve.")
    elif alteration == "subject":
        bad = sealed.replace(b"Subject: hello", b"Subject: HELLO there")
    elif alteration == "added from":  # From is over-signed by the AMS
        bad = sealed.replace(b"From: Alice", b"From: Mallory <m@evil.test>\r\nFrom: Alice")
    elif alteration == "aar":  # the seal covers the AAR: claiming a pass breaks it
        bad = sealed.replace(b"arc=none smtp.remote-ip=192.0.2.1", b"arc=pass smtp.remote-ip=192.0.2.1")
    else:
        start = sealed.index(b"ARC-Message-Signature:")
        end = sealed.index(b"ARC-Authentication-Results:")
        bad = sealed[:start] + sealed[end:]
    assert bad != sealed
    cv, reason = arc_verify(bad, record)
    assert cv == dkim.CV_Fail, f"an altered ({alteration}) message must fail arcverify, got {cv!r}: {reason}"


def test_dkim_signature_survives_and_is_covered(key):
    """Signed by `dkim sign`, then sealed: both verify, and the AMS signs the DKIM-Signature."""
    alg, path, record = key
    signed = run([KURIER_BIN, "dkim", "sign", "--domain", SEALER, "--selector", "arc", "--key", str(path)],
                 input=MESSAGES["multipart with attachment"], text=False, check=True).stdout
    sealed = seal(path, signed)
    assert b"dkim-signature" in dict(header_fields(sealed))[b"ARC-Message-Signature"].split(b"h=")[1].split(b";")[0]
    assert arc_verify(sealed, record)[0] == dkim.CV_Pass
    assert dkim.verify(sealed, dnsfunc=dnsfunc_for(record)), "the DKIM signature below the ARC set still verifies"
    spaced = sealed.replace(b"d=seal.test; s=arc; t=", b"d=seal.test;  s=arc; t=", 1)  # in the AS
    assert spaced != sealed and arc_verify(spaced, record)[0] == dkim.CV_Pass, "relaxed: whitespace may change"


def test_ed25519_keys_are_refused(tmp_path):
    alg, path, record = keygen(tmp_path, "ed25519")
    proc = seal(path, MESSAGES["simple"], check=False)
    assert proc.returncode == 1 and proc.stdout == b""
    assert "ARC seals need an RSA key" in proc.stderr.decode(), proc.stderr


def test_message_with_an_arc_chain_is_refused(key):
    alg, path, record = key
    once = seal(path, MESSAGES["simple"])
    proc = seal(path, once, check=False)
    assert proc.returncode == 1 and proc.stdout == b""
    assert CHAIN_REFUSED in proc.stderr.decode(), proc.stderr
    # A chain begun elsewhere (dkimpy's own sealer, i=1) is refused the same way, naming its instance.
    msg = b"Authentication-Results: mx.other.test; spf=pass smtp.mailfrom=alice@sign.test\r\n" + MESSAGES["simple"]
    other = b"".join(dkim.arc_sign(msg, b"arc", b"other.test", path.read_bytes(), b"mx.other.test")) + msg
    assert other.startswith(b"ARC-Seal: ")
    proc = seal(path, other, check=False)
    assert proc.returncode == 1 and CHAIN_REFUSED in proc.stderr.decode(), proc.stderr


# ---- at delivery ------------------------------------------------------------------------------------

ZONE = ["arc-rx.test. 300 IN MX 10 mx.arc-rx.test.", "mx.arc-rx.test. 300 IN A 127.0.0.24"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), ZONE)
    port = free_port()
    rec = Recorder()
    rx = Receiver("127.0.0.24", port, rec)
    keydir = tmp_path_factory.mktemp("arc-delivery")
    keyfile = keydir / "arc.pem"
    record = run([KURIER_BIN, "dkim", "keygen", "--algorithm", "rsa", "--out", str(keyfile)],
                 check=True).stdout.strip().encode()
    yield dns, port, rec, keyfile, record
    rx.stop()
    dns.stop()


def sealing_kurier(kurier_factory, world, key_file=None, start=True):
    dns, port, rec, keyfile, record = world
    return kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "arc.enabled=true",
                          f"arc.domain={SEALER}", f"arc.key_file={key_file or keyfile}",
                          f"server.hostname={AUTHSERV_ID}", delivery=True, start=start)


def message(sender, marker, extra=b""):
    return (f"From: Shop <{sender}>\r\nTo: <buyer@arc-rx.test>\r\nSubject: relayed {marker}\r\n"
            f"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <{marker}@client.test>\r\n").encode() + extra + \
           f"\r\nRelayed for a customer, {marker}.\r\n".encode()


def test_relayed_mail_arrives_sealed_and_passes_arcverify(world, kurier_factory):
    dns, port, rec, keyfile, record = world
    k = sealing_kurier(kurier_factory, world)
    marker = uuid.uuid4().hex
    sent = message("orders@customer.test", marker)
    with smtplib.SMTP("127.0.0.1", k.relay_port, timeout=10) as s:
        s.sendmail("orders@customer.test", ["buyer@arc-rx.test"], sent)
    content = rec.wait_for(marker)[2]
    assert content.startswith(b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=seal.test; s=arc; t="), content[:300]
    assert content.endswith(sent)
    aar = dict(header_fields(content))[b"ARC-Authentication-Results"]
    assert aar == b"i=1; relay.seal.test; arc=none smtp.remote-ip=127.0.0.1", aar
    cv, reason = arc_verify(content, record)
    assert cv == dkim.CV_Pass, reason
    assert events_for(k, "buyer@arc-rx.test", types=("delivered",))


def test_submitted_mail_and_mail_with_a_chain_are_not_sealed(world, kurier_factory):
    dns, port, rec, keyfile, record = world
    k = sealing_kurier(kurier_factory, world)
    marker = uuid.uuid4().hex
    with k.smtp_submission() as s:  # authenticated submission: kurier's own customer, not relayed mail
        s.sendmail("alice@example.com", ["buyer@arc-rx.test"], message("alice@example.com", marker))
    assert b"ARC-" not in rec.wait_for(marker)[2]

    marker = uuid.uuid4().hex
    chained = seal(keyfile, message("orders@customer.test", marker))  # sealed once already (i=1)
    with smtplib.SMTP("127.0.0.1", k.relay_port, timeout=10) as s:
        s.sendmail("orders@customer.test", ["buyer@arc-rx.test"], chained)
    content = rec.wait_for(marker)[2]
    assert content.count(b"ARC-Seal:") == 1, "kurier did not add a second set to a chain it cannot validate"
    assert content.endswith(chained)
    assert arc_verify(content, record)[0] == dkim.CV_Pass, "the chain it carried arrives intact"
    for _ in range(100):
        if CHAIN_REFUSED in k.stderr():
            break
        time.sleep(0.05)
    assert CHAIN_REFUSED in k.stderr(), "the log says why the message went unsealed"


def test_dsns_kurier_writes_itself_are_not_sealed(world, kurier_factory):
    """A DSN also has no SMTP credential, but it is kurier's own mail, not mail relayed for a client."""
    dns, port, rec, keyfile, record = world
    k = sealing_kurier(kurier_factory, world)
    marker = uuid.uuid4().hex
    rec.rcpt_replies[f"gone-{marker[:8]}@arc-rx.test"] = "550 5.1.1 no such user here"
    sender = f"orders-{marker[:8]}@arc-rx.test"
    with smtplib.SMTP("127.0.0.1", k.relay_port, timeout=10) as s:
        s.sendmail(sender, [f"gone-{marker[:8]}@arc-rx.test"], message(sender, marker))
    mail_from, rcpts, content = rec.wait_for(marker)
    assert (mail_from, rcpts) == ("<>", [sender]), "the DSN came back to the relay client's sender"
    assert b"ARC-" not in content.split(b"\r\n\r\n", 1)[0], content[:400]


@pytest.mark.parametrize("problem", ["missing", "ed25519"])
def test_serve_refuses_to_start_without_a_usable_key(world, kurier_factory, tmp_path, problem):
    if problem == "missing":
        key_file, want = tmp_path / "nowhere.pem", "cannot be read"
    else:
        key_file, want = keygen(tmp_path, "ed25519")[1], "an ARC key must be RSA"
    k = sealing_kurier(kurier_factory, world, key_file=key_file, start=False)
    with pytest.raises(AssertionError) as err:
        k.start()
    assert f"arc.key_file: {key_file}" in str(err.value) and want in str(err.value), str(err.value)[-2000:]
    assert "kurier dkim keygen --algorithm rsa" in str(err.value)


def test_configuration_names_the_missing_domain(tmp_path):
    proc = run([KURIER_BIN, "init", "--dir", str(tmp_path / "k"), "--set", "arc.enabled=true"])
    assert proc.returncode == 1
    assert "arc.domain: needed when arc.enabled is true" in proc.stderr, proc.stderr
