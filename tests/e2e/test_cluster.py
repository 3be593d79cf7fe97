"""Several kurier nodes on one PostgreSQL database (issue 16), delivering to a real receiver through a
local unbound: each node delivers what it accepted, once; a node's queued mail stays its own while it
heartbeats and is taken over by another node once it stops (kill -9), each message delivered once;
`kurier cluster status` shows the nodes, their queues and the housekeeping leader."""
import json
import shutil
import smtplib
import socket
import threading
import time
import uuid
from collections import Counter

import pytest

from conftest import HOST, free_port
from dns_peer import Unbound
from receivers import Receiver, Recorder

LEASE = 3  # cluster.lease_timeout, seconds: nodes heartbeat every second


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    dns = Unbound(str(tmp_path_factory.mktemp("dns")),
                  ["dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.12"])
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

    def make(delivery=True, lease=LEASE, toml="", db_port=None):
        """`toml`: added to the node's kurier.toml; `db_port`: reach the database through this port (a proxy)."""
        url = postgres.url(db)
        if db_port:
            url = url.replace(f":{postgres.port}/", f":{db_port}/")
        sets = [f"store.url={url}", f"store.password_file={pw}", f"dns.forward={dns.forward}",
                f"delivery.port={port}", "queue.retry_initial=1", f"cluster.lease_timeout={lease}"]
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
