"""curl submits over STARTTLS; the stored message is the sent one, byte for byte,
with only kurier's Received: header in front."""

import email.utils
import uuid

from conftest import HOST, queued_id, require_tool, run, split_received


def test_curl_starttls_submission_is_byte_exact(kurier, tmp_path):
    curl = require_tool("curl")
    marker = uuid.uuid4().hex
    message_id = f"<curl-{marker}@example.com>"
    message = (
        "From: Alice <alice@example.com>\r\n"
        "To: Bob <bob@ext.test>\r\n"
        f"Subject: curl {marker}\r\n"
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
        f"Message-ID: {message_id}\r\n"
        "X-Folded: first part\r\n"
        "\tsecond part\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        f"marker {marker}\r\n"
        ".a line that starts with a dot\r\n"
        "..two dots\r\n"
        ".\tdot and tab\r\n"
        "trailing spaces   \r\n"
        "\ttab-indented line\r\n"
        "\r\n"
        "\r\n"
        "From the start of a line\r\n"
        + "x" * 900 + "\r\n"
        "last line\r\n"
    ).encode("ascii")
    msg_file = tmp_path / "message.eml"
    msg_file.write_bytes(message)

    proc = run([curl, "-sS", "-v", "--max-time", "30",
                "--url", f"smtp://{HOST}:{kurier.submission_port}/client.test",
                "--ssl-reqd", "-k",
                "--user", f"{kurier.username}:{kurier.password}",
                "--mail-from", "alice@example.com",
                "--mail-rcpt", "bob@ext.test",
                "--upload-file", str(msg_file)], timeout=60)
    transcript = proc.stderr
    assert proc.returncode == 0, f"curl failed (exit {proc.returncode}):\n{transcript}"
    msg_id = queued_id(transcript)
    assert msg_id, f"no '250 2.0.0 Ok: queued as ID' in curl's transcript:\n{transcript}"
    assert msg_id in kurier.queue_ids()

    raw = kurier.queue_raw(msg_id)
    received, rest = split_received(raw)
    assert rest == message, (
        "stored message differs from the sent one (after the Received header)\n"
        f"sent:\n{message!r}\nstored:\n{rest!r}")
    assert rest.count(b"Message-ID:") == 1  # present as sent: no second one added

    shown = kurier.queue_show(msg_id)
    assert shown["message"].encode("utf-8") == raw
    assert shown["mail_from"] == "alice@example.com"
    assert shown["recipients"] == ["bob@ext.test"]
    assert shown["credential"] == kurier.username


def test_curl_message_without_message_id_gets_message_id_and_date_added(kurier, tmp_path):
    """A message without Message-ID and Date gets exactly one Message-ID and one
    Date header from kurier (RFC 6409 8.2-8.3); nothing else is added or changed."""
    curl = require_tool("curl")
    marker = uuid.uuid4().hex
    message = (
        "From: <alice@example.com>\r\n"
        "To: <bob@ext.test>\r\n"
        f"Subject: no id {marker}\r\n"
        "\r\n"
        f"body {marker}\r\n"
    ).encode("ascii")
    msg_file = tmp_path / "message.eml"
    msg_file.write_bytes(message)
    proc = run([curl, "-sS", "-v", "--max-time", "30",
                "--url", f"smtp://{HOST}:{kurier.submission_port}/client.test",
                "--ssl-reqd", "-k",
                "--user", f"{kurier.username}:{kurier.password}",
                "--mail-from", "alice@example.com",
                "--mail-rcpt", "bob@ext.test",
                "--upload-file", str(msg_file)], timeout=60)
    assert proc.returncode == 0, f"curl failed (exit {proc.returncode}):\n{proc.stderr}"
    msg_id = queued_id(proc.stderr)
    assert msg_id, proc.stderr

    _, rest = split_received(kurier.queue_raw(msg_id))
    header_block, sep, body = rest.partition(b"\r\n\r\n")
    assert sep and body == f"body {marker}\r\n".encode(), rest
    headers = header_block.split(b"\r\n")
    ids = [h for h in headers if h.lower().startswith(b"message-id:")]
    assert len(ids) == 1, f"expected exactly one added Message-ID header:\n{rest!r}"
    value = ids[0].split(b":", 1)[1].strip()
    assert value.startswith(b"<") and value.endswith(b">") and b"@" in value, ids[0]
    dates = [h for h in headers if h.lower().startswith(b"date:")]
    assert len(dates) == 1, f"expected exactly one added Date header:\n{rest!r}"
    assert email.utils.parsedate_to_datetime(dates[0].split(b":", 1)[1].strip().decode()) is not None, dates[0]
    others = [h for h in headers if not h.lower().startswith((b"message-id:", b"date:"))]
    assert b"\r\n".join(others) + b"\r\n\r\n" + body == message, (
        "besides Received and Message-ID, the stored message must be the sent one\n"
        f"sent:\n{message!r}\nstored (without Received):\n{rest!r}")
