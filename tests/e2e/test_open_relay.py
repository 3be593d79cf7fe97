"""kurier is not an open relay: without AUTH nothing is accepted on the
submission ports, whatever address tricks are used, and the relay listener
only serves its configured networks."""

import shutil
import smtplib

import pytest

from conftest import HOST, RawSMTP, run

EXT = "ext.test"
IP = "[127.0.0.1]"
LOCAL = "localhost"

# the sender and recipient forms nmap's smtp-open-relay script tries
SENDERS = ["<>", "<antispam@example.com>", f"<antispam@{EXT}>", f"<antispam@{IP}>",
           f"<antispam@{LOCAL}>"]
RECIPIENTS = [
    f"<victim@{EXT}>",
    f"<victim%{EXT}@{LOCAL}>",
    f"<victim%{EXT}@{IP}>",
    f'<"victim@{EXT}">',
    f'<"victim%{EXT}">',
    f"<victim@{EXT}@{IP}>",
    f'<"victim@{EXT}"@{IP}>',
    f"<victim@{EXT}@{LOCAL}>",
    f"<@{IP}:victim@{EXT}>",
    f"<@{LOCAL}:victim@{EXT}>",
    f"<{EXT}!victim>",
    f"<{EXT}!victim@{IP}>",
    f"<{EXT}!victim@{LOCAL}>",
    "<postmaster>",
    f"<victim@{LOCAL}>",
]


def unauthenticated_session(kurier, port_kind):
    if port_kind == "587-starttls":
        conn = RawSMTP(kurier.submission_port)
        assert conn.greeting()[0] == 220
        assert conn.ehlo()[0] == 250
        conn.starttls()
    else:
        conn = RawSMTP(kurier.submissions_port, implicit_tls=True)
        assert conn.greeting()[0] == 220
    assert conn.ehlo()[0] == 250
    return conn


def try_command(conn, line):
    """Reply code, or None when the server hung up (which is a refusal too)."""
    try:
        return conn.cmd(line)
    except ConnectionError:
        return None, ["<connection closed>"]


@pytest.mark.parametrize("port_kind", ["587-starttls", "465-tls"])
def test_no_relay_without_auth(kurier, port_kind):
    results = []
    for sender in SENDERS:
        for rcpt in RECIPIENTS:
            with unauthenticated_session(kurier, port_kind) as conn:
                mail = try_command(conn, f"MAIL FROM:{sender}")
                rcpt_reply = try_command(conn, f"RCPT TO:{rcpt}")
                data = try_command(conn, "DATA")
                results.append((sender, rcpt, mail, rcpt_reply, data))
                if data[0] == 354:  # must never happen; finish cleanly so we can see it queued
                    conn.send("Subject: relayed\r\n\r\nrelayed\r\n.\r\n")
                    conn.reply()

    bad = []
    for sender, rcpt, mail, rcpt_reply, data in results:
        if mail[0] != 530:
            bad.append(f"MAIL FROM:{sender} -> {mail[1]} (expected 530 5.7.0)")
        if rcpt_reply[0] is not None and rcpt_reply[0] < 400:
            bad.append(f"MAIL FROM:{sender} RCPT TO:{rcpt} -> accepted: {rcpt_reply[1]}")
        if data[0] is not None and data[0] < 400:
            bad.append(f"MAIL FROM:{sender} RCPT TO:{rcpt} DATA -> {data[1]}")
    assert not bad, "unauthenticated relaying possible:\n" + "\n".join(bad)
    assert all(m[0] == 530 and m[1][-1][4:].startswith("5.7.0") for _, _, m, _, _ in results)
    assert kurier.queue_list() == []


@pytest.mark.parametrize("port_kind", ["submission", "submissions"])
def test_nmap_smtp_open_relay(kurier, port_kind):
    nmap = shutil.which("nmap")
    if not nmap:
        pytest.fail("nmap is not installed: run scripts/install-deps.sh")
    port = kurier.submission_port if port_kind == "submission" else kurier.submissions_port
    proc = run([nmap, "-n", "-Pn", "-sT", "-p", str(port), "--script", "+smtp-open-relay",
                "--script-args", f"smtp-open-relay.domain={EXT},smtp-open-relay.ip=127.0.0.1,"
                                 "smtp-open-relay.to=victim,smtp-open-relay.from=antispam",
                HOST], timeout=180)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "smtp-open-relay" in out, f"the script did not run:\n{out}"
    assert "Server is an open relay" not in out, out
    assert ("Server isn't an open relay" in out
            or "Server doesn't seem to be an open relay" in out), f"unexpected nmap verdict:\n{out}"
    assert kurier.queue_list() == []


def test_relay_listener_refuses_clients_outside_its_networks(kurier_factory):
    kurier = kurier_factory('smtp.relay.networks=["10.0.0.0/8"]')
    replies = []
    refused = False
    try:
        with RawSMTP(kurier.relay_port) as conn:
            code, lines = conn.greeting()
            replies.append(lines)
            if code >= 500:
                refused = True
            else:
                for line in ["EHLO client.test", "MAIL FROM:<alice@example.com>",
                             "RCPT TO:<bob@ext.test>", "DATA"]:
                    code, lines = conn.cmd(line)
                    replies.append(lines)
                    if line.startswith(("MAIL", "RCPT", "DATA")) and 500 <= code < 600:
                        refused = True
                    if code == 354:
                        conn.send("Subject: from outside\r\n\r\nbody\r\n.\r\n")
                        replies.append(conn.reply()[1])
                        break
                    if refused:
                        break
    except ConnectionError:
        replies.append(["<connection closed>"])
    assert refused, f"client from 127.0.0.1 outside 10.0.0.0/8 was not refused with 5xx: {replies}"
    assert kurier.queue_list() == []


def test_relay_listener_accepts_its_networks_without_auth(kurier):
    """The positive control for the test above: 127.0.0.0/8 is in the default networks."""
    with smtplib.SMTP(HOST, kurier.relay_port, local_hostname="client.test", timeout=20) as s:
        s.ehlo()
        assert not s.has_extn("auth"), "the relay listener offers no AUTH"
        assert s.mail("alice@example.com")[0] == 250
        assert s.rcpt("bob@ext.test")[0] == 250
        code, resp = s.data(b"Subject: relay\r\n\r\nrelay body\r\n")
    assert code == 250, resp
    listed = kurier.queue_list()
    assert len(listed) == 1 and listed[0]["account"] == "default"
