"""Several kurier nodes on one PostgreSQL database (issue 16), delivering to a real receiver through a
local unbound: each node delivers what it accepted, once; a node's queued mail stays its own while it
heartbeats and is taken over by another node once it stops (kill -9), each message delivered once;
`kurier cluster status` shows the nodes, their queues and the housekeeping leader. Three nodes under
load (20,000 messages over SMTP and the API, to a sink in a process of its own, marker_sink.py): one
kill -9'd mid-run and restarted, every acknowledged message delivered, repeats only of what the killed
node was finishing, events and statistics matching the deliveries on every node, and the housekeeping
leader kill -9'd: another node takes over."""
import http.client
import json
import queue
import shutil
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from conftest import E2E_DIR, HOST, free_port
from dns_peer import Unbound
from receivers import Receiver, Recorder, wait_until

LEASE = 3  # cluster.lease_timeout, seconds: nodes heartbeat every second
LOAD_MX = "127.0.0.13"  # mx.load.test: the marker sink of the three-node test (marker_sink.py)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    dns = Unbound(str(tmp_path_factory.mktemp("dns")),
                  ["dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.12",
                   "load.test. 300 IN MX 10 mx.load.test.", f"mx.load.test. 300 IN A {LOAD_MX}"])
    port = free_port()
    recorder = Recorder()
    receiver = Receiver("127.0.0.12", port, recorder)
    yield dns, port, recorder
    receiver.stop()
    dns.stop()


@pytest.fixture
def cluster(world, postgres, kurier_factory, tmp_path):
    """make(delivery=True) -> a node of one new database; the first one sets the database up."""
    dns, port, _ = world
    db = postgres.createdb("cluster_" + uuid.uuid4().hex[:12])
    pw = tmp_path / "pgpass"
    pw.write_text(postgres.PASSWORD + "\n")
    nodes = []

    def make(delivery=True, lease=LEASE, toml="", db_port=None, sets=()):
        """`toml`: added to the node's kurier.toml; `db_port`: reach the database through this port (a proxy);
        `sets`: more --set overrides."""
        url = postgres.url(db)
        if db_port:
            url = url.replace(f":{postgres.port}/", f":{db_port}/")
        sets = [f"store.url={url}", f"store.password_file={pw}", f"dns.forward={dns.forward}",
                f"delivery.port={port}", "queue.retry_initial=1", f"cluster.lease_timeout={lease}", *sets]
        k = kurier_factory(*sets, delivery=delivery, start=False)
        if toml:
            with open(k.config, "a") as f:
                f.write(toml)
        if nodes:  # a node joining: the first node's secret and credentials
            shutil.copy(nodes[0].dir / "secret.key", k.dir / "secret.key")
            k.username, k.password, k.api_key = nodes[0].username, nodes[0].password, nodes[0].api_key
        k.start()
        nodes.append(k)
        return k

    return make


def send(k, markers):
    with smtplib.SMTP(HOST, k.relay_port, timeout=10) as s:
        s.ehlo("client.test")
        for m in markers:
            msg = (f"From: <alice@example.com>\r\nTo: <bob@dest.test>\r\nSubject: {m}\r\n"
                   f"Message-ID: <{m}@client.test>\r\n\r\nbody {m}\r\n").encode()
            s.sendmail("alice@example.com", ["bob@dest.test"], msg)


def delivered(recorder, markers):
    counts = Counter()
    with recorder.lock:
        for _, _, content in recorder.received:
            for m in markers:
                if m.encode() in content:
                    counts[m] += 1
    return counts


