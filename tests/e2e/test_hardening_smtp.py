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


def open_data(conn, sender=SENDER):
    """MAIL, RCPT and DATA on a greeted connection: the server now waits for message data."""
    assert conn.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    assert conn.cmd("RCPT TO:<bob@ext.test>")[0] == 250
    assert conn.cmd("DATA")[0] == 354


def data_transaction(conn, msg, sender=SENDER):
    open_data(conn, sender)
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


def test_exception_in_the_bounce_listeners_worker_fails_that_message_only(kurier_factory, monkeypatch):
    from conftest import free_port
    inbound = free_port()
    k = kurier_factory("smtp.inbound.enabled=true", f"smtp.inbound.listen={HOST}:{inbound}",
                       sender_domains=["shop.test"], start=False)
    k.cli("domain", "add", "default", "shop.test")
    monkeypatch.setenv("KURIER_TEST_THROW", TOKEN)
    k.start()
    with RawSMTP(inbound) as conn:
        assert conn.greeting()[0] == 220
        assert conn.ehlo("mx.other.test")[0] == 250
        assert conn.cmd("MAIL FROM:<>")[0] == 250
        assert conn.cmd("RCPT TO:<anything@bounces.shop.test>")[0] == 250
        assert conn.cmd("DATA")[0] == 354
        conn.send(f"From: MAILER-DAEMON@other.test\r\nSubject: report\r\n\r\n{TOKEN}\r\n.\r\n".encode())
        code, lines = conn.reply()
        assert code == 451 and lines[-1][4:].startswith("4.3.0"), lines  # the sender retries later
        assert conn.cmd("NOOP")[0] == 250  # the session goes on
    assert k.running()
    assert "KURIER_TEST_THROW fault injected in the bounce listener's worker" in k.stderr()


# --------------------------------------------------------------------------------------------------
# item 5: slowloris
# --------------------------------------------------------------------------------------------------

def drip(conn, data, interval, limit):
    """Sends `data` one byte every `interval` seconds until the server answers (or `limit` seconds pass,
    or the data runs out); returns (seconds elapsed, what the server sent)."""
    start = time.monotonic()
    conn.sock.settimeout(interval)
    got = b""
    for i in range(len(data)):
        if time.monotonic() - start > limit:
            break
        try:
            conn.sock.sendall(data[i:i + 1])
        except OSError:
            break
        try:
            chunk = conn.sock.recv(4096)
            if not chunk:
                break
            got += chunk
            if got.endswith(b"\r\n"):
                break
        except (socket.timeout, TimeoutError):
            pass
    return time.monotonic() - start, got.decode(errors="replace")


def test_a_command_line_dripped_byte_by_byte_is_cut_at_the_command_timeout(kurier_factory):
    k = kurier_factory("smtp.limits.command_timeout=3")
    with k.raw(k.relay_port) as conn:
        assert conn.greeting()[0] == 220
        # one byte every 0.5 s: each byte comes long before the timeout, the line never ends in time
        elapsed, got = drip(conn, b"EHLO " + b"a" * 200 + b"\r\n", 0.5, limit=12)
        assert got.startswith("421 4.4.2") and "no complete command line within 3 s" in got \
            and "smtp.limits.command_timeout" in got, (elapsed, got)
        assert 2.5 <= elapsed <= 5, elapsed
        assert_closed(conn)


def test_commands_that_each_arrive_in_time_are_not_cut(kurier_factory):
    k = kurier_factory("smtp.limits.command_timeout=2")
    with k.raw(k.relay_port) as conn:
        assert conn.greeting()[0] == 220
        for _ in range(4):  # 4.8 s in all, more than the timeout; every line completes in time
            time.sleep(1.2)
            assert conn.cmd("NOOP")[0] == 250
        # a line pipelined behind a complete one gets its own clock
        conn.send("NOOP\r\nNO")
        assert conn.reply()[0] == 250
        time.sleep(1.2)
        assert conn.cmd("OP")[0] == 250


def test_message_data_slower_than_the_minimum_rate_is_cut(kurier_factory):
    k = kurier_factory("smtp.limits.data_min_rate=1000", "smtp.limits.data_rate_window=2")
    with k.raw(k.relay_port) as conn:
        assert conn.greeting()[0] == 220
        assert conn.ehlo()[0] == 250
        open_data(conn)
        elapsed, got = drip(conn, make_message(SENDER, "bob@ext.test", "slow", "x" * 400), 0.3, limit=12)
        assert got.startswith("421 4.4.2") and "too slow" in got and "1000 octets per second" in got \
            and "smtp.limits.data_min_rate" in got, (elapsed, got)
        assert 1.5 <= elapsed <= 4, elapsed
        assert_closed(conn)
    assert k.queue_ids() == []
    # a client that sends at a normal speed is not affected, even over several windows
    with k.raw(k.relay_port) as conn:
        assert conn.greeting()[0] == 220
        assert conn.ehlo()[0] == 250
        open_data(conn)
        msg = make_message(SENDER, "bob@ext.test", "steady", ("y" * 70 + "\n") * 100)
        for i in range(0, len(msg), 1500):  # ~5 KB/s over 5 s
            conn.send(msg[i:i + 1500])
            time.sleep(1)
        conn.send(b".\r\n")
        assert conn.reply()[0] == 250
    assert len(k.queue_ids()) == 1


