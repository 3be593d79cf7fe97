"""CHUNKING (RFC 3030): BDAT delivers the exact octets given, across several chunks; a BDAT chunk that
is refused is still consumed, so its content never runs as commands."""

import uuid

from conftest import RawSMTP, queued_id


def test_bdat_chunks_are_stored_byte_exact(kurier):
    marker = uuid.uuid4().hex
    part1 = f"Subject: bdat {marker}\r\nMessage-ID: <{marker}@client.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n".encode()
    part2 = f"first chunk line\r\n.leading dot stays\r\n{marker}\r\n".encode()
    with RawSMTP(kurier.relay_port) as c:
        assert c.greeting()[0] == 220
        code, lines = c.ehlo()
        assert code == 250 and "250-CHUNKING" in lines, lines
        assert c.cmd("MAIL FROM:<alice@example.com>")[0] == 250
        assert c.cmd("RCPT TO:<bob@ext.test>")[0] == 250
        c.send(b"BDAT %d\r\n" % len(part1) + part1)
        code, lines = c.reply()
        assert code == 250, lines
        c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
        code, lines = c.reply()
        assert code == 250, lines
        msg_id = queued_id(lines[-1].encode())
        assert msg_id, lines
    stored = kurier.queue_raw(msg_id)
    assert stored.startswith(b"Received: ")
    assert stored.endswith(part1 + part2), stored


def test_refused_bdat_chunk_is_consumed_not_executed(kurier):
    smuggled = b"MAIL FROM:<alice@example.com>\r\nRCPT TO:<smuggled@ext.test>\r\n"
    before = len(kurier.queue_list())
    with RawSMTP(kurier.relay_port) as c:
        c.greeting()
        c.ehlo()
        # no MAIL yet: the chunk is refused, but its octets are read as data, never as commands
        c.send(b"BDAT %d LAST\r\n" % len(smuggled) + smuggled)
        code, lines = c.reply()
        assert code == 503, lines
        code, lines = c.cmd("NOOP")
        assert code == 250, lines
        assert not c.pending(0.3), "no reply may follow for the chunk's content"
    after = kurier.queue_list()
    assert len(after) == before
    assert not any("smuggled@ext.test" in r for m in after for r in m["recipients"])
