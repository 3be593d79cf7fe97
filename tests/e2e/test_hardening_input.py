"""Hardening (issue 12, item 0): one message from any sender must never end the server.

A message whose X-Kurier-* fields hold octets that are not UTF-8 used to throw inside the spool's
committer and end the whole process (every tenant's mail down). It is now refused, naming the field,
over both ways in: SMTP submission (550 5.6.0) and POST /v1/messages/raw (422); and the same server
then takes an ordinary message over both.
"""
import smtplib

import pytest

from conftest import HOST, Kurier, plain_ctx

SENDER = "shop@harden.test"

# Each value is a header field kurier reads at acceptance; none of them is UTF-8.
BAD_FIELDS = [
    pytest.param(b"X-Kurier-Tag: \xe0\x91\x9a\x88", "X-Kurier-Tag", id="tag-invalid-utf8"),
    pytest.param(b"X-Kurier-Tag: ok, \xff\xfe", "X-Kurier-Tag", id="second-tag-invalid-utf8"),
    pytest.param(b"X-Kurier-Tag: \xc0\xaf", "X-Kurier-Tag", id="tag-overlong-slash"),
    pytest.param(b"X-Kurier-Tag: \xed\xa0\x80", "X-Kurier-Tag", id="tag-surrogate"),
    pytest.param(b'X-Kurier-Metadata: {"a": "\xff"}', "X-Kurier-Metadata", id="metadata-invalid-utf8"),
    pytest.param(b"X-Kurier-Track-Opens: y\xe9s", "X-Kurier-Track-Opens", id="flag-latin1"),
]


def message(field):
    return (b"From: " + SENDER.encode() + b"\r\nTo: you@example.net\r\nSubject: hardening\r\n" + field +
            b"\r\n\r\nbody\r\n")


def submit_smtp(k, msg):
    with smtplib.SMTP(HOST, k.submission_port, local_hostname="client.test", timeout=20) as s:
        s.starttls(context=plain_ctx())
        s.login(k.username, k.password)
        return s.sendmail(SENDER, ["you@example.net"], msg)


def submit_raw_api(k, msg):
    return k.curl("POST", "/v1/messages/raw?from=" + SENDER + "&to=you@example.net", msg,
                  content_type="message/rfc822")


@pytest.fixture(scope="module")
def k(tmp_path_factory):
    inst = Kurier(tmp_path_factory.mktemp("harden"), sender_domains=["harden.test"])
    inst.start()
    yield inst
    inst.stop()


@pytest.mark.parametrize("field,name", BAD_FIELDS)
def test_fields_that_are_not_utf8_are_refused_and_the_server_goes_on(k, field, name):
    before = set(k.queue_ids())
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit_smtp(k, message(field))
    code, text = refused.value.smtp_code, refused.value.smtp_error.decode(errors="replace")
    assert code == 550 and "5.6.0" in text and name in text and "UTF-8" in text, (code, text)

    status, _, body = submit_raw_api(k, message(field))
    assert status == 422 and name in body, (status, body)
    assert k.running(), "the server ended:\n" + k.stderr()[-3000:]

    # The same server goes on taking mail over both ways in.
    assert submit_smtp(k, message(b"X-Kurier-Tag: fine")) == {}
    status, _, body = submit_raw_api(k, message(b"X-Kurier-Tag: fine"))
    assert status == 202, body
    assert k.running(), "the server ended:\n" + k.stderr()[-3000:]
    assert len(set(k.queue_ids()) - before) == 2, "exactly the two good messages were queued"
