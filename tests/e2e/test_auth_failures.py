"""Authentication failures: wrong password, AUTH before STARTTLS, and throttling."""

import base64
import smtplib

import pytest

from conftest import make_message


def b64(s):
    return base64.b64encode(s.encode()).decode()


def auth_plain(conn, user, password):
    return conn.cmd(f"AUTH PLAIN {b64(chr(0) + user + chr(0) + password)}")


def auth_login(conn, user, password):
    code, lines = conn.cmd("AUTH LOGIN")
    if code != 334:
        return code, lines
    code, lines = conn.cmd(b64(user))
    if code != 334:
        return code, lines
    return conn.cmd(b64(password))


def tls_session(kurier):
    conn = kurier.raw(kurier.submission_port)
    assert conn.greeting()[0] == 220
    assert conn.ehlo()[0] == 250
    conn.starttls()
    code, lines = conn.ehlo()
    assert code == 250
    return conn


@pytest.mark.parametrize("auth", [auth_plain, auth_login], ids=["PLAIN", "LOGIN"])
def test_wrong_password_is_refused_and_nothing_queued(kurier, auth):
    with tls_session(kurier) as conn:
        code, lines = auth(conn, kurier.username, kurier.password + "-wrong")
        assert code == 535 and lines[-1][4:].startswith("5.7.8"), lines
        code, lines = conn.cmd("MAIL FROM:<alice@example.com>")
        assert code == 530 and lines[-1][4:].startswith("5.7.0"), lines
        code, lines = conn.cmd("RCPT TO:<bob@ext.test>")
        assert code >= 500, lines
        code, lines = conn.cmd("DATA")
        assert code >= 500, lines
    assert kurier.queue_list() == []

    # also through a real client library
    s = kurier.smtp_submission(login=False)
    try:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            s.login(kurier.username, "definitely-not-the-password")
        assert err.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPSenderRefused) as err:
            s.sendmail("alice@example.com", ["bob@ext.test"],
                       make_message("alice@example.com", "bob@ext.test", "x", "x"))
        assert err.value.smtp_code == 530
    finally:
        s.close()
    assert kurier.queue_list() == []


def test_unknown_user_is_refused(kurier):
    with tls_session(kurier) as conn:
        code, lines = auth_plain(conn, "nosuchuser", kurier.password)
        assert code == 535, lines
        assert conn.cmd("MAIL FROM:<alice@example.com>")[0] == 530


def test_auth_before_starttls_is_refused(kurier):
    with kurier.raw(kurier.submission_port) as conn:
        code, lines = conn.greeting()
        assert code == 220 and lines[0].endswith("ESMTP kurier"), lines
        code, lines = conn.ehlo()
        assert code == 250
        features = [l[4:].upper() for l in lines[1:]]
        assert "STARTTLS" in features, lines
        assert not any(f.startswith("AUTH") for f in features), f"AUTH advertised before TLS: {lines}"
        # the right password, in clear text: must be refused, not used
        code, lines = auth_plain(conn, kurier.username, kurier.password)
        assert code == 538 and lines[-1][4:].startswith("5.7.11"), lines
        code, lines = conn.cmd("AUTH LOGIN")
        assert code == 538, lines
        code, lines = conn.cmd("MAIL FROM:<alice@example.com>")
        assert code == 530, f"not authenticated, MAIL must be refused: {lines}"
        code, lines = conn.cmd("RCPT TO:<bob@ext.test>")
        assert code >= 500, lines
    assert kurier.queue_list() == []


def test_auth_throttling_after_max_failures(kurier_factory):
    # auth.max_failures counts the failures of one client address (issue 12, item 3): after three, that
    # address is blocked; other addresses are not (see test_hardening_smtp.py)
    kurier = kurier_factory("auth.max_failures=3")
    # three failures, each on its own connection, all from 127.0.0.1
    for attempt in range(3):
        with tls_session(kurier) as conn:
            code, lines = auth_plain(conn, kurier.username, f"wrong-{attempt}")
            assert code == 535, f"attempt {attempt + 1}: {lines}"

    # now even the right password is turned away from this address, on a new connection
    with tls_session(kurier) as conn:
        code, lines = auth_plain(conn, kurier.username, kurier.password)
        assert code == 454 and lines[-1][4:].startswith("4.7.0"), \
            f"expected 454 4.7.0 after 3 failures, got {lines}"
        assert "your address" in lines[-1] and "kurier auth unblock" in lines[-1], lines
        code, lines = conn.cmd("MAIL FROM:<alice@example.com>")
        assert code == 530, lines
    # and through smtplib too (AUTH LOGIN path)
    s = kurier.smtp_submission(login=False)
    try:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            s.login(kurier.username, kurier.password)
        assert err.value.smtp_code == 454
    finally:
        s.close()
    assert kurier.queue_list() == []

    failures = kurier.events("auth_failed")
    assert len(failures) >= 3, failures
    assert all(e["type"] == "auth_failed" for e in failures)
    assert not [e for e in kurier.events("accepted")]


def test_auth_failures_are_recorded_as_events(kurier):
    for attempt in range(2):
        with tls_session(kurier) as conn:
            assert auth_plain(conn, kurier.username, f"bad-{attempt}")[0] == 535
    events = kurier.events("auth_failed")
    assert len(events) == 2, events
    assert all(e["type"] == "auth_failed" and e.get("time") for e in events), events
    # the unfiltered list contains them too
    all_events = kurier.events()
    assert sum(1 for e in all_events if e["type"] == "auth_failed") == 2
