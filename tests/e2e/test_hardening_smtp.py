"""Hardening of the SMTP side (issue 12): what an attacker or a careless client can do to the listeners.

Item 0: an exception inside one SMTP session (a bug) ends that session with 451 4.3.0 and one log line;
        work handed to another thread (the auth workers) fails that one operation; the server goes on.
        The fault is injected with KURIER_TEST_THROW (tests only, see smtp_server.cpp).
Item 5: slowloris: the command timeout counts from the start of a command line; DATA has a minimum rate;
        the timeout texts say what happened.
Item 4: the header From (and Sender) of a submission must be one field and name the account's domains.
Item 3: auth throttling per address and per (address, username), never a lock-out of others.
"""
import base64
import json
import smtplib
import socket
import ssl
import time

import pytest

from conftest import HOST, RawSMTP, make_message, plain_ctx

SENDER = "alice@example.com"
TOKEN = "KURIER-FAULT-7f3a9c"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def submit(k, msg, sender=SENDER, rcpts=("bob@ext.test",)):
    with smtplib.SMTP(HOST, k.submission_port, local_hostname="client.test", timeout=20) as s:
        s.starttls(context=plain_ctx())
        s.login(k.username, k.password)
        return s.sendmail(sender, list(rcpts), msg)


def raw_session(k, port=None, implicit_tls=False, source=None, timeout=20):
    """A RawSMTP after the greeting and EHLO (and STARTTLS on the submission port)."""
    port = port or k.submission_port
    conn = RawSMTP.__new__(RawSMTP)
    conn.timeout = timeout
    conn.sock = socket.create_connection((HOST, port), timeout=timeout,
                                         source_address=(source, 0) if source else None)
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if implicit_tls:
        conn.sock = plain_ctx().wrap_socket(conn.sock, server_hostname="localhost")
    conn.buf = b""
    conn.transcript = []
    assert conn.greeting()[0] == 220
    assert conn.ehlo()[0] == 250
    if port == k.submission_port:
        conn.starttls()
        assert conn.ehlo()[0] == 250
    return conn


def data_transaction(conn, msg, sender=SENDER):
    assert conn.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    assert conn.cmd("RCPT TO:<bob@ext.test>")[0] == 250
    assert conn.cmd("DATA")[0] == 354
    conn.send(msg + b".\r\n")
    return conn.reply()


def assert_closed(conn):
    with pytest.raises((ConnectionError, OSError)):
        for _ in range(3):
            conn.cmd("NOOP")


# --------------------------------------------------------------------------------------------------
# item 0: no exception escapes a connection
# --------------------------------------------------------------------------------------------------

@pytest.fixture
def faulty(kurier_factory, monkeypatch):
    k = kurier_factory(start=False)
    monkeypatch.setenv("KURIER_TEST_THROW", TOKEN)
    k.start()
    return k


@pytest.mark.parametrize("listener", ["submission", "submissions", "relay"])
def test_exception_in_a_session_ends_it_with_451_and_the_server_goes_on(faulty, listener):
    k = faulty
    port = {"submission": k.submission_port, "submissions": k.submissions_port, "relay": k.relay_port}[listener]
    conn = raw_session(k, port, implicit_tls=listener == "submissions")
    if listener != "relay":
        assert conn.auth_plain(k.username, k.password)[0] == 235
    code, lines = data_transaction(conn, make_message(SENDER, "bob@ext.test", "boom", f"body {TOKEN}"))
    assert code == 451 and lines[-1][4:].startswith("4.3.0") and "internal error" in lines[-1].lower(), lines
    assert_closed(conn)
    conn.close()
    assert k.running(), "the server ended"
    errors = [l for l in k.stderr().splitlines() if "ended by an internal error" in l and "KURIER_TEST_THROW" in l]
    assert len(errors) == 1, k.stderr()[-3000:]
    # the same server takes an ordinary message on the same listener
    conn = raw_session(k, port, implicit_tls=listener == "submissions")
    if listener != "relay":
        assert conn.auth_plain(k.username, k.password)[0] == 235
    code, lines = data_transaction(conn, make_message(SENDER, "bob@ext.test", "fine", "ordinary body"))
    assert code == 250, lines
    conn.close()
    assert len(k.queue_ids()) == 1


def test_exception_on_the_auth_worker_fails_that_auth_only(faulty):
    k = faulty
    with raw_session(k) as conn:
        code, lines = conn.auth_plain(TOKEN, "whatever")
        assert code == 454 and lines[-1][4:].startswith("4.7.0"), lines
        # the session goes on, and so does the server
        assert conn.auth_plain(k.username, k.password)[0] == 235
    assert k.running()
    assert "KURIER_TEST_THROW fault injected in the auth worker" in k.stderr()
    submit(k, make_message(SENDER, "bob@ext.test", "after", "after the fault"))
    assert len(k.queue_ids()) == 1
