"""What load balancers and monitoring ask a node (issue 16): GET /healthz, GET /readyz (503 while the node
drains or its database does not answer), GET /metrics in Prometheus' text format (behind an API key with
the read scope), and draining by SIGTERM or `kurier serve --drain`."""
import re
import signal
import threading
import time

from conftest import make_message, run, KURIER_BIN


def parse_metrics(text):
    """Prometheus text format 0.0.4 -> {(name, frozenset(labels)): value}; every family has HELP and TYPE."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)', line)
        assert m, f"not a sample line: {line!r}"
        name, labels = m.group(1), frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or family in typed, f"{name} has no # TYPE line"
        out[(name, labels)] = float(m.group(4))
    return out


def test_health_readiness_and_metrics(kurier):
    st, res = kurier.api("GET", "/healthz", key="")
    assert st == 200 and res == {"status": "alive"}
    st, res = kurier.api("GET", "/readyz", key="")
    assert st == 200 and res == {"status": "ready"}
    status, _, _ = kurier.curl("GET", "/metrics", key="")
    assert status == 401  # protected like the API

    with kurier.smtp_submission() as s:
        s.sendmail("a@example.com", ["b@example.net"], make_message("a@example.com", "b@example.net", "m", "b"))
    st, res = kurier.api("POST", "/v1/messages", {"from": "a@example.com", "to": "c@example.net", "subject": "s",
                                                    "text": "t"})
    assert st == 202, res
    status, headers, text = kurier.curl("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4"), headers
    m = parse_metrics(text)
    assert m[("kurier_messages_accepted_total", frozenset({("source", "submission")}))] == 1
    assert m[("kurier_messages_accepted_total", frozenset({("source", "api")}))] == 1
    assert m[("kurier_spool_commit_seconds_count", frozenset())] >= 1
    assert m[("kurier_spool_commit_seconds_bucket", frozenset({("le", "+Inf")}))] == \
        m[("kurier_spool_commit_seconds_count", frozenset())]
    # delivery is off in this instance: both messages wait in the queue
    assert sum(v for (n, l), v in m.items() if n == "kurier_queue_messages") == 2
    assert m[("kurier_queue_oldest_age_seconds", frozenset())] >= 0
    assert m[("kurier_webhook_backlog", frozenset())] == 0
    assert m[("kurier_draining", frozenset())] == 0


def test_sigterm_drains_readyz_first_then_stops(kurier_factory):
    k = kurier_factory("cluster.drain_delay=3")
    k.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    st, res = k.api("GET", "/readyz", key="")
    assert st == 503 and any("draining" in p for p in res["problems"]), res
    assert k.proc.poll() is None  # still serving while the load balancer notices
    assert k.proc.wait(timeout=15) == 0


def test_serve_drain_waits_for_the_server_to_stop(kurier_factory):
    k = kurier_factory("cluster.drain_delay=2")
    seen = {}

    def probe():
        time.sleep(1)
        seen["readyz"] = k.api("GET", "/readyz", key="")[0]

    t = threading.Thread(target=probe)
    t.start()
    p = run([KURIER_BIN, "serve", "--drain", "--config", k.config], timeout=60)
    t.join()
    assert p.returncode == 0, p.stderr
    assert "stopped" in p.stderr
    assert seen["readyz"] == 503
    assert k.proc.wait(timeout=5) == 0
    p = run([KURIER_BIN, "serve", "--drain", "--config", k.config], timeout=30)
    assert p.returncode != 0 and "no kurier server runs" in p.stderr


def test_readyz_follows_the_database(kurier_factory, tmp_path):
    from pg_server import PostgresServer
    pg = PostgresServer()
    try:
        db = pg.createdb("ops")
        pw = tmp_path / "pgpass"
        pw.write_text(pg.PASSWORD + "\n")
        k = kurier_factory(f"store.url={pg.url(db)}", f"store.password_file={pw}")
        assert k.api("GET", "/readyz", key="")[0] == 200
        m = parse_metrics(k.curl("GET", "/metrics")[2])
        assert m[("kurier_db_connections", frozenset({("state", "size")}))] == 8
        assert m[("kurier_db_connections", frozenset({("state", "open")}))] >= 1
        pg.stop("fast")
        st, res = k.api("GET", "/readyz", key="")
        assert st == 503 and any(p.startswith("database:") for p in res["problems"]), res
        assert k.api("GET", "/healthz", key="")[0] == 200  # alive all the same
        pg.start()
        deadline = time.time() + 15
        while k.api("GET", "/readyz", key="")[0] != 200:
            assert time.time() < deadline, "readyz did not come back after the database did"
            time.sleep(0.3)
    finally:
        pg.close()
