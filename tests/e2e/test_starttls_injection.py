"""STARTTLS command injection (CVE-2011-0411 class): plaintext pipelined after
STARTTLS in the same TCP segment must be discarded, never executed inside TLS."""

import pytest

from conftest import RawSMTP, plain_ctx

INJECTIONS = {
    "RSET": b"RSET\r\n",
    "MAIL": b"MAIL FROM:<alice@example.com>\r\n",
    "MAIL+RCPT+DATA": b"MAIL FROM:<alice@example.com>\r\nRCPT TO:<injected@evil.test>\r\nDATA\r\n",
    "NOOP-no-newline": b"NOOP",
}


@pytest.mark.parametrize("name", list(INJECTIONS))
def test_plaintext_after_starttls_is_discarded(kurier, name):
    conn = RawSMTP(kurier.submission_port)
    with conn:
        assert conn.greeting()[0] == 220
        assert conn.ehlo()[0] == 250
        conn.send(b"STARTTLS\r\n" + INJECTIONS[name])  # one send, one segment (TCP_NODELAY)
        code, lines = conn.reply()
        assert code == 220, lines
        assert conn.buf == b"", f"server answered the injected command in plaintext: {conn.buf!r}"
        conn.sock = plain_ctx().wrap_socket(conn.sock, server_hostname="localhost")

        # the first reply over TLS must be the reply to our first TLS command
        code, lines = conn.cmd("EHLO tls.client.test")
        assert code == 250 and len(lines) > 1 and lines[0].startswith("250-"), \
            f"first reply inside TLS is not the EHLO reply (injected command executed?): {lines}"
        features = [l[4:].upper() for l in lines[1:]]
        assert any(f.startswith("AUTH") for f in features), lines
        assert "STARTTLS" not in features, lines
        assert conn.pending(wait=0.5) == b"", "extra replies pending inside TLS"

        # state is fresh: no transaction was started by injected MAIL
        code, lines = conn.cmd("RCPT TO:<bob@ext.test>")
        assert code >= 500, f"RCPT accepted: a MAIL transaction leaked in: {lines}"
        code, lines = conn.auth_plain(kurier.username, kurier.password)
        assert code == 235, lines
        code, lines = conn.cmd("RCPT TO:<bob@ext.test>")
        assert code >= 500, f"RCPT without MAIL after AUTH: {lines}"
        assert conn.pending(wait=0.3) == b""
    assert kurier.queue_list() == []
