"""Python's smtplib over implicit TLS on the submissions port, including an
8-bit UTF-8 message to an SMTPUTF8 (internationalised) address."""

import smtplib
import uuid

from conftest import HOST, plain_ctx, queued_id, split_received


def connect_465(kurier):
    s = smtplib.SMTP_SSL(HOST, kurier.submissions_port, local_hostname="client.test",
                         context=plain_ctx(), timeout=20)
    s.ehlo()
    return s


def test_smtp_ssl_submission(kurier):
    marker = uuid.uuid4().hex
    message = (f"From: <alice@example.com>\r\nTo: <bob@ext.test>\r\nSubject: {marker}\r\n"
               "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
               f"Message-ID: <{marker}@example.com>\r\n\r\nhello {marker}\r\n").encode()
    s = connect_465(kurier)
    try:
        assert not s.has_extn("starttls"), "STARTTLS must not be offered inside implicit TLS"
        assert s.has_extn("auth"), "AUTH must be offered on the implicit-TLS port"
        mechs = s.esmtp_features["auth"].upper().split()
        assert "PLAIN" in mechs and "LOGIN" in mechs, mechs
        s.login(kurier.username, kurier.password)
        assert s.mail("alice@example.com")[0] == 250
        assert s.rcpt("bob@ext.test")[0] in (250, 251)
        code, resp = s.data(message)
    finally:
        s.quit()
    assert code == 250, resp
    msg_id = queued_id(b"250 " + resp)
    assert msg_id, resp
    assert msg_id in kurier.queue_ids()
    _, rest = split_received(kurier.queue_raw(msg_id))
    assert rest == message

    accepted = [e for e in kurier.events("accepted") if e.get("message_id") == msg_id]
    assert accepted and str(accepted[0]["data"].get("tls_version", "")).startswith("TLS"), accepted


def test_smtputf8_8bit_round_trip(kurier):
    marker = uuid.uuid4().hex
    sender = "jörg@example.com"
    rcpt = "jürgen@exämple.test"
    body = f"Grüße aus Köln — 日本語のテキスト — {marker}\r\nΕλληνικά ✓\r\n"
    message = (f"From: Jörg <{sender}>\r\nTo: Jürgen <{rcpt}>\r\n"
               f"Subject: Grüße {marker}\r\nMessage-ID: <{marker}@example.com>\r\n"
               "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
               "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n" + body).encode("utf-8")

    s = connect_465(kurier)
    try:
        assert s.has_extn("smtputf8")
        assert s.has_extn("8bitmime")
        s.login(kurier.username, kurier.password)
        code, resp = s.mail(sender, ["SMTPUTF8", "BODY=8BITMIME"])
        assert code == 250, resp
        code, resp = s.rcpt(rcpt)
        assert code in (250, 251), resp
        code, resp = s.data(message)
    finally:
        s.quit()
    assert code == 250, resp
    msg_id = queued_id(b"250 " + resp)
    assert msg_id, resp

    shown = kurier.queue_show(msg_id)
    assert shown["mail_from"] == sender
    assert shown["recipients"] == [rcpt]
    assert shown["smtputf8"] is True
    assert "8bit" in str(shown["body_type"]).lower(), shown["body_type"]
    _, rest = split_received(kurier.queue_raw(msg_id))
    assert rest == message, f"sent:\n{message!r}\nstored:\n{rest!r}"

    listed = [m for m in kurier.queue_list() if m["id"] == msg_id]
    assert listed and listed[0]["recipients"] == [rcpt]
