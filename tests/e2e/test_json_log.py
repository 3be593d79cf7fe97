"""log.format = "json": every line `kurier serve` writes is one JSON object, even one made from hostile
input (an AUTH username with quotes, control characters and bytes that are not UTF-8)."""

import base64
import json
import re
import socket

from conftest import KURIER_BIN, run

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HOSTILE = b'ev"il\\ \x01\x1b[31m\r\n{"level":"error"} \xff\xfe caf\xc3\xa9'


def test_every_log_line_is_one_json_object(kurier_factory):
    k = kurier_factory("log.format=json")
    conn = k.raw(k.submission_port)
    assert conn.greeting()[0] == 220
    assert conn.ehlo()[0] == 250
    conn.starttls()
    assert conn.ehlo()[0] == 250
    token = base64.b64encode(b"\0" + HOSTILE + b"\0wrong password").decode()
    assert conn.cmd(f"AUTH PLAIN {token}")[0] == 535
    conn.close()
    assert k.stop() == 0
    raw = re.sub(rb"\n===== start #\d+ =====\n", b"", k.stderr_path.read_bytes())  # the fixture's marker
    lines = raw.split(b"\n")
    assert lines[-1] == b"", "the log ends with a complete line"
    records = []
    for line in lines[:-1]:
        record = json.loads(line.decode("utf-8"))  # valid UTF-8 and valid JSON, one object per line
        assert set(record) == {"time", "level", "message"}, record
        assert TIME_RE.match(record["time"]), record["time"]
        assert record["level"] in ("trace", "debug", "info", "warning", "error", "critical"), record
        records.append(record)
    messages = [r["message"] for r in records]
    assert any(m.startswith("kurier ready") for m in messages), messages
    assert messages[-1] == "stopped", messages
    failed = [r for r in records if "AUTH PLAIN failed" in r["message"]]
    assert len(failed) == 1, messages
    # The username is in the one line, escaped; the forged JSON inside it stays text in "message".
    assert failed[0]["level"] == "warning"
    assert 'username="ev\\"il' in failed[0]["message"], failed[0]
    assert '{\\"level\\":\\"error\\"}' in failed[0]["message"], failed[0]


def test_text_is_the_default_and_json_is_documented(tmp_path):
    template = run([KURIER_BIN, "config", "template"], check=True).stdout
    assert re.search(r'^\[log\]\n(#.*\n)+level = "info"\n#[^\n]*"json": one JSON object per line[^\n]*\nformat = "text"$',
                     template, re.M), template[-800:]
    bad = tmp_path / "kurier.toml"
    bad.write_text(template.replace('format = "text"', 'format = "xml"'))
    proc = run([KURIER_BIN, "config", "check", "--config", str(bad)])
    assert proc.returncode == 1
    assert 'log.format: "xml" is not a format; use "text" or "json"' in proc.stdout


def test_a_fatal_error_is_a_json_line_too(kurier_factory):
    """serve's last words (here: the submission port is taken) are logged as JSON, not printed as text."""
    k = kurier_factory("log.format=json", start=False)
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", k.submission_port))
        taken.listen()
        proc = run([KURIER_BIN, "serve", "--config", k.config], timeout=30)
    assert proc.returncode == 1, proc.stderr
    records = [json.loads(line) for line in proc.stderr.splitlines()]
    assert records[-1]["level"] == "critical", records
    assert str(k.submission_port) in records[-1]["message"], records[-1]
