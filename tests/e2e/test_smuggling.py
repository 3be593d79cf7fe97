"""SMTP smuggling: end-of-data look-alikes made of bare LF, bare CR or NUL
must not end the message, and the commands hidden behind them must never run.
The message is refused with 550 5.5.2 after the real CRLF.CRLF."""

import uuid

import pytest

from conftest import RawSMTP

VARIANTS = {
    "LF.LF": b"\n.\n",
    "LF.CRLF": b"\n.\r\n",
    "CR.CR": b"\r.\r",
    "CR.CRLF": b"\r.\r\n",
    "CRLF-NUL.CRLF": b"\r\n\x00.\r\n",
    "LF.CR": b"\n.\r",
    "CR.LF": b"\r.\n",
}


def open_relay_session(kurier):
    conn = RawSMTP(kurier.relay_port)
    assert conn.greeting()[0] == 220
    assert conn.ehlo()[0] == 250
    return conn


def open_tls_session(kurier):
    conn = RawSMTP(kurier.submission_port)
    assert conn.greeting()[0] == 220
    assert conn.ehlo()[0] == 250
    conn.starttls()
    assert conn.ehlo()[0] == 250
    code, lines = conn.auth_plain(kurier.username, kurier.password)
    assert code == 235, lines
    return conn


SESSIONS = {"relay-plain": open_relay_session, "587-tls-auth": open_tls_session}


@pytest.mark.parametrize("variant", list(VARIANTS), ids=list(VARIANTS))
@pytest.mark.parametrize("transport", list(SESSIONS))
def test_smuggled_end_of_data_is_refused(kurier_module, transport, variant):
    kurier = kurier_module
    tag = uuid.uuid4().hex[:12]
    smuggled_from = f"smuggled-{tag}@example.com"
    smuggled_to = f"smuggled-{tag}@evil.test"
    before = kurier.queue_list()

    payload = (
        b"From: <alice@example.com>\r\nTo: <bob@ext.test>\r\n"
        + f"Subject: outer {tag}\r\n\r\n".encode()
        + b"first part of the body"
        + VARIANTS[variant]
        + f"MAIL FROM:<{smuggled_from}>\r\nRCPT TO:<{smuggled_to}>\r\nDATA\r\n".encode()
        + f"From: <{smuggled_from}>\r\nTo: <{smuggled_to}>\r\nSubject: smuggled {tag}\r\n\r\n".encode()
        + b"smuggled body\r\n"
        + b"\r\n.\r\n"
    )

    with SESSIONS[transport](kurier) as conn:
        assert conn.cmd("MAIL FROM:<alice@example.com>")[0] == 250
        assert conn.cmd("RCPT TO:<bob@ext.test>")[0] == 250
        assert conn.cmd("DATA")[0] == 354
        conn.send(payload)
        code, end_of_data_reply = conn.reply()
        assert code == 550, \
            f"{variant}: expected 550 5.5.2 after the real end of data, got {end_of_data_reply}"
        # no replies to smuggled commands may follow
        extra = conn.pending(wait=1.0)
        assert extra == b"", f"{variant}: server sent unrequested replies {extra!r}"
        # the session is back in command state, and only our commands get replies
        code, lines = conn.cmd("RSET")
        assert code == 250, lines
        code, lines = conn.cmd("NOOP")
        assert code == 250, lines
        assert conn.pending(wait=0.3) == b""
        conn.cmd("QUIT")

    after = kurier.queue_list()
    smuggled = [m for m in after
                if m["mail_from"] == smuggled_from or smuggled_to in m["recipients"]]
    assert not smuggled, f"{variant}: a smuggled message was spooled: {smuggled}"
    new = [m for m in after if m["id"] not in {b["id"] for b in before}]
    assert len(new) <= 1, f"{variant}: more than one message spooled: {new}"
    assert new == [], f"{variant}: the refused message was spooled anyway: {new}"
    # checked last, so that the safety properties above are reported first
    assert end_of_data_reply[-1][4:].startswith("5.5.2"), \
        f"{variant}: expected enhanced status 5.5.2, got {end_of_data_reply}"


@pytest.mark.parametrize("transport", list(SESSIONS))
def test_clean_message_after_refusal_is_accepted(kurier_module, transport):
    """Control: the same session framing with a clean body is accepted, so the
    refusals above are about the bare CR/LF/NUL and nothing else."""
    kurier = kurier_module
    tag = uuid.uuid4().hex[:12]
    with SESSIONS[transport](kurier) as conn:
        assert conn.cmd("MAIL FROM:<alice@example.com>")[0] == 250
        assert conn.cmd("RCPT TO:<bob@ext.test>")[0] == 250
        assert conn.cmd("DATA")[0] == 354
        conn.send(f"From: alice@example.com\r\nSubject: clean {tag}\r\n\r\nfirst part of the body\r\n.\r\n".encode())
        code, lines = conn.reply()
        assert code == 250, lines
        conn.cmd("QUIT")
    assert any(f"clean {tag}".encode() in kurier.queue_raw(m["id"]) for m in kurier.queue_list())
