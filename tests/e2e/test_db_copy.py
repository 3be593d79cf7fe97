"""`kurier db copy` (issue 16, moving up): an SQLite installation with accounts, credentials, a domain,
a template, suppressions, a webhook, events and queued mail copied into a real PostgreSQL database; the
counts verified; the same installation then serving from PostgreSQL delivers its queued mail to a real
receiver and knows its credentials; a copy killed mid-way goes on from where it stopped; a database that
already holds an installation is refused."""
import re
import signal
import sqlite3
import subprocess
import time
import uuid

import pytest

from conftest import KURIER_BIN, make_message
from dns_peer import Unbound
from receivers import Receiver, Recorder


def set_store(config_path, url, password_file):
    """Points the installation at PostgreSQL, as its operator would: store.url and store.password_file set
    in the [store] table of its kurier.toml (init wrote both, empty)."""
    text = open(config_path).read()
    store = text.index("\n[store]\n")
    head, tail = text[:store], text[store:]
    tail, n = re.subn(r'(?m)^url = ""$', f"url = '{url}'", tail, count=1)
    tail, m = re.subn(r'(?m)^password_file = ""$', f"password_file = '{password_file}'", tail, count=1)
    assert n == m == 1, "no empty store.url and store.password_file in the configuration"
    open(config_path, "w").write(head + tail)


