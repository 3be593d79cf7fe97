"""PHPMailer (Debian's libphp-phpmailer) submits with SMTPSecure='tls' (STARTTLS) and SMTPAuth."""

import email
import email.policy
import json
import os
import uuid

from conftest import HOST, require_tool, run

AUTOLOAD = "/usr/share/php/libphp-phpmailer/autoload.php"

SCRIPT = r"""<?php
require '%(autoload)s';
use PHPMailer\PHPMailer\PHPMailer;
use PHPMailer\PHPMailer\Exception;

$p = json_decode(getenv('KURIER_TEST_PARAMS'), true);
$m = new PHPMailer(true);
$m->isSMTP();
$m->Host = $p['host'];
$m->Port = $p['port'];
$m->SMTPAuth = true;
$m->AuthType = $p['auth_type'];
$m->Username = $p['user'];
$m->Password = $p['password'];
$m->SMTPSecure = 'tls';
$m->SMTPAutoTLS = true;
$m->Timeout = 20;
$m->SMTPOptions = ['ssl' => ['verify_peer' => false, 'verify_peer_name' => false,
                             'allow_self_signed' => true]];
$m->SMTPDebug = 3;
$m->Debugoutput = function ($str, $level) { fwrite(STDERR, $str . "\n"); };
$m->CharSet = 'UTF-8';
$m->setFrom($p['from'], 'Alice');
$m->addAddress($p['to'], 'Bob');
$m->Subject = $p['subject'];
$m->Body = $p['body'];
try {
    $m->send();
} catch (Exception $e) {
    fwrite(STDERR, "SEND FAILED: " . $m->ErrorInfo . "\n");
    exit(2);
}
echo json_encode(['transaction_id' => $m->getSMTPInstance()->getLastTransactionID(),
                  'message_id' => $m->getLastMessageID()]), "\n";
"""


def test_phpmailer_starttls_auth(kurier, tmp_path):
    php = require_tool("php")
    assert os.path.exists(AUTOLOAD), f"{AUTOLOAD} missing (package libphp-phpmailer)"
    script = tmp_path / "send.php"
    script.write_text(SCRIPT % {"autoload": AUTOLOAD})
    marker = uuid.uuid4().hex
    params = {"host": HOST, "port": kurier.submission_port, "auth_type": "LOGIN",
              "user": kurier.username, "password": kurier.password,
              "from": "alice@example.com", "to": "bob@ext.test",
              "subject": f"phpmailer {marker}", "body": f"Hallöchen {marker}"}
    env = dict(os.environ, KURIER_TEST_PARAMS=json.dumps(params))
    proc = run([php, str(script)], env=env, timeout=60)
    assert proc.returncode == 0, f"PHPMailer failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])

    # PHPMailer recognises the "250 2.0.0 Ok: queued as ID" reply itself
    msg_id = result["transaction_id"]
    assert msg_id, f"PHPMailer found no transaction id in the DATA reply:\n{proc.stderr}"
    assert "STARTTLS" in proc.stderr
    listed = {m["id"]: m for m in kurier.queue_list()}
    assert msg_id in listed, f"{msg_id} not in {sorted(listed)}"
    assert listed[msg_id]["recipients"] == ["bob@ext.test"]

    parsed = email.message_from_bytes(kurier.queue_raw(msg_id), policy=email.policy.default)
    assert parsed["Message-ID"] == result["message_id"]  # kept as the client set it
    assert parsed["Subject"] == f"phpmailer {marker}"
    assert f"Hallöchen {marker}" in parsed.get_content()