def wait_delivered(recorder, markers, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(delivered(recorder, markers)) == len(markers):
            return
        time.sleep(0.2)
    raise AssertionError(f"delivered {len(delivered(recorder, markers))} of {len(markers)} in {timeout} s")


def status(k):
    return {n["name"]: n for n in k.cli_json("cluster", "status", "--json")}


def test_each_node_delivers_what_it_accepted_once(world, cluster):
    _, _, recorder = world
    a, b = cluster(), cluster()
    via_a = [f"a-{uuid.uuid4().hex}" for _ in range(15)]
    via_b = [f"b-{uuid.uuid4().hex}" for _ in range(15)]
    send(a, via_a)
    send(b, via_b)
    wait_delivered(recorder, via_a + via_b)
    time.sleep(2 * LEASE)  # time for a wrong second delivery to show
    counts = delivered(recorder, via_a + via_b)
    assert set(counts.values()) == {1}, {m: n for m, n in counts.items() if n != 1}
    # One event log: either node reads the 30 deliveries.
    for k in (a, b):
        ok = [e for e in k.events("delivered") if e["data"]["recipient"] == "bob@dest.test"]
        assert len(ok) == 30
    nodes = status(a)
    assert len(nodes) == 2 and all(n["alive"] for n in nodes.values())
    assert sum(n["leader"] for n in nodes.values()) == 1


def test_a_stopped_node_s_queue_is_taken_over(world, cluster):
    _, _, recorder = world
    b = cluster()              # delivers
    a = cluster(delivery=False)  # accepts and keeps its mail queued
    markers = [f"t-{uuid.uuid4().hex}" for _ in range(10)]
    send(a, markers)
    time.sleep(2 * LEASE)
    assert not delivered(recorder, markers), "a live node's mail is its own: no other node delivers it"
    mine = next(n for name, n in status(b).items() if name.endswith(str(a.dir)))
    assert mine["alive"] and mine["messages"] == 10
    a.kill9()
    started = time.time()
    wait_delivered(recorder, markers, timeout=LEASE + 20)
    took = time.time() - started
    time.sleep(LEASE)
    counts = delivered(recorder, markers)
    assert set(counts.values()) == {1}, counts
    nodes = status(b)
    gone = next(n for name, n in nodes.items() if name.endswith(str(a.dir)))
    alive = next(n for name, n in nodes.items() if name.endswith(str(b.dir)))
    assert not gone["alive"] and gone["messages"] == 0
    assert alive["alive"] and alive["leader"] and alive["messages"] == 0
    assert took < LEASE + 15, took


def test_a_node_that_stops_cleanly_hands_its_queue_over_at_once(world, cluster):
    """SIGTERM (what `kurier serve --drain` sends): after its last commit the node leaves, and another node
    takes its queued mail at its next heartbeat, well before a lease of 30 s would have run out."""
    _, _, recorder = world
    b = cluster(lease=30)                 # delivers; looks for stopped nodes every 10 s (lease / 3)
    a = cluster(delivery=False, lease=30)  # accepts and keeps its mail queued
    markers = [f"d-{uuid.uuid4().hex}" for _ in range(10)]
    send(a, markers)
    assert a.stop() == 0
    stopped = time.time()
    gone = next(n for name, n in status(b).items() if name.endswith(str(a.dir)))
    assert not gone["alive"] and gone["messages"] == 10, gone  # seen stopped at once, its queue not lost
    wait_delivered(recorder, markers, timeout=25)
    took = time.time() - stopped
    assert took < 25, took  # within one heartbeat interval of b (10 s), not the 30 s lease
    time.sleep(1)
    assert set(delivered(recorder, markers).values()) == {1}
    st, _, text = b.curl("GET", "/metrics")
    assert st == 200
    assert 'kurier_cluster_nodes{state="alive"} 1' in text and 'kurier_cluster_nodes{state="stopped"} 1' in text, text


class FreezableProxy:
    """A TCP proxy to the database that can stop forwarding without closing anything: a network partition
    as the node sees it (its connections stay open and its queries hang)."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.frozen = threading.Event()
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        src.settimeout(0.05)
        while not self.stopped.is_set():
            if self.frozen.is_set():
                time.sleep(0.05)
                continue
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopped.set()
        self.listener.close()
        for s in self.sockets:
            s.close()


def test_a_node_cut_off_from_the_database_stops_delivering_before_its_mail_is_taken_over(world, cluster, postgres):
    """A node whose database connection hangs (a partition, not a crash) keeps its queue in memory. It starts
    no delivery later than half a lease after its last renewed heartbeat, so when another node takes its
    messages over (a lease after that heartbeat) the two do not both send them; once the database answers
    again it drops the messages the other node now owns."""
    _, _, recorder = world
    lease = 4
    paced = '\n[delivery.domain."dest.test"]\nrate_per_minute = 240\n'  # 2 a second per node with two nodes
    proxy = FreezableProxy(postgres.port)
    try:
        b = cluster(lease=lease, toml=paced)
        a = cluster(lease=lease, toml=paced, db_port=proxy.port)
        markers = [f"f-{uuid.uuid4().hex}" for _ in range(24)]
        send(a, markers)
        deadline = time.time() + 20
        while time.time() < deadline and len(delivered(recorder, markers)) < 3:
            time.sleep(0.05)
        proxy.frozen.set()  # a's database stops answering; a keeps running
        before = len(delivered(recorder, markers))
        assert before < len(markers), "a delivered everything before the partition: nothing left to test"
        wait_delivered(recorder, markers, timeout=60)  # b takes a's messages over after the lease
        deadline = time.time() + 30  # and sends every one it took, some a had sent already
        while time.time() < deadline and next(n for name, n in status(b).items() if name.endswith(str(b.dir)))["messages"]:
            time.sleep(0.2)
        time.sleep(1)
        counts = delivered(recorder, markers)
        twice = sum(n - 1 for n in counts.values())
        # What a may have started after the partition began and before its fence: half a lease at its
        # share of the rate (2 a second), plus the one in flight. Unfenced, a would send its whole queue.
        assert twice <= 2 * lease // 2 + 1, (twice, before, counts)
        proxy.frozen.clear()  # the database answers a again
        deadline = time.time() + 3 * lease
        while time.time() < deadline and "now belong to other nodes" not in a.stderr():
            time.sleep(0.2)
        assert "now belong to other nodes" in a.stderr(), a.stderr()[-3000:]
        time.sleep(lease)  # time for a wrong delivery by a to show
        assert delivered(recorder, markers) == counts
    finally:
        proxy.close()


def test_a_send_cancelled_through_another_node_is_not_sent(world, cluster):
    """The owner holds a scheduled send in memory; cancelling it through another node removes it from the
    database, and the owner, asking the database just before the transaction, does not send it."""
    _, _, recorder = world
    a, b = cluster(), cluster()
    marker = f"c-{uuid.uuid4().hex}"
    at = int(time.time()) + 3
    st, res = a.api("POST", "/v1/messages", {"from": "alice@example.com", "to": "bob@dest.test", "subject": marker,
                                               "text": "later", "send_at": at})
    assert st == 202 and res["messages"][0]["status"] == "scheduled", res
    st, res = b.api("DELETE", f"/v1/messages/{res['messages'][0]['id']}")
    assert st == 200 and res["status"] == "cancelled", res
    sent = [f"s-{uuid.uuid4().hex}"]  # a message sent after it, to know a has delivered what was due
    time.sleep(max(0, at - time.time()) + 1)
    send(a, sent)
    wait_delivered(recorder, sent)
    time.sleep(1)
    assert not delivered(recorder, [marker]), "a cancelled send was delivered by the node that held it"
    assert "no longer this node's" in a.stderr()


# ----------------------------------------------------------------------------------------------------
# Three nodes under load: 20,000 messages over SMTP and HTTP, one node kill -9'd mid-run and restarted,
# then the housekeeping leader kill -9'd.

N_MESSAGES = 20_000
CHUNK = 50       # messages per SMTP session, recipients per API request (recipients[]: one message each)
INJECTORS = 8    # client threads
SENDER = "alice@example.com"
# A delivery the killed node made but whose result it had not committed is sent again by the node that
# takes its message over (docs/cluster.md, "Repeats": at most the SMTP transactions in flight on it plus
# the delivery results it had not yet committed). A result waits only for the spool's next group commit:
# the committer takes every queued result into its next transaction after at most 2 ms (spool.cpp, Run),
# and a commit here takes milliseconds to tens of milliseconds. So every repeated message must have been
# delivered first by the killed node, within REPEAT_WINDOW seconds before the kill (generous for a loaded
# 2-core machine, and far below the seconds the queue holds messages here), and again after the kill:
# a repeat of anything the killed node had committed, or of another node's delivery, fails the test.
REPEAT_WINDOW = 2.0


class MarkerSink:
    """marker_sink.py in a process of its own, and what it logged (read incrementally by poll())."""

    def __init__(self, address, port, workdir):
        self.log = Path(workdir) / "sink.log"
        self.log.touch()
        with open(Path(workdir) / "sink.stderr", "wb") as err:
            self.proc = subprocess.Popen([sys.executable, str(E2E_DIR / "marker_sink.py"), address, str(port),
                                          str(self.log)], stdout=subprocess.PIPE, stderr=err, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise AssertionError("marker_sink.py did not start: " + (Path(workdir) / "sink.stderr").read_text())
        self.deliveries = defaultdict(list)  # marker -> [(CLOCK_MONOTONIC time, HELO name of the sender)]
        self.total = 0
        self.mismatched = []  # lines whose recipient and Subject name different markers
        self._offset = 0

    def poll(self):
        with open(self.log, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].decode().splitlines():
            t, helo, rcpts, subject = line.split("\t")
            for r in rcpts.split(","):
                marker = r.split("@", 1)[0]
                if marker != subject:
                    self.mismatched.append(line)
                self.deliveries[marker].append((float(t), helo))
                self.total += 1
        return self.deliveries

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def marker_sink(world, tmp_path):
    _, port, _ = world
    sink = MarkerSink(LOAD_MX, port, tmp_path)
    yield sink
    sink.stop()


def load_message(marker):
    return (f"From: <{SENDER}>\r\nTo: <{marker}@load.test>\r\nSubject: {marker}\r\n"
            f"Message-ID: <{marker}@client.test>\r\n\r\nbody {marker}\r\n").encode()


class Injector:
    """Client threads sending chunks (node index, "smtp" or "http", markers) to the nodes; records what
    was acknowledged (250 after DATA, 202), sessions and requests that ended without an answer (`lost`),
    and any other answer (`refused`)."""

    def __init__(self, nodes, api_key):
        self.nodes, self.key = nodes, api_key
        self.lock = threading.Lock()
        self.acked = set()
        self.sent_to = {}  # marker -> index of the node it was sent to
        self.lost, self.refused, self.errors = [], [], []
        self.queue = queue.Queue()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(INJECTORS)]
        for t in self.threads:
            t.start()

    def put(self, chunks):
        for c in chunks:
            self.queue.put(c)

    def acknowledged(self):
        with self.lock:
            return len(self.acked)

    def finish(self, timeout):
        for _ in self.threads:
            self.queue.put(None)
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self.threads), f"injection did not end within {timeout} s"

    def _run(self):
        while (item := self.queue.get()) is not None:
            i, kind, batch = item
            with self.lock:
                self.sent_to.update((m, i) for m in batch)
            try:
                (self._smtp if kind == "smtp" else self._http)(i, batch)
            except Exception as e:  # noqa: BLE001 - shown by the test, which fails on any
                self.errors.append((i, kind, repr(e)))

    def _smtp(self, i, batch):
        try:
            with smtplib.SMTP(HOST, self.nodes[i].relay_port, local_hostname="injector.test", timeout=30) as s:
                for m in batch:
                    s.sendmail(SENDER, [f"{m}@load.test"], load_message(m))  # returns on 250 only
                    with self.lock:
                        self.acked.add(m)
        except smtplib.SMTPRecipientsRefused as e:
            self.refused.append((i, "smtp", str(e.recipients)))
        except smtplib.SMTPResponseException as e:
            self.refused.append((i, "smtp", f"{e.smtp_code} {e.smtp_error!r}"))
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            self.lost.append((i, "smtp", repr(e)))

    def _http(self, i, batch):
        body = json.dumps({"from": SENDER, "subject": "{{m}}", "text": "body {{m}}",
                           "recipients": [{"to": f"{m}@load.test", "variables": {"m": m}} for m in batch]})
        c = http.client.HTTPConnection(HOST, self.nodes[i].api_port, timeout=30)
        try:
            c.request("POST", "/v1/messages", body,
                      {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
            r = c.getresponse()
            text = r.read()
        except (OSError, http.client.HTTPException) as e:
            self.lost.append((i, "http", repr(e)))
            return
        finally:
            c.close()
        if r.status != 202:
            self.refused.append((i, "http", f"{r.status} {text[:300]!r}"))
            return
        named = [x["recipients"] for x in json.loads(text)["messages"]]
        if named != [[f"{m}@load.test"] for m in batch]:
            self.refused.append((i, "http", f"202 naming other recipients: {named[:3]}"))
            return
        with self.lock:
            self.acked.update(batch)


def api_get(k, path):
    c = http.client.HTTPConnection(HOST, k.api_port, timeout=60)
    try:
        c.request("GET", path, headers={"Authorization": f"Bearer {k.api_key}"})
        r = c.getresponse()
        text = r.read()
    finally:
        c.close()
    assert r.status == 200, (path, r.status, text[:500])
    return json.loads(text)


def api_events(k, type):
    """Every event of `type` over GET /v1/events, oldest first, page by page."""
    out, cursor = [], None
    while True:
        page = api_get(k, f"/v1/events?type={type}&order=asc&limit=1000" + (f"&cursor={cursor}" if cursor else ""))
        out += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def node_of(nodes_status, k):
    return next(n for name, n in nodes_status.items() if name.endswith(str(k.dir)))


def test_three_nodes_deliver_20000_messages_through_a_kill9_and_a_leader_kill(cluster, marker_sink):
    t_start = time.monotonic()
    nodes = [cluster(sets=[f"delivery.helo_name=node{i}.test"]) for i in range(3)]
    t_ready = time.monotonic()
    run = uuid.uuid4().hex[:8]
    markers = [f"e2e-{run}-{n:05d}" for n in range(N_MESSAGES)]
    # Round robin over the nodes, chunk by chunk; three SMTP chunks, then three API chunks, and so on.
    chunks = [(j % 3, "smtp" if (j // 3) % 2 == 0 else "http", markers[j * CHUNK:(j + 1) * CHUNK])
              for j in range(N_MESSAGES // CHUNK)]
    victim_index = 1
    victim = nodes[victim_index]
    inj = Injector(nodes, nodes[0].api_key)
    third = len(chunks) // 3

    # The first two thirds of the chunks; the victim is killed once a third of the messages are acknowledged.
    inj.put(chunks[:2 * third])
    wait_until(lambda: inj.acknowledged() >= N_MESSAGES // 3, 120, "a third of the messages acknowledged",
               interval=0.01)
    victim.kill9()
    killed_at = time.monotonic()
    acked_at_kill = inj.acknowledged()
    queued_at_kill = node_of(status(nodes[0]), victim)["messages"]  # its row still looks alive for LEASE s

    def taken_over():
        n = node_of(status(nodes[0]), victim)
        return not n["alive"] and n["messages"] == 0
    wait_until(taken_over, LEASE + 15, "the killed node's queue taken over by the others", interval=0.2)
    takeover_took = time.monotonic() - killed_at
    victim.start()
    down_for = time.monotonic() - killed_at
    # The last third, round robin over all three again.
    inj.put(chunks[2 * third:])
    inj.finish(timeout=240)
    t_injected = time.monotonic()
    acked = set(inj.acked)

    assert not inj.errors, inj.errors[:5]
    assert not inj.refused, f"{len(inj.refused)} refusals, e.g. {inj.refused[:5]}"
    assert all(i == victim_index for i, _, _ in inj.lost), \
        [x for x in inj.lost if x[0] != victim_index][:5]  # only the killed node's clients lost an answer

    # Every acknowledged message reaches the sink.
    deadline = time.monotonic() + 120
    while True:
        got = marker_sink.poll()
        missing = [m for m in acked if m not in got]
        if not missing:
            break
        assert time.monotonic() < deadline, \
            f"{len(missing)} of {len(acked)} acknowledged messages not delivered in 120 s, e.g. {sorted(missing)[:5]}"
        time.sleep(0.25)
    t_delivered = time.monotonic()
    # Then nothing is left queued: what was committed without an acknowledgement is delivered too.
    wait_until(lambda: all(n["alive"] and n["messages"] == 0 for n in status(nodes[0]).values()), 60,
               "every node's queue empty")
    got = {m: sorted(d) for m, d in marker_sink.poll().items()}
    assert not marker_sink.mismatched, marker_sink.mismatched[:5]
    assert set(got) <= set(markers), sorted(set(got) - set(markers))[:5]

    repeated = {m: d for m, d in got.items() if len(d) > 1}
    unacked_delivered = sorted(m for m in got if m not in acked)
    victim_helo = f"node{victim_index}.test"
    in_window = sum(1 for d in got.values() for t, helo in d
                    if helo == victim_helo and killed_at - REPEAT_WINDOW <= t < killed_at)
    figures = (f"nodes up {t_ready - t_start:.1f} s; injected {N_MESSAGES} in {t_injected - t_ready:.1f} s; "
               f"acknowledged {len(acked)} ({acked_at_kill} at the kill), not acknowledged {N_MESSAGES - len(acked)}; "
               f"killed node: {queued_at_kill} queued at the kill, taken over after {takeover_took:.1f} s, down "
               f"{down_for:.1f} s; all acknowledged delivered {t_delivered - t_ready:.1f} s after start of injection; "
               f"delivered {len(got)} distinct, {marker_sink.total} copies, repeated {len(repeated)} "
               f"(first copies up to {max((killed_at - d[0][0] for d in repeated.values()), default=0) * 1000:.0f} ms "
               f"before the kill; the killed node's deliveries in the {REPEAT_WINDOW} s before it: {in_window}); "
               f"unacknowledged but delivered {len(unacked_delivered)}")
    print("\n" + figures)
    assert acked <= set(got)
    assert all(len(d) == 2 for d in repeated.values()), {m: d for m, d in repeated.items() if len(d) > 2}
    for m, ((t1, helo1), (t2, _)) in repeated.items():
        assert helo1 == victim_helo and killed_at - REPEAT_WINDOW <= t1 < killed_at < t2, \
            (m, got[m], killed_at, figures)
    # An unacknowledged message that was delivered was committed by the killed node as it died.
    assert all(inj.sent_to[m] == victim_index for m in unacked_delivered), \
        [(m, inj.sent_to[m]) for m in unacked_delivered if inj.sent_to[m] != victim_index][:5]

    # Events and statistics: one log, the same on every node. One delivered event per delivered message
    # (a repeat's first copy had no committed result, so it left no event), one accepted event per message
    # committed, and every committed message was delivered. (A kill -9 during the spool's COMMIT lost the
    # batch's events while they were recorded after it: these checks failed in 5 of 25 runs then;
    # test_postgres_store.py reproduces that case every time.)
    want = Counter(f"{m}@load.test" for m in got)
    deadline = time.monotonic() + 30
    while (seen := Counter(e["recipient"] for e in api_events(nodes[0], "delivered"))) != want:
        if time.monotonic() > deadline:
            odd = sorted((want - seen) + (seen - want))[:3]
            detail = {r: {"sent to": inj.sent_to.get(r.split("@")[0]), "acked": r.split("@")[0] in acked,
                          "sink": got.get(r.split("@")[0]), "killed at": killed_at,
                          "events": [(e["type"], e["time"], e.get("mx")) for e in
                                     api_get(nodes[0], f"/v1/events?recipient={r}&order=asc")["data"]]}
                      for r in odd}
            raise AssertionError(f"delivered events: {len(want - seen)} delivered messages without one, "
                                 f"{len(seen - want)} too many: {detail}; {figures}")
        time.sleep(0.5)
    for k in (nodes[0], nodes[2]):
        delivered_events = api_events(k, "delivered")
        accepted_events = api_events(k, "accepted")
        assert Counter(e["recipient"] for e in delivered_events) == want
        accepted = Counter(r for e in accepted_events for r in e["recipients"])
        assert accepted == want, \
            f"accepted events: {len(want - accepted)} delivered messages without one, e.g. " \
            f"{[(r, r.split('@')[0] in acked) for r in sorted(want - accepted)[:3]]} (recipient, acknowledged); " \
            f"{len(accepted - want)} too many, e.g. {sorted(accepted - want)[:3]}; {figures}"
        totals = api_get(k, "/v1/stats")["totals"]
        assert totals["sent"] == len(accepted_events) == len(got), totals
        assert totals["delivered"] == len(delivered_events) == len(got), totals
        assert totals["bounced"]["total"] == len(api_events(k, "bounced")), totals
        assert totals["deferred"] == len(api_events(k, "deferred")), totals
    assert api_get(nodes[0], "/v1/stats")["totals"] == api_get(nodes[2], "/v1/stats")["totals"]

    # The housekeeping leader killed: another live node takes the lock (PostgreSQL frees it when the dead
    # node's session ends, at once for a kill -9: its socket is closed) at its next heartbeat (every
    # LEASE/3 s, at least 1 s); the dead node's row stops counting once its heartbeat is LEASE s old.
    before = status(nodes[0])
    leaders = [name for name, n in before.items() if n["leader"]]
    assert len(leaders) == 1 and all(n["alive"] for n in before.values()), before
    leader = next(k for k in nodes if leaders[0].endswith(str(k.dir)))
    witness = next(k for k in nodes if k is not leader)
    leader.kill9()
    leader_killed_at = time.monotonic()

    def new_leader():
        st = status(witness)
        return [n for name, n in st.items() if n["leader"] and not name.endswith(str(leader.dir))]
    assert len(wait_until(new_leader, LEASE + 5, "another node running the housekeeping")) == 1
    new_leader_after = time.monotonic() - leader_killed_at

    def one_live_leader():
        st = status(witness)
        return not node_of(st, leader)["alive"] and [n["alive"] for n in st.values() if n["leader"]] == [True]
    wait_until(one_live_leader, LEASE + 5, "exactly one leader, alive")
    settled_after = time.monotonic() - leader_killed_at
    print(f"leader killed: another leads after {new_leader_after:.1f} s, the only leader after {settled_after:.1f} s; "
          f"total {time.monotonic() - t_start:.1f} s")
    marker_sink.poll()
    assert marker_sink.total == sum(len(d) for d in got.values()), "nothing is delivered once every queue is empty"


def test_a_suspension_through_one_node_holds_every_node_s_queue(world, cluster):
    """`kurier queue suspend` through one node is stored in the database; the other nodes read it at their
    next heartbeat (every lease / 3) and hold their own queues for that destination until it is resumed."""
    _, _, recorder = world
    a, b = cluster(), cluster()
    a.cli("queue", "suspend", "dest.test")
    time.sleep(2.5)  # two of b's heartbeats
    markers = [f"h-{uuid.uuid4().hex}" for _ in range(5)]
    send(b, markers)
    time.sleep(3)
    assert not delivered(recorder, markers), "b delivered to a destination suspended through a"
    assert "delivery to dest.test suspended through another node" in b.stderr()
    a.cli("queue", "resume", "dest.test")
    wait_delivered(recorder, markers, timeout=20)
    assert set(delivered(recorder, markers).values()) == {1}


def test_a_retry_through_another_node_reaches_the_owner(world, cluster):
    """`kurier queue retry ID` through a node that does not own the message leaves the request in the
    database; the owner takes it at its next heartbeat and tries the deferred recipient at once, instead of
    an hour later."""
    _, _, recorder = world
    a = cluster(sets=("queue.retry_initial=3600",))
    b = cluster()
    marker = f"r-{uuid.uuid4().hex}"
    recorder.rcpt_replies["later@dest.test"] = "451 4.2.0 mailbox busy, try again later"
    try:
        with smtplib.SMTP(HOST, a.relay_port, timeout=10) as s:
            s.sendmail("alice@example.com", ["later@dest.test"],
                       f"From: <alice@example.com>\r\nTo: <later@dest.test>\r\nSubject: {marker}\r\n\r\nbody\r\n".encode())
        wait_until(lambda: [e for e in a.events("deferred") if e["data"]["recipient"] == "later@dest.test"], 20,
                   "the first attempt deferred")
    finally:
        del recorder.rcpt_replies["later@dest.test"]
    msg_id = [e for e in a.events("deferred") if e["data"]["recipient"] == "later@dest.test"][-1]["message_id"]
    out = b.cli("queue", "retry", msg_id).stdout
    assert "belongs to node" in out and "next heartbeat" in out, out
    wait_delivered(recorder, [marker], timeout=10)  # an hour's wait otherwise
    assert delivered(recorder, [marker]) == {marker: 1}
    # A message that no node has is still refused with the way to look.
    missing = b.cli("queue", "retry", "no-such-id", check=False)
    assert missing.returncode != 0 and "kurier queue show" in missing.stdout + missing.stderr