def copy(k, url, pw, check=True, **kw):
    p = subprocess.run([KURIER_BIN, "db", "copy", "--config", k.config, "--to", url, "--to-password-file", str(pw)],
                       capture_output=True, text=True, timeout=300, **kw)
    if check:
        assert p.returncode == 0, f"db copy failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def counts(out):
    """The verification table db copy prints: name -> (sqlite, postgresql)."""
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(\S.*?)\s+(\d+)\s+(\d+)\s+(ok|DIFFERENT)$", line)
        if m:
            rows[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return rows


@pytest.fixture
def pw(postgres, tmp_path):
    f = tmp_path / "pgpass"
    f.write_text(postgres.PASSWORD + "\n")
    f.chmod(0o600)
    return f


def test_an_sqlite_installation_moves_into_postgresql_and_delivers_its_queue(postgres, kurier_factory, pw, tmp_path):
    dns = Unbound(str(tmp_path / "dns"), ["dest.test. 300 IN MX 10 mx.dest.test.",
                                          "mx.dest.test. 300 IN A 127.0.0.12"])
    recorder = Recorder()
    receiver = None
    try:
        from conftest import free_port
        port = free_port()
        # An SQLite installation that delivers to dest.test, whose receiver is not up yet: mail waits, deferred.
        k = kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "queue.retry_initial=1",
                           delivery=True)
        with k.smtp_submission() as s:
            for i in range(30):
                s.sendmail("a@example.com", [f"r{i}@dest.test", f"s{i}@dest.test"],
                           make_message("a@example.com", f"r{i}@dest.test", f"copy-{i}", "body"))
        st, res = k.api("POST", "/v1/messages", {"from": "a@example.com", "to": "api@dest.test", "subject": "copy-api",
                                                   "text": "hi", "tags": ["moving"]})
        assert st == 202, res
        st, res = k.api("POST", "/v1/suppressions", {"address": "gone@example.net", "reason": "manual"})
        assert st in (200, 201), res
        st, hook = k.api("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "event_types": ["delivered"]})
        assert st in (200, 201), hook
        st, tpl = k.api("POST", "/v1/templates", {"name": "welcome", "subject": "Hi {{name}}", "text": "Hello {{name}}"})
        assert st in (200, 201), tpl
        # Wait until every message has been tried once (deferred: the receiver is down).
        deadline = time.time() + 30
        while time.time() < deadline and len(k.events("deferred")) < 61:
            time.sleep(0.3)
        queued = sorted(m["id"] for m in k.queue_list())
        assert len(queued) == 31
        k.stop()

        db = postgres.createdb("copy_" + uuid.uuid4().hex[:12])
        out = copy(k, postgres.url(db), pw)
        table = counts(out.stdout)
        assert table["queued messages"] == (31, 31), out.stdout
        for name in ("accounts", "smtp_credentials", "api_keys", "suppressions", "webhooks", "templates", "events"):
            a, b = table[name]
            assert a == b and a > 0, (name, out.stdout)
        assert "DIFFERENT" not in out.stdout
        assert "s3cret" not in out.stdout + out.stderr  # never the password
        # A second copy into the same database is refused: it would merge two installations.
        again = copy(k, postgres.url(db), pw, check=False)
        assert again.returncode != 0 and "already holds" in again.stderr, again.stderr

        # The same installation, now on PostgreSQL, with its receiver up: the queue is delivered.
        set_store(k.config, postgres.url(db), pw)
        receiver = Receiver("127.0.0.12", port, recorder)
        k.start()
        assert k.cli_json("db", "status", "--json")["backend"] == "postgresql"
        def delivered():
            with recorder.lock:
                return [(re.search(rb"Subject: (\S+)", content).group(1).decode(), r)
                        for _, rcpts, content in recorder.received for r in rcpts]
        deadline = time.time() + 60
        while time.time() < deadline and len(delivered()) < 61:
            time.sleep(0.3)
        subjects = sorted(s for s, _ in delivered())
        assert len(subjects) == 61 and len(set(delivered())) == 61, subjects  # 30 messages x 2 recipients + 1
        assert subjects.count("copy-api") == 1 and subjects.count("copy-7") == 2
        # The credentials, the suppression, the webhook and the template came along, with their ids.
        with k.smtp_submission() as s:
            s.noop()
        st, res = k.api("GET", "/v1/suppressions/gone@example.net")
        assert st == 200, res
        st, res = k.api("GET", f"/v1/webhooks/{hook['id']}")
        assert st == 200 and res["url"] == "http://127.0.0.1:9/hook", res
        st, res = k.api("GET", f"/v1/templates/{tpl['id']}")
        assert st == 200, res
        # New rows get new ids: the identity sequences were moved past the copied ones.
        st, res = k.api("POST", "/v1/suppressions", {"address": "new@example.net", "reason": "manual"})
        assert st in (200, 201), res
        assert postgres.psql(db, "SELECT to_regclass('kurier_copy_progress') IS NULL") == [["t"]]
    finally:
        if receiver:
            receiver.stop()
        dns.stop()


def test_a_copy_stopped_mid_way_goes_on_from_where_it_stopped(postgres, kurier_factory, pw):
    k = kurier_factory()
    k.stop()
    # Enough events that the copy takes a while: written straight into the stopped installation's store.
    con = sqlite3.connect(k.dir / "kurier.db")
    cols = [r[1] for r in con.execute("PRAGMA table_info(events)")]
    assert {"time", "type", "message_id", "account"} <= set(cols), cols
    con.executemany("INSERT INTO events(time, type, message_id, account, data) VALUES(?, 'delivered', ?, 'default', ?)",
                    ((1_700_000_000_000_000 + i, f"m{i}", f'{{"recipient": "r{i}@example.net"}}') for i in range(300_000)))
    con.commit()
    con.close()
    db = postgres.createdb("resume_" + uuid.uuid4().hex[:12])
    p = subprocess.Popen([KURIER_BIN, "db", "copy", "--config", k.config, "--to", postgres.url(db),
                          "--to-password-file", str(pw)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    copied = 0
    while time.time() < deadline and p.poll() is None:
        rows = postgres.psql(db, "SELECT copied FROM kurier_copy_progress WHERE name = 'events'") \
            if postgres.psql(db, "SELECT to_regclass('kurier_copy_progress') IS NOT NULL") == [["t"]] else []
        if rows and int(rows[0][0]) >= 20_000:
            copied = int(rows[0][0])
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    p.wait(timeout=30)
    assert copied and copied < 300_000, "the copy ended before it could be stopped mid-way"
    out = copy(k, postgres.url(db), pw)
    assert "resuming" in out.stderr, out.stderr
    source, target = counts(out.stdout)["events"]
    assert source == target and source >= 300_000, out.stdout
    # Exactly the source's events, each once.
    assert postgres.psql(db, "SELECT count(*), count(DISTINCT id) FROM events WHERE type = 'delivered'") == \
        [["300000", "300000"]]
    assert postgres.psql(db, "SELECT count(*) FROM events WHERE recipient = 'r77@example.net'") == [["1"]]
