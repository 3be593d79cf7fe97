"""Outbound delivery to a real MTA: a private Postfix instance (its own configuration, queue and data
directories in a temporary directory; the system's /etc/postfix is only read for its defaults and is
never started or changed) receives for pf.test on 127.0.0.7 and delivers into Maildirs with the
virtual(8) agent. What lands in the mailbox must be the submitted message, headers and body intact,
below the headers Postfix adds on top and kurier's own Received header."""

import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import free_port, require_tool
from dns_peer import Unbound
from receivers import final_event, submit_via_relay, wait_delivery_events, wait_until

PF_ADDR = "127.0.0.7"
ZONE = ["pf.test. 300 IN MX 10 mx.pf.test.", f"mx.pf.test. 300 IN A {PF_ADDR}"]
MAILBOXES = ["bob", "carol", "alice"]   # the only users Postfix knows; others get 550 5.1.1
NOBODY = 65534


class PrivatePostfix:
    """A Postfix instance that shares nothing writable with the system's."""

    def __init__(self, port):
        self.postfix = require_tool("postfix")
        self.postconf = require_tool("postconf")
        # Postfix's unprivileged processes (user postfix, and `nobody` for delivery) must be able to
        # reach the queue and the mailboxes, so this cannot live under pytest's root-only tmp_path.
        self.root = Path(tempfile.mkdtemp(prefix="kurier-postfix-"))
        os.chmod(self.root, 0o755)
        self.conf = self.root / "conf"
        self.queue = self.root / "queue"
        self.mail = self.root / "mail"
        self.log = self.root / "postfix.log"
        self.port = port
        self.conf.mkdir()
        self.queue.mkdir(mode=0o755)      # owned by root, as Postfix requires; it makes the rest
        self.mail.mkdir()
        os.chown(self.mail, NOBODY, NOBODY)
        self._write_master_cf()
        (self.conf / "main.cf").write_text("")
        mailbox_map = "inline:{" + ", ".join(f"{u}@pf.test={u}/" for u in MAILBOXES) + "}"
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue),
            "data_directory": str(self.root / "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            # inet_interfaces must name a configured interface address; 127.0.0.7 is reachable on
            # lo without being one, so the listener's address is given in master.cf instead.
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "myhostname": "mx.pf.test",
            "mydomain": "pf.test",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "virtual_mailbox_domains": "pf.test",
            "virtual_mailbox_base": str(self.mail),
            "virtual_mailbox_maps": mailbox_map,
            "virtual_uid_maps": f"static:{NOBODY}",
            "virtual_gid_maps": f"static:{NOBODY}",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "smtpd_peername_lookup": "no",
            "local_header_rewrite_clients": "",    # leave the headers of what arrives alone
            "maillog_file": str(self.log),
            "maillog_file_prefixes": str(self.root),
        }
        self._run(self.postconf, "-c", str(self.conf), "-e", *[f"{k}={v}" for k, v in settings.items()])

    def _write_master_cf(self):
        src = next((p for p in ("/usr/share/postfix/master.cf.dist", "/etc/postfix/master.cf.proto")
                    if os.path.exists(p)), None)
        assert src, "no pristine master.cf (master.cf.dist / master.cf.proto) found"
        out, found = [], False
        for line in Path(src).read_text().splitlines():
            fields = line.split()
            if line and line[0] not in "# \t" and len(fields) >= 8:
                if fields[0] == "smtp" and fields[1] == "inet":
                    fields[0] = f"{PF_ADDR}:{self.port}"
                    found = True
                fields[4] = "n"  # no chroot: the queue directory is not set up as one
                line = "  ".join(fields)
            out.append(line)
        assert found, f"{src} has no smtp/inet service"
        (self.conf / "master.cf").write_text("\n".join(out) + "\n")

    def _run(self, *cmd, timeout=60):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed with exit {proc.returncode}:\n{proc.stdout}"
                                 f"{proc.stderr}\n{self.log_text()}")
        return proc

    def log_text(self):
        try:
            return "postfix log:\n" + self.log.read_text(errors="replace")[-8000:]
        except OSError:
            return "(no postfix log)"

    def master_pid(self):
        try:
            return int((self.queue / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self):
        self._run(self.postfix, "-c", str(self.conf), "start")
        import socket

        def listening():
            with socket.socket() as s:
                s.settimeout(1)
                return s.connect_ex((PF_ADDR, self.port)) == 0
        wait_until(listening, 20, f"postfix to listen on {PF_ADDR}:{self.port}\n{self.log_text()}")

    def stop(self):
        pid = self.master_pid()
        subprocess.run([self.postfix, "-c", str(self.conf), "stop"], capture_output=True, timeout=60)
        deadline = time.monotonic() + 15
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            if pid:
                subprocess.run([self.postfix, "-c", str(self.conf), "abort"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    def mailbox(self, user):
        """Contents of the messages in user's Maildir/new."""
        new = self.mail / user / "new"
        if not new.is_dir():
            return []
        return [p.read_bytes() for p in sorted(new.iterdir())]

    def find(self, user, marker):
        return [m for m in self.mailbox(user) if marker.encode() in m]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), ZONE)
    port = free_port()
    pf = PrivatePostfix(port)
    try:
        pf.start()
        yield dns, port, pf
    finally:
        pf.stop()
        dns.stop()


@pytest.fixture
def sender(world, kurier_factory):
    dns, port, _ = world
    return kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "queue.retry_initial=60",
                          "delivery.connect_timeout=5", "delivery.command_timeout=20",
                          "delivery.data_timeout=20", delivery=True)


