"""`kurier bounce parse FILE... [--json]` (issue 15 item 3): what kurier reads from returned mail, with no
server, configuration or data directory. An RFC 3464 DSN with a failed and a delayed recipient, an RFC 5965
complaint and an RFC 3834 auto-reply (written after the RFCs' examples, not taken from the corpus) are
shown one row per recipient under a header, or as JSON with every key; "-" reads stdin; ordinary mail and
a missing file are named on stderr with what was expected, and the exit status is 1 while the good files
are still shown."""

import json
import subprocess

from conftest import KURIER_BIN, run

DSN = """From: MAILER-DAEMON@mx.example.net
To: bounces+abc@bounces.shop.example
Subject: Returned mail: see transcript for details
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

The following addresses had delivery problems.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; louisl@larry.example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; larry.example.org
Diagnostic-Code: smtp; 550 5.1.1 <louisl@larry.example.org>... User unknown

Final-Recipient: rfc822; pat@full.example.org
Action: failed
Status: 5.2.2
Remote-MTA: dns; full.example.org
Diagnostic-Code: smtp; 552 5.2.2 <pat@full.example.org>: mailbox full, quota exceeded

--B1
Content-Type: text/rfc822-headers

Message-ID: <order-7@shop.example>
From: orders@shop.example
To: louisl@larry.example.org
Subject: Your order

--B1--
"""

ARF = """From: <abusedesk@example.com>
To: <abuse@shop.example>
Subject: FW: Your order
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="part1"

--part1
Content-Type: text/plain

This is an email abuse report.

--part1
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Rcpt-To: <user@example.com>
Source-IP: 192.0.2.1

--part1
Content-Type: message/rfc822

From: <orders@shop.example>
To: <user@example.com>
Subject: Your order
Message-ID: <order-8@shop.example>

Hello
--part1--
"""

PLAIN = "From: friend@example.org\nTo: orders@shop.example\nSubject: Lunch?\n\nShall we meet at noon?\n"

RECIPIENT_KEYS = {"address", "action", "status", "reply_code", "reply", "remote_mta", "reporting_mta",
                  "smtp_command", "reason", "classification", "rule"}


def parse(*args, stdin=None, tmp=None):
    return subprocess.run([KURIER_BIN, "bounce", "parse", *args], input=stdin, capture_output=True, text=True,
                          timeout=60, cwd=tmp)


def test_text_output_one_row_per_recipient(tmp_path):
    (tmp_path / "dsn.eml").write_text(DSN)
    (tmp_path / "arf.eml").write_text(ARF)
    proc = parse("dsn.eml", "arf.eml", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["FILE", "KIND", "RECIPIENT", "ACTION", "STATUS", "CLASS", "REASON", "RULE", "REPLY"]
    assert len(lines) == 4, proc.stdout
    first, second, third = (line.split() for line in lines[1:])
    assert first[:7] == ["dsn.eml", "bounce", "louisl@larry.example.org", "failed", "5.1.1", "hard", "userunknown"]
    assert "User unknown" in lines[1]
    assert second[:7] == ["dsn.eml", "bounce", "pat@full.example.org", "failed", "5.2.2", "soft", "mailboxfull"]
    assert third[:6] == ["arf.eml", "complaint", "user@example.com", "-", "-", "-"], third
    assert "feedback" in third and "abuse" in lines[3]


def test_json_from_stdin_has_every_key():
    proc = parse("--json", "-", stdin=DSN)
    assert proc.returncode == 0, proc.stderr
    [report] = json.loads(proc.stdout)
    assert report["file"] == "-" and report["kind"] == "bounce"
    assert report["original"]["message_id"] == "order-7@shop.example" and report["reporting_mta"] == "mx.example.net"
    hard, soft = report["recipients"]
    assert set(hard) == RECIPIENT_KEYS and set(soft) == RECIPIENT_KEYS
    assert (hard["address"], hard["action"], hard["status"], hard["reason"], hard["classification"]) == \
        ("louisl@larry.example.org", "failed", "5.1.1", "userunknown", "hard")
    assert hard["reply_code"] == 550 and "User unknown" in hard["reply"] and hard["remote_mta"] == "larry.example.org"
    assert (soft["reason"], soft["classification"]) == ("mailboxfull", "soft")
    # Each names the rule that decided, with its source.
    assert any(w in hard["rule"] for w in ("5.1.1", "userunknown")), hard["rule"]
    assert any(w in soft["rule"] for w in ("5.2.2", "mailboxfull")), soft["rule"]


def test_complaint_as_json(tmp_path):
    (tmp_path / "arf.eml").write_text(ARF)
    proc = parse("--json", str(tmp_path / "arf.eml"))
    assert proc.returncode == 0, proc.stderr
    [report] = json.loads(proc.stdout)
    assert report["kind"] == "complaint" and report["feedback_type"] == "abuse" and report["source_ip"] == "192.0.2.1"
    [r] = report["recipients"]
    assert r["address"] == "user@example.com" and r["reason"] == "feedback" and r["classification"] is None
    assert r["rule"] == "ARF report (RFC 5965)"


def test_not_a_bounce_and_missing_files_are_named(tmp_path):
    (tmp_path / "dsn.eml").write_text(DSN)
    (tmp_path / "lunch.eml").write_text(PLAIN)
    proc = parse("lunch.eml", "dsn.eml", "nowhere.eml", tmp=tmp_path)
    assert proc.returncode == 1
    assert "lunch.eml: not a bounce: expected a delivery status notification (RFC 3464" in proc.stderr, proc.stderr
    assert "nowhere.eml: no such file" in proc.stderr, proc.stderr
    # The good file is still shown.
    assert "louisl@larry.example.org" in proc.stdout and "lunch.eml" not in proc.stdout
    proc = parse("--json", "lunch.eml", tmp=tmp_path)
    assert proc.returncode == 1 and json.loads(proc.stdout)[0]["kind"] == "not_bounce"
    proc = parse(tmp=tmp_path)
    assert proc.returncode == 2 and "FILE" in proc.stderr, proc.stderr
    # Text that is not a message at all (notes, a web page's copy) is refused before any reading: a status
    # code and an address in prose must not become a bounce.
    (tmp_path / "notes.md").write_text("# Notes\n\nswaks --to you@example.net said 550 5.7.1 relay denied\n")
    proc = parse("notes.md", tmp=tmp_path)
    assert proc.returncode == 1 and "notes.md: not an email message: it does not start with header fields" \
        in proc.stderr, proc.stderr
    assert "you@example.net" not in proc.stdout, proc.stdout


def test_needs_no_configuration(tmp_path):
    """No --config, no data directory: a configuration path that does not exist changes nothing."""
    (tmp_path / "dsn.eml").write_text(DSN)
    proc = run([KURIER_BIN, "bounce", "parse", str(tmp_path / "dsn.eml")],
               env={"KURIER_CONFIG": str(tmp_path / "missing.toml"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and "userunknown" in proc.stdout, proc.stderr
