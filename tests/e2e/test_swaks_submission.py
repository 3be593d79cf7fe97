"""swaks submits over STARTTLS on the submission port with AUTH PLAIN and AUTH LOGIN."""

import uuid

import pytest

from conftest import HOST, queued_id, require_tool, run


def swaks_has_tls(swaks):
    proc = run([swaks, "--support"], timeout=30)
    return "TLS supported" in proc.stdout + proc.stderr


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_swaks_starttls_auth_submission(kurier, mechanism):
    swaks = require_tool("swaks")
    if not swaks_has_tls(swaks):
        pytest.fail("swaks has no TLS support (Perl Net::SSLeay missing: "
                    "scripts/install-deps.sh should install libnet-ssleay-perl)")
    marker = f"swaks-{mechanism}-{uuid.uuid4().hex}"
    proc = run([swaks, "--server", HOST, "--port", str(kurier.submission_port),
                "--ehlo", "client.test", "--tls",
                "--auth", mechanism, "--auth-user", kurier.username,
                "--auth-password", kurier.password,
                "--from", "alice@example.com", "--to", "bob@ext.test",
                "--header", f"Subject: {marker}", "--body", f"body {marker}",
                "--timeout", "20"], timeout=60)
    transcript = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"swaks failed (exit {proc.returncode}):\n{transcript}"

    # before TLS, no AUTH offered; after TLS, AUTH PLAIN LOGIN offered
    lines = transcript.splitlines()
    starttls_at = [i for i, l in enumerate(lines) if l.strip() == "-> STARTTLS"]
    assert starttls_at, f"swaks did not issue STARTTLS:\n{transcript}"
    before_tls, after_tls = lines[:starttls_at[0]], lines[starttls_at[0]:]
    assert not any("AUTH" in l for l in before_tls if l.startswith("<-")), \
        f"AUTH advertised before TLS:\n{transcript}"
    assert any("AUTH" in l and "PLAIN" in l and "LOGIN" in l
               for l in after_tls if l.startswith("<~")), f"AUTH PLAIN LOGIN not advertised after TLS:\n{transcript}"
    assert any(l.startswith("<~  235") for l in after_tls), f"authentication did not succeed:\n{transcript}"

    msg_id = queued_id(transcript)
    assert msg_id, f"no '250 2.0.0 Ok: queued as ID' in swaks transcript:\n{transcript}"

    listed = {m["id"]: m for m in kurier.queue_list()}
    assert msg_id in listed, f"{msg_id} not in queue list {sorted(listed)}"
    entry = listed[msg_id]
    assert entry["mail_from"] == "alice@example.com"
    assert entry["recipients"] == ["bob@ext.test"]
    assert entry["account"] == "default"

    shown = kurier.queue_show(msg_id)
    assert shown["credential"] == kurier.username
    assert shown["client_ip"] == "127.0.0.1"
    assert marker.encode() in kurier.queue_raw(msg_id)

    accepted = [e for e in kurier.events("accepted") if e.get("message_id") == msg_id]
    assert len(accepted) == 1, f"expected one accepted event for {msg_id}, got {accepted}"
    data = accepted[0]["data"]
    assert data["account"] == "default"
    assert data["credential"] == kurier.username
    assert data["client_ip"] == "127.0.0.1"
    assert str(data.get("tls_version", "")).startswith("TLS"), data
    assert data.get("tls_cipher"), data
