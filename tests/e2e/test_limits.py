"""Configured limits: message size, recipients, command line length, idle
timeout, connections per IP, and allowed sender domains."""

import time
import uuid

import pytest

from conftest import RawSMTP, queued_id

MAX_SIZE = 10000


@pytest.fixture
def limited(kurier_factory):
    return kurier_factory(f"smtp.limits.max_message_size={MAX_SIZE}", "smtp.limits.max_recipients=3")


def authed_session(kurier):
    conn = RawSMTP(kurier.submission_port)
    assert conn.greeting()[0] == 220
    assert conn.ehlo()[0] == 250
    conn.starttls()
    code, lines = conn.ehlo()
    assert code == 250
    assert conn.auth_plain(kurier.username, kurier.password)[0] == 235
    return conn, lines


def body_of_size(n, tag):
    head = f"From: alice@example.com\r\nSubject: size {tag}\r\n\r\n".encode()
    line = b"y" * 78 + b"\r\n"
    body = head
    while len(body) + len(line) <= n:
        body += line
    return body


def test_size_is_advertised_and_oversize_size_param_refused_at_mail(limited):
    conn, ehlo = authed_session(limited)
    with conn:
        features = [l[4:] for l in ehlo[1:]]
        assert f"SIZE {MAX_SIZE}" in features, ehlo
        code, lines = conn.cmd(f"MAIL FROM:<alice@example.com> SIZE={MAX_SIZE * 2}")
        assert code == 552 and lines[-1][4:].startswith("5.3.4"), lines
        # a SIZE within the limit is fine
        code, lines = conn.cmd(f"MAIL FROM:<alice@example.com> SIZE={MAX_SIZE // 2}")
        assert code == 250, lines
    assert limited.queue_list() == []


def test_oversize_body_refused_after_data(limited):
    tag = uuid.uuid4().hex
    conn, _ = authed_session(limited)
    with conn:
        assert conn.cmd("MAIL FROM:<alice@example.com>")[0] == 250
        assert conn.cmd("RCPT TO:<bob@ext.test>")[0] == 250
        assert conn.cmd("DATA")[0] == 354
        conn.send(body_of_size(MAX_SIZE * 3, tag) + b".\r\n")
        code, lines = conn.reply()
        assert code == 552 and lines[-1][4:].startswith("5.3.4"), lines
        assert limited.queue_list() == []

        # the session goes on, and a message within the limit is accepted
        assert conn.cmd("MAIL FROM:<alice@example.com>")[0] == 250
        assert conn.cmd("RCPT TO:<bob@ext.test>")[0] == 250
        assert conn.cmd("DATA")[0] == 354
        conn.send(body_of_size(MAX_SIZE // 2, tag) + b".\r\n")
        code, lines = conn.reply()
        assert code == 250, lines
    ids = limited.queue_ids()
    assert ids == [queued_id(lines[-1])]


def test_too_many_recipients(limited):
    conn, _ = authed_session(limited)
    with conn:
        assert conn.cmd("MAIL FROM:<alice@example.com>")[0] == 250
        for i in range(3):
            code, lines = conn.cmd(f"RCPT TO:<r{i}@ext.test>")
            assert code == 250, lines
        code, lines = conn.cmd("RCPT TO:<r3@ext.test>")
        assert code == 452 and lines[-1][4:].startswith("4.5.3"), lines
        assert conn.cmd("DATA")[0] == 354
        conn.send(b"From: alice@example.com\r\nSubject: three recipients\r\n\r\nhello\r\n.\r\n")
        code, lines = conn.reply()
        assert code == 250, lines
    msg_id = queued_id(lines[-1])
    shown = limited.queue_show(msg_id)
    assert shown["recipients"] == ["r0@ext.test", "r1@ext.test", "r2@ext.test"]


@pytest.mark.parametrize("line", ["MAIL FROM:<" + "a" * 700 + "@example.com>", "NOOP " + "x" * 2000],
                         ids=["long-MAIL", "long-NOOP"])
def test_overlong_command_line(kurier, line):
    with RawSMTP(kurier.relay_port) as conn:
        assert conn.greeting()[0] == 220
        assert conn.ehlo()[0] == 250
        code, lines = conn.cmd(line)
        assert code == 500, lines
    assert kurier.queue_list() == []


def test_idle_command_timeout(kurier_factory):
    kurier = kurier_factory("smtp.limits.command_timeout=2")
    with RawSMTP(kurier.relay_port, timeout=15) as conn:
        assert conn.greeting()[0] == 220
        assert conn.ehlo()[0] == 250
        start = time.monotonic()
        code, lines = conn.reply()  # nothing sent: the next thing is the timeout reply
        elapsed = time.monotonic() - start
        assert code == 421, lines
        assert 1.5 <= elapsed <= 8, f"timeout reply after {elapsed:.1f}s, configured 2s"
        with pytest.raises(ConnectionError):
            conn.read_line()  # and then the server closes the connection


def test_max_connections_per_ip(kurier_factory):
    kurier = kurier_factory("smtp.limits.max_connections_per_ip=2")

    def served_connection():
        # the readiness probe's connection may not be reaped yet: retry briefly
        deadline = time.monotonic() + 5
        while True:
            conn = RawSMTP(kurier.relay_port)
            try:
                code, lines = conn.greeting()
            except ConnectionError:
                code, lines = None, ["<closed>"]
            if code == 220:
                return conn
            conn.close()
            assert time.monotonic() < deadline, f"connection not served: {lines}"
            time.sleep(0.2)

    first = served_connection()
    second = served_connection()
    try:
        with RawSMTP(kurier.relay_port) as third:
            code, lines = third.reply()
            assert code == 421, f"third connection from one IP: {lines}"
            with pytest.raises(ConnectionError):
                third.read_line()
        # the first two still work
        assert first.cmd("NOOP")[0] == 250
        assert second.cmd("NOOP")[0] == 250
    finally:
        first.close()
        second.close()
    # once they are gone, a new connection is served again
    deadline = time.monotonic() + 5
    while True:
        with RawSMTP(kurier.relay_port) as again:
            code, lines = again.reply()
        if code == 220 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert code == 220, lines


def test_sender_domain_not_allowed(kurier):
    conn, _ = authed_session(kurier)
    with conn:
        code, lines = conn.cmd("MAIL FROM:<alice@not-allowed.test>")
        assert code == 550 and lines[-1][4:].startswith("5.7.1"), lines
        text = " ".join(lines)
        assert "kurier " in text, f"the reply should name the kurier command that fixes it: {lines}"
        # the allowed domain works in the same session
        assert conn.cmd("MAIL FROM:<alice@example.com>")[0] == 250
    assert kurier.queue_list() == []


def test_extra_sender_domains_from_init(kurier_factory):
    kurier = kurier_factory(sender_domains=["one.test", "two.test"])
    conn, _ = authed_session(kurier)
    with conn:
        assert conn.cmd("MAIL FROM:<a@one.test>")[0] == 250
        assert conn.cmd("RSET")[0] == 250
        assert conn.cmd("MAIL FROM:<a@two.test>")[0] == 250
        assert conn.cmd("RSET")[0] == 250
        code, lines = conn.cmd("MAIL FROM:<a@example.com>")
        assert code == 550, f"example.com is only the default when no --sender-domain is given: {lines}"