def test_the_session_timeout_says_what_happened(kurier_factory):
    k = kurier_factory("smtp.limits.session_timeout=3", "smtp.limits.command_timeout=10")
    with k.raw(k.relay_port) as conn:
        assert conn.greeting()[0] == 220
        start = time.monotonic()
        code, lines = 250, []
        while code == 250 and time.monotonic() - start < 10:
            time.sleep(0.5)
            code, lines = conn.cmd("NOOP")
        assert code == 421 and lines[-1].startswith("421 4.4.2"), lines
        assert "Session exceeded 3 s" in lines[-1] and "smtp.limits.session_timeout" in lines[-1], lines
        assert "no input for too long" not in lines[-1]


# --------------------------------------------------------------------------------------------------
# item 4: the header From (and Sender) of a submission
# --------------------------------------------------------------------------------------------------

def header_message(*fields):
    return ("\r\n".join(fields) + "\r\nTo: bob@ext.test\r\nSubject: header from\r\n\r\nbody\r\n").encode()


HEADER_CASES = [
    # (header fields, SMTP reply code + enhanced code, API status, words the reply must contain)
    pytest.param(['From: "PayPal" <service@paypal.test>'], "550 5.7.1", 403,
                 ["From:", "paypal.test", "kurier account add-domain"], id="from-foreign-domain"),
    pytest.param(["From: alice@example.com", "Sender: ceo@bank.test"], "550 5.7.1", 403,
                 ["Sender:", "bank.test", "kurier account add-domain"], id="sender-foreign-domain"),
    pytest.param(['From: "alice@example.com" <x@evil.test>'], "550 5.7.1", 403,
                 ["From:", "evil.test"], id="display-name-looks-allowed"),
    pytest.param(["From: x@evil.test (alice@example.com)"], "550 5.7.1", 403,
                 ["From:", "evil.test"], id="comment-looks-allowed"),
    pytest.param(["From: alice@example.com,\r\n x@evil.test"], "550 5.7.1", 403,
                 ["From:", "evil.test"], id="folded-second-address-foreign"),
    pytest.param(["From: alice@example.com", "From: x@evil.test"], "550 5.6.0", 422,
                 ["2 From: header fields", "RFC 5322 3.6"], id="two-from-fields"),
    pytest.param(["Reply-To: alice@example.com"], "550 5.6.0", 422,
                 ["no From: header field"], id="no-from-field"),
    pytest.param(["From: Alice"], "550 5.6.0", 422, ["From:", "address list"], id="from-not-an-address"),
]


@pytest.fixture(scope="module")
def hk(tmp_path_factory):
    from conftest import Kurier
    inst = Kurier(tmp_path_factory.mktemp("header-from"))
    inst.start()
    yield inst
    inst.stop()


@pytest.mark.parametrize("fields,smtp_reply,api_status,words", HEADER_CASES)
def test_header_from_and_sender_are_checked_over_smtp_and_the_raw_api(hk, fields, smtp_reply, api_status, words):
    k = hk
    before = set(k.queue_ids())
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit(k, header_message(*fields))
    text = f"{refused.value.smtp_code} {refused.value.smtp_error.decode(errors='replace')}"
    assert text.startswith(smtp_reply), text
    for w in words:
        assert w in text, (w, text)
    status, _, body = k.curl("POST", f"/v1/messages/raw?from={SENDER}&to=bob@ext.test", header_message(*fields),
                             content_type="message/rfc822")
    assert status == api_status, (status, body)
    for w in words:
        assert w in body, (w, body)
    assert set(k.queue_ids()) == before
    # the same envelope with a header From at the account's domain goes through both ways
    submit(k, header_message('From: "Alice, Shop" <alice@example.com>', "Sender: alice@example.com"))
    status, _, body = k.curl("POST", f"/v1/messages/raw?from={SENDER}&to=bob@ext.test",
                             header_message("From: Shop: alice@example.com;"), content_type="message/rfc822")
    assert status == 202, body
    assert len(set(k.queue_ids()) - before) == 2


def test_the_relay_listener_is_not_a_submission(hk):
    k = hk
    before = set(k.queue_ids())
    with smtplib.SMTP(HOST, k.relay_port, local_hostname="client.test", timeout=20) as s:
        s.sendmail(SENDER, ["bob@ext.test"], header_message('From: "PayPal" <service@paypal.test>'))
    assert len(set(k.queue_ids()) - before) == 1