def tricky_message(marker, rcpts):
    """Headers and body with what a relay must not touch: dots, 8-bit text, a long line, white space,
    a body line starting with "From ", a folded header."""
    headers = [
        "From: Alice Example <alice@example.com>",
        "To: " + ", ".join(f"<{r}>" for r in rcpts),
        f"Subject: postfix {marker}",
        f"Message-ID: <{marker}@client.test>",
        "Date: Thu, 01 Jan 2026 00:00:00 +0000",
        "X-Folded: first part",
        "\tsecond part after a tab",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    body = [
        f"marker {marker}",
        ".",
        "..",
        ".leading dot",
        "From the start of a line",
        "trailing spaces   ",
        "\ttab first",
        "",
        "Grüße aus Köln — ünïcödé",
        "x" * 900,
        "last line",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + "\r\n".join(body) + "\r\n").encode("utf-8")


HEADER_RE = re.compile(rb"^([A-Za-z0-9-]+):")


def split_top_headers(stored):
    """Splits the header fields off the top of a stored message, one (name, field bytes) each, until
    the first field not matching; returns (fields, rest) where rest starts at that field."""
    lines = stored.split(b"\n")
    fields, i = [], 0
    while i < len(lines):
        m = HEADER_RE.match(lines[i])
        if not m:
            break
        j = i + 1
        while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
            j += 1
        fields.append((m.group(1).decode().lower(), b"\n".join(lines[i:j]) + b"\n"))
        i = j
    return fields, b"\n".join(lines[i:])


def check_stored(stored, sent, rcpt):
    """The Maildir file: Postfix's Return-Path, X-Original-To, Delivered-To and Received, kurier's
    Received, then exactly what was submitted (Maildir keeps LF line ends)."""
    fields, _ = split_top_headers(stored)
    names = [n for n, _ in fields]
    assert names[:4] == ["return-path", "x-original-to", "delivered-to", "received"], names
    assert fields[0][1] == b"Return-Path: <alice@example.com>\n", fields[0]
    assert fields[2][1] == f"Delivered-To: {rcpt}\n".encode(), fields[2]
    assert b"by mx.pf.test (Postfix)" in fields[3][1], fields[3]
    assert names[4] == "received" and b"(kurier)" in fields[4][1], fields[4]
    rest = stored[sum(len(f) for _, f in fields[:5]):]
    expected = sent.replace(b"\r\n", b"\n")
    assert rest == expected, ("the message must arrive byte for byte below the added headers\n"
                              f"got:      {rest[:600]!r}\nexpected: {expected[:600]!r}")


def postfix_queue_id(reply):
    m = re.search(r"queued as ([0-9A-Za-z]+)", reply)
    assert m, f"no Postfix queue id in {reply!r}"
    return m.group(1)


def test_postfix_receives_the_message_intact(world, sender):
    _, _, pf = world
    marker = uuid.uuid4().hex
    rcpt = "bob@pf.test"
    sent = tricky_message(marker, [rcpt])
    submit_via_relay(sender, "alice@example.com", [rcpt], sent)

    # bob's address is the same in every run of this module: only this message's events count.
    evs = wait_delivery_events(sender, rcpt, final_event, timeout=30)
    assert [e["type"] for e in evs] == ["delivered"], evs
    ev = evs[-1]
    reply = ev["data"]["reply"]
    assert reply.startswith("250 2.0.0"), ev
    assert PF_ADDR in ev["data"]["mx"] and ev["data"]["attempt"] == 1, ev
    qid = postfix_queue_id(reply)

    stored = wait_until(lambda: pf.find("bob", marker), 20,
                        f"the message in bob's Maildir\n{pf.log_text()}")
    assert len(stored) == 1, f"{len(stored)} copies in the mailbox"
    check_stored(stored[0], sent, rcpt)
    log = pf.log.read_text(errors="replace")
    assert re.search(rf"{qid}: to=<bob@pf\.test>, relay=virtual.*status=sent", log), pf.log_text()


def test_postfix_one_unknown_recipient_bounces_the_others_are_delivered(world, sender):
    _, _, pf = world
    marker = uuid.uuid4().hex
    rcpts = ["carol@pf.test", f"nobody-{marker[:8]}@pf.test", "alice@pf.test"]
    sent = tricky_message(marker, rcpts)
    submit_via_relay(sender, "alice@example.com", rcpts, sent)

    got = {r: wait_delivery_events(sender, r, final_event, timeout=30) for r in rcpts}
    good = [got[rcpts[0]][-1], got[rcpts[2]][-1]]
    for ev in good:
        assert ev["type"] == "delivered" and ev["data"]["reply"].startswith("250 2.0.0"), got
    # One transaction for both: the same Postfix queue id.
    assert postfix_queue_id(good[0]["data"]["reply"]) == postfix_queue_id(good[1]["data"]["reply"]), good
    bad = got[rcpts[1]]
    assert [e["type"] for e in bad] == ["bounced"], bad
    assert bad[0]["data"]["reply"].startswith("550 5.1.1"), bad
    assert bad[0]["data"]["classification"] == "hard", bad

    for user, rcpt in (("carol", rcpts[0]), ("alice", rcpts[2])):
        stored = wait_until(lambda: pf.find(user, marker), 20, f"the message in {user}'s Maildir")
        assert len(stored) == 1, f"{len(stored)} copies in {user}'s mailbox"
        check_stored(stored[0], sent, rcpt)
