"""msmtp (as a sendmail replacement would be configured) submits over STARTTLS
on 587 and over implicit TLS on 465; a message without Message-ID gets one."""

import email
import email.policy
import os
import uuid

import pytest

from conftest import HOST, queued_id, require_tool, run, split_received


def msmtp_config(kurier, path, port, starttls):
    path.write_text(
        "defaults\n"
        "auth plain\n"
        "tls on\n"
        f"tls_starttls {'on' if starttls else 'off'}\n"
        "tls_certcheck off\n"
        "set_msgid_header off\n"
        "set_date_header off\n"
        "account kurier\n"
        f"host {HOST}\n"
        f"port {port}\n"
        "domain client.test\n"
        "from alice@example.com\n"
        f"user {kurier.username}\n"
        f"password {kurier.password}\n"
        "account default : kurier\n")
    os.chmod(path, 0o600)


@pytest.mark.parametrize("mode", ["starttls-587", "tls-465"])
def test_msmtp_submission(kurier, tmp_path, mode):
    msmtp = require_tool("msmtp")
    starttls = mode == "starttls-587"
    port = kurier.submission_port if starttls else kurier.submissions_port
    cfg = tmp_path / "msmtprc"
    msmtp_config(kurier, cfg, port, starttls)
    marker = uuid.uuid4().hex
    message = (f"From: Alice <alice@example.com>\nTo: Bob <bob@ext.test>\n"
               f"Subject: msmtp {marker}\n\nbody {marker}\n").encode()

    proc = run([msmtp, "-C", str(cfg), "-d", "bob@ext.test"], input=message,
               text=False, timeout=60)
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    assert proc.returncode == 0, f"msmtp failed (exit {proc.returncode}):\n{out}"
    msg_id = queued_id(out)
    assert msg_id, f"no '250 2.0.0 Ok: queued as ID' in msmtp's debug output:\n{out}"

    listed = {m["id"]: m for m in kurier.queue_list()}
    assert msg_id in listed
    assert listed[msg_id]["mail_from"] == "alice@example.com"
    assert listed[msg_id]["recipients"] == ["bob@ext.test"]

    raw = kurier.queue_raw(msg_id)
    _, rest = split_received(raw)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == f"msmtp {marker}"
    assert f"body {marker}" in parsed.get_content()
    # msmtp was told not to add a Message-ID: kurier must have added exactly one
    assert b"Message-ID" not in message
    assert len(parsed.get_all("Message-ID") or []) == 1, raw
    assert parsed["Message-ID"].strip().startswith("<") and parsed["Message-ID"].strip().endswith(">")
    # the sent headers and body are there unchanged (msmtp sends CRLF line ends)
    assert message.replace(b"\n", b"\r\n").split(b"\r\n\r\n", 1)[1] == rest.split(b"\r\n\r\n", 1)[1]
