"""Crash safety: a message acknowledged with `250 ... queued as ID` survives
kill -9 of the server, exactly once and intact, while clients keep sending."""

import collections
import concurrent.futures
import email
import email.policy
import os
import random
import smtplib
import threading
import time
import uuid

from conftest import HOST, queued_id

CLIENTS = 8
KILLS = 4
BODY_LINES = 300  # ~ 24 KB per message, so kills also land in the middle of DATA


def build_message(marker):
    lines = [f"BEGIN {marker}"]
    lines += [f"{marker} line {i:04d} " + "abcdefghij" * 6 for i in range(BODY_LINES)]
    lines.append(f"END {marker}")
    body = "\r\n".join(lines) + "\r\n"
    return (f"From: <alice@example.com>\r\nTo: <bob@ext.test>\r\nSubject: crash test\r\n"
            f"X-Test-Marker: {marker}\r\n\r\n" + body).encode()


class Client(threading.Thread):
    def __init__(self, idx, port, stop):
        super().__init__(daemon=True)
        self.idx, self.port, self.stop = idx, port, stop
        self.acked = []          # (queue id, marker)
        self.attempted = set()   # markers sent at least partly
        self.errors = 0
        self.bad_replies = []    # 250 replies without "queued as ID"

    def run(self):
        conn = None
        n = 0
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = smtplib.SMTP(HOST, self.port, local_hostname=f"c{self.idx}.test", timeout=5)
                    conn.ehlo()
                marker = f"m-{self.idx}-{n}-{uuid.uuid4().hex[:8]}"
                n += 1
                code, resp = conn.mail("alice@example.com")
                if code != 250:
                    raise smtplib.SMTPException(f"MAIL {code} {resp!r}")
                code, resp = conn.rcpt(f"bob{self.idx}@ext.test")
                if code != 250:
                    raise smtplib.SMTPException(f"RCPT {code} {resp!r}")
                self.attempted.add(marker)
                code, resp = conn.data(build_message(marker))
                if code == 250:
                    msg_id = queued_id(b"250 " + resp)
                    if msg_id:
                        self.acked.append((msg_id, marker))
                    else:
                        self.bad_replies.append(resp)
                else:
                    raise smtplib.SMTPException(f"DATA {code} {resp!r}")
                time.sleep(0.06)
            except (smtplib.SMTPException, OSError):
                # expected while the server is being killed: reconnect and go on
                self.errors += 1
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        pass
                conn = None
                time.sleep(0.05)
        if conn is not None:
            try:
                conn.quit()
            except Exception:
                conn.close()


def test_acknowledged_messages_survive_kill_9(kurier_factory):
    seed = int(os.environ.get("KURIER_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"crash test seed: {seed} (set KURIER_CRASH_SEED to replay)")
    kurier = kurier_factory()

    stop = threading.Event()
    clients = [Client(i, kurier.relay_port, stop) for i in range(CLIENTS)]
    for c in clients:
        c.start()
    acked_per_round = []
    try:
        time.sleep(0.5)
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            kurier.kill9()
            acked_per_round.append(sum(len(c.acked) for c in clients))
            kurier.start()
        time.sleep(1.5)
    finally:
        stop.set()
        for c in clients:
            c.join(timeout=30)
    assert not any(c.is_alive() for c in clients), "client threads did not stop"

    bad = [r for c in clients for r in c.bad_replies]
    assert not bad, f"250 replies without 'queued as ID': {bad[:5]}"
    acked = [a for c in clients for a in c.acked]
    attempted = set().union(*(c.attempted for c in clients))
    total_after_restarts = len(acked) - acked_per_round[-1]
    print(f"acknowledged {len(acked)} messages, {sum(c.errors for c in clients)} client errors, "
          f"acked before each kill: {acked_per_round}")
    assert len(acked) >= 50, f"too few messages acknowledged to test anything: {len(acked)}"
    assert total_after_restarts > 0, "no message was accepted after the last restart"

    acked_ids = collections.Counter(i for i, _ in acked)
    reused = [i for i, n in acked_ids.items() if n > 1]
    assert not reused, f"the server acknowledged different messages with the same id: {reused[:10]}"

    listed = kurier.queue_list()
    counts = collections.Counter(m["id"] for m in listed)
    duplicates = [i for i, n in counts.items() if n > 1]
    assert not duplicates, f"ids listed more than once: {duplicates[:10]}"
    missing = [(i, mk) for i, mk in acked if i not in counts]
    assert not missing, f"{len(missing)} acknowledged messages lost after kill -9, e.g. {missing[:10]}"

    marker_of = dict(acked)

    def check(msg_id):
        raw = kurier.queue_raw(msg_id)
        problems = []
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        marker = (msg["X-Test-Marker"] or "").strip()
        if marker not in attempted:
            problems.append(f"{msg_id}: unknown marker {marker!r}")
        if msg_id in marker_of and marker_of[msg_id] != marker:
            problems.append(f"{msg_id}: acknowledged for {marker_of[msg_id]} but stores {marker!r}")
        if msg.defects:
            problems.append(f"{msg_id}: parse defects {msg.defects}")
        if not raw.startswith(b"Received:"):
            problems.append(f"{msg_id}: no Received header first")
        _, _, stored_body = raw.partition(b"\r\n\r\n")
        if marker and stored_body != build_message(marker).partition(b"\r\n\r\n")[2]:
            problems.append(f"{msg_id}: body is not intact ({len(stored_body)} bytes, "
                            f"ends {stored_body[-80:]!r})")
        return problems

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        problems = [p for ps in pool.map(check, list(counts)) for p in ps]
    assert not problems, f"{len(problems)} damaged messages:\n" + "\n".join(problems[:20])

    # the server still works and stops cleanly
    with smtplib.SMTP(HOST, kurier.relay_port, timeout=10) as s:
        s.ehlo()
        s.mail("alice@example.com")
        s.rcpt("bob@ext.test")
        code, resp = s.data(build_message("final"))
        assert code == 250, resp
    assert kurier.stop() == 0, "kurier serve did not exit 0 on SIGTERM"
