"""Nodemailer submits with requireTLS (STARTTLS) and AUTH on the submission port."""

import email
import email.policy
import json
import os
import uuid

import pytest

from conftest import E2E_DIR, HOST, queued_id, require_tool, run

SCRIPT = r"""
const nodemailer = require('nodemailer');
const p = JSON.parse(process.env.KURIER_TEST_PARAMS);
const transport = nodemailer.createTransport({
  host: p.host, port: p.port, secure: false, requireTLS: true,
  name: 'client.test',
  auth: { user: p.user, pass: p.password, method: p.method },
  tls: { rejectUnauthorized: false },
  connectionTimeout: 20000, greetingTimeout: 20000, socketTimeout: 20000,
});
transport.sendMail({
  from: '"Alice" <alice@example.com>', to: 'bob@ext.test',
  subject: p.subject, text: p.text,
}).then(info => {
  console.log(JSON.stringify({ response: info.response, messageId: info.messageId,
                               accepted: info.accepted, rejected: info.rejected }));
}).catch(err => {
  console.error('SEND FAILED:', err && (err.stack || err));
  process.exit(2);
});
"""


def ensure_nodemailer():
    require_tool("node")
    if not (E2E_DIR / "node_modules" / "nodemailer").is_dir():
        npm = require_tool("npm")
        proc = run([npm, "install", "--no-audit", "--no-fund"], cwd=str(E2E_DIR), timeout=300)
        if not (E2E_DIR / "node_modules" / "nodemailer").is_dir():
            pytest.fail(f"nodemailer is not installed and npm install failed:\n{proc.stdout}\n{proc.stderr}")


@pytest.mark.parametrize("method", ["PLAIN", "LOGIN"])
def test_nodemailer_require_tls(kurier, tmp_path, method):
    ensure_nodemailer()
    script = tmp_path / "send.js"
    script.write_text(SCRIPT)
    marker = uuid.uuid4().hex
    params = {"host": HOST, "port": kurier.submission_port, "user": kurier.username,
              "password": kurier.password, "method": method,
              "subject": f"nodemailer {marker}", "text": f"body {marker}\nsecond line\n"}
    env = dict(os.environ, KURIER_TEST_PARAMS=json.dumps(params),
               NODE_PATH=str(E2E_DIR / "node_modules"))
    proc = run(["node", str(script)], env=env, timeout=60)
    assert proc.returncode == 0, f"nodemailer failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["accepted"] == ["bob@ext.test"] and not info["rejected"], info
    msg_id = queued_id(info["response"])
    assert msg_id, f"unexpected final reply {info['response']!r}"

    listed = {m["id"]: m for m in kurier.queue_list()}
    assert msg_id in listed
    assert listed[msg_id]["mail_from"] == "alice@example.com"

    raw = kurier.queue_raw(msg_id)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Message-ID"] == info["messageId"]  # the client's own, kept unchanged
    assert len(parsed.get_all("Message-ID")) == 1
    assert parsed["Subject"] == f"nodemailer {marker}"
    assert f"body {marker}" in parsed.get_content()

    shown = kurier.queue_show(msg_id)
    assert shown["credential"] == kurier.username
    accepted = [e for e in kurier.events("accepted") if e.get("message_id") == msg_id]
    assert accepted and str(accepted[0]["data"].get("tls_version", "")).startswith("TLS"), accepted
