"""RFC 5322 2.1.1: a line of a message is at most 998 octets. Mail submitted with longer lines (an
application that writes a whole HTML page on one line, a header that was never folded) leaves kurier
within the limit: header lines folded at white space, long body lines re-encoded (quoted-printable for
text, base64 otherwise), before DKIM signing, so the signatures verify and the receiving MX (aiosmtpd
here, which refuses lines over 1001 octets with "500 Line too long") takes it. What cannot be fitted (a
header line with no white space in it) is refused at the end of DATA with 550 5.6.0 naming the line, and
the HTTP API's raw route gives the same answer for the same message."""

import email
import email.policy
import json
import smtplib
import uuid

import dkim
import pytest

from conftest import Kurier
from receivers import mx_world

WORDS = " ".join(f"word{i}" for i in range(160))  # about 1,300 octets, spaces between (under smtp.limits.max_data_line)
HTML = "<html><body><p>" + "".join(f"<span>item {i}</span>" for i in range(60)) + "</p></body></html>"  # one line of about 1,500 octets


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with mx_world(str(tmp_path_factory.mktemp("dns")), "long-rx.test", "127.0.0.61") as w:
        yield w


@pytest.fixture(scope="module")
def k(world, tmp_path_factory):
    dns, port, _ = world
    k = Kurier(tmp_path_factory.mktemp("kurier-long"), sets=(f"dns.forward={dns.forward}", f"delivery.port={port}"),
               delivery=True)
    k.start()
    added = json.loads(k.cli("domain", "add", "default", "shop.test", "--json").stdout)
    k.dkim_records = {r["name"] + ".": r["value"] for r in added["records"] if r["purpose"].startswith("DKIM")}
    yield k
    k.stop()


def message(marker, subject=WORDS, extra=""):
    return (f"From: Shop <orders@shop.test>\r\nTo: <buyer@long-rx.test>\r\nSubject: {marker} {subject}\r\n{extra}"
            f"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            f"Message-ID: <{marker}@client.test>\r\n\r\n{HTML}\r\n<p>{marker}</p>\r\n").encode()


def check_delivered(k, rec, marker, sent):
    content = rec.wait_for(marker)[2]
    longest = max(len(line) for line in content.split(b"\r\n"))
    assert longest <= 998, f"a line of {longest} octets left kurier"
    got = email.message_from_bytes(content, policy=email.policy.default)
    want = email.message_from_bytes(sent, policy=email.policy.default)
    assert got["Subject"] == want["Subject"], "the folded Subject reads back the same"
    assert got["Content-Transfer-Encoding"] == "quoted-printable"
    assert got.get_content() == want.get_content(), "the re-encoded body reads back the same"
    d = dkim.DKIM(content)
    dnsfunc = lambda name, timeout=5: k.dkim_records[name.decode()].encode()
    assert d.verify(idx=0, dnsfunc=dnsfunc), "the signature covers the fitted message"


def test_smtp_long_header_and_body_lines_leave_within_the_limit(world, k):
    _, _, rec = world
    marker = uuid.uuid4().hex
    sent = message(marker)
    assert max(len(line) for line in sent.split(b"\r\n")) > 998
    with smtplib.SMTP("127.0.0.1", k.relay_port, timeout=10) as s:
        s.sendmail("orders@shop.test", ["buyer@long-rx.test"], sent)
    check_delivered(k, rec, marker, sent)


def test_api_raw_long_lines_are_fitted_the_same_way(world, k):
    _, _, rec = world
    marker = uuid.uuid4().hex
    sent = message(marker)
    status, body = k.api("POST", "/v1/messages/raw",
                         {"from": "orders@shop.test", "to": ["buyer@long-rx.test"], "message": sent.decode()})
    assert status == 202, body
    check_delivered(k, rec, marker, sent)


def test_a_line_that_cannot_be_folded_is_refused_by_smtp_and_api_alike(k):
    marker = uuid.uuid4().hex
    sent = message(marker, subject="short", extra="X-Order-Token: " + "t" * 1200 + "\r\n")
    with smtplib.SMTP("127.0.0.1", k.relay_port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            s.sendmail("orders@shop.test", ["buyer@long-rx.test"], sent)
    smtp_text = refused.value.smtp_error.decode()
    assert refused.value.smtp_code == 550 and smtp_text.startswith("5.6.0"), smtp_text
    assert "line 4 is longer than 998 octets" in smtp_text and "no white space" in smtp_text, smtp_text
    status, body = k.api("POST", "/v1/messages/raw",
                         {"from": "orders@shop.test", "to": ["buyer@long-rx.test"], "message": sent.decode()})
    assert status == 422, body
    details = json.dumps(body)
    assert "line 4 is longer than 998 octets" in details and "no white space" in details, body


def test_a_line_over_max_data_line_is_refused_by_the_raw_route_naming_it(k):
    """Over smtp.limits.max_data_line (2048) the raw route refuses, as SMTP's DATA would, naming the line
    (bare LF line ends count as CRLF ones)."""
    sent = "From: orders@shop.test\nTo: buyer@long-rx.test\nSubject: s\n\nshort\n" + "x" * 2049 + "\nend\n"
    status, body = k.api("POST", "/v1/messages/raw",
                         {"from": "orders@shop.test", "to": ["buyer@long-rx.test"], "message": sent})
    assert status == 422, body
    assert "line 6 is longer than smtp.limits.max_data_line (2048 octets)" in json.dumps(body), body
    ok = sent.replace("x" * 2049, "x" * 2048)
    status, body = k.api("POST", "/v1/messages/raw", {"from": "orders@shop.test", "to": ["buyer@long-rx.test"], "message": ok})
    assert status != 422 or "max_data_line" not in json.dumps(body), body