# --------------------------------------------------------------------------------------------------
# item 3: auth throttling that cannot lock others out
# --------------------------------------------------------------------------------------------------

def try_login(k, user, password, source):
    """One AUTH PLAIN on a fresh connection from `source`: (code, last reply line, seconds the answer took)."""
    with raw_session(k, source=source, timeout=60) as conn:
        start = time.monotonic()
        code, lines = conn.auth_plain(user, password)
        return code, lines[-1], time.monotonic() - start


def test_wrong_passwords_from_one_address_do_not_lock_the_user_out_elsewhere(kurier_factory):
    k = kurier_factory()  # the defaults: this address's 3rd to 5th failures wait 1 s, 2 s, 4 s
    for i in range(5):
        code, line, _ = try_login(k, k.username, f"wrong-{i}", "127.0.0.2")
        assert code == 535, (i, line)
    code, line, took = try_login(k, k.username, k.password, "127.0.0.3")
    assert code == 235, line
    assert took < 0.9, f"the owner's address has no failures, yet the answer took {took:.2f}s"


def test_an_owner_who_mistypes_three_times_with_smtplib_gets_in(kurier):
    k = kurier
    for i in range(3):  # smtplib tries PLAIN, then LOGIN with the same wrong password: one attempt
        s = k.smtp_submission(login=False)
        try:
            with pytest.raises(smtplib.SMTPAuthenticationError) as err:
                s.login(k.username, f"typo-{i}")
            assert err.value.smtp_code == 535
        finally:
            s.close()
    start = time.monotonic()
    s = k.smtp_submission(login=False)
    try:
        code, _ = s.login(k.username, k.password)  # perhaps after a short delay, never a refusal
        assert code == 235
    finally:
        s.close()
    assert time.monotonic() - start < 10
    assert len(k.events("auth_failed")) == 3, "each smtplib run is one failed attempt"


def test_swaks_trying_every_mechanism_does_not_lock_the_owner_out(kurier):
    from conftest import require_tool, run
    k = kurier
    swaks = require_tool("swaks")
    base = [swaks, "--server", HOST, "--port", str(k.submission_port), "--ehlo", "client.test", "--tls",
            "--auth", "--auth-user", k.username, "--from", SENDER, "--to", "bob@ext.test", "--timeout", "30"]
    for i in range(3):
        proc = run(base + ["--auth-password", f"typo-{i}", "--quit-after", "AUTH"], timeout=90)
        assert "535" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    proc = run(base + ["--auth-password", k.password, "--header", "Subject: swaks after typos"], timeout=90)
    transcript = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "235" in transcript and "queued as" in transcript, transcript


def test_an_address_with_many_failures_is_blocked_and_auth_unblock_frees_it(kurier_factory):
    k = kurier_factory("auth.max_failures=4", "auth.max_delay=0")
    for i in range(4):  # different usernames: no pair is slowed down, the address is counted
        assert try_login(k, f"guess{i}", "x", "127.0.0.4")[0] == 535
    code, line, _ = try_login(k, k.username, k.password, "127.0.0.4")
    assert code == 454 and line.startswith("454 4.7.0"), line
    assert "kurier auth unblock --ip 127.0.0.4" in line and "auth.cooldown" in line, line
    # the same user from elsewhere is not affected
    assert try_login(k, k.username, k.password, "127.0.0.5")[0] == 235

    status = k.cli_json("auth", "status", "--json")
    blocked = [a for a in status["addresses"] if a["ip"] == "127.0.0.4"]
    assert len(blocked) == 1 and blocked[0]["blocked"] is True and blocked[0]["blocked_until"], status
    assert not [a for a in status["addresses"] if a["ip"] == "127.0.0.5"], status
    text = k.cli("auth", "status").stdout
    assert "127.0.0.4" in text and "BLOCKED until" in text, text

    out = k.cli("auth", "unblock", "--ip", "127.0.0.4").stdout
    assert "removed" in out, out
    assert try_login(k, k.username, k.password, "127.0.0.4")[0] == 235
    status = k.cli_json("auth", "status", "--json")
    assert not [a for a in status["addresses"] if a["ip"] == "127.0.0.4"], status
    # with nothing named, unblock says what to give
    proc = k.cli("auth", "unblock", check=False)
    assert proc.returncode != 0 and "--ip" in proc.stderr + proc.stdout


def test_auth_commands_say_when_no_server_runs(kurier_factory):
    k = kurier_factory(start=False)
    proc = k.cli("auth", "status", check=False)
    assert proc.returncode != 0 and "kurier serve" in proc.stderr + proc.stdout, proc.stderr
