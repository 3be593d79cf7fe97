"""DKIM signatures made by kurier's signer (`kurier dkim keygen` / `kurier dkim sign`) verify with an
independent implementation, dkimpy, for RSA-SHA256 and Ed25519-SHA256 over varied messages, and fail
once the message is altered."""

import base64

import dkim  # Debian's python3-dkim (dkimpy)
import pytest

from conftest import KURIER_BIN, run

MESSAGES = {
    "simple": b"From: Alice <alice@sign.test>\r\nTo: bob@example.net\r\nSubject: hello\r\n"
              b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <1@sign.test>\r\n\r\nHello Bob.\r\n",
    "long folded headers": b"From: alice@sign.test\r\nTo: bob@example.net,\r\n\tcarol@example.net,\r\n  dave@example.net\r\n"
                           b"Subject: " + b"very long subject " * 12 + b"\r\n\tcontinued  with   spaces\r\n\r\nbody\r\n",
    "8-bit body": "From: alice@sign.test\r\nTo: bob@example.net\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n"
                  "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                  "Grüße aus Köln — ½ €\r\n".encode(),
    "empty body": b"From: alice@sign.test\r\nTo: bob@example.net\r\nSubject: empty\r\n\r\n",
    "trailing blank lines": b"From: alice@sign.test\r\nTo: bob@example.net\r\nSubject: t\r\n\r\nline  with  spaces \t\r\n\r\n\r\n\r\n",
    "multipart with attachment": (
        b"From: alice@sign.test\r\nTo: bob@example.net\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"x.bin\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(bytes(range(256)) * 4).replace(b"\n", b"\r\n") +
        b"--b1--\r\n"),
}


@pytest.fixture(scope="module", params=["rsa", "ed25519"])
def key(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("dkim") / f"{request.param}.pem"
    proc = run([KURIER_BIN, "dkim", "keygen", "--algorithm", request.param, "--out", str(path)], check=True)
    record = proc.stdout.strip()
    assert record.startswith(f"v=DKIM1; k={request.param}; p="), record
    assert oct(path.stat().st_mode & 0o777) == "0o600", "private keys are readable by their owner only"
    return request.param, path, record.encode()


def sign(key_path, message):
    proc = run([KURIER_BIN, "dkim", "sign", "--domain", "sign.test", "--selector", "sel", "--key", str(key_path)],
               input=message, text=False, check=True)
    return proc.stdout


def verify(signed, record):
    def dnsfunc(name, timeout=5):
        assert name == b"sel._domainkey.sign.test.", name
        return record
    return dkim.verify(signed, dnsfunc=dnsfunc)


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_signature_verifies_with_dkimpy(key, name):
    alg, path, record = key
    signed = sign(path, MESSAGES[name])
    unfolded = signed.replace(b"\r\n\t", b" ")
    assert unfolded.startswith(b"DKIM-Signature: v=1; a=%s-sha256; c=relaxed/relaxed; d=sign.test; s=sel;" % alg.encode())
    assert signed.endswith(MESSAGES[name]), "the message itself is not changed"
    assert verify(signed, record), f"dkimpy rejected kurier's {alg} signature on the {name} message"


@pytest.mark.parametrize("alteration", ["body", "subject", "added from"])
def test_altered_message_fails(key, alteration):
    alg, path, record = key
    signed = sign(path, MESSAGES["simple"])
    if alteration == "body":
        bad = signed.replace(b"Hello Bob.", b"Hello Eve.")
    elif alteration == "subject":
        bad = signed.replace(b"Subject: hello", b"Subject: HELLO there")
    else:  # From is over-signed: a second From added after signing must break the signature
        bad = signed.replace(b"From: Alice", b"From: Mallory <m@evil.test>\r\nFrom: Alice")
    assert bad != signed
    assert not verify(bad, record), f"an altered ({alteration}) message must not verify"
