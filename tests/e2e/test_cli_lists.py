"""The CLI's listings at the size an operator meets, and its command line: `kurier queue list` over a
queue of 130,000 messages says where it cut the list and counts them all by state (before, it stopped
at 100,000 without a word); `events list` is newest first like GET /v1/events, with --limit, --since
and a checked --type; a mistyped command or option exits 2 and says what was meant."""

import http.client
import json
import threading
import time

import pytest

from receivers import wait_until

from conftest import HOST, KURIER_BIN, run, run_with_stderr_on_a_terminal

QUEUE = 130_000


def inject(k, total, per_request=1000, connections=4):
    """`total` one-recipient messages through POST /v1/messages batches (the API's fast path: 130,000
    take a few seconds, where SMTP would take half a minute)."""
    chunks = [(s, min(per_request, total - s)) for s in range(0, total, per_request)]
    errors = []

    def worker(mine):
        c = http.client.HTTPConnection(HOST, k.api_port, timeout=120)
        try:
            for start, n in mine:
                body = json.dumps({"from": "alice@example.com", "subject": "bulk", "text": "x",
                                   "recipients": [{"to": f"r{start + i}@ext.test"} for i in range(n)]})
                c.request("POST", "/v1/messages", body, {"Authorization": f"Bearer {k.api_key}",
                                                        "Content-Type": "application/json"})
                r = c.getresponse()
                text = r.read()
                if r.status != 202:
                    errors.append((r.status, text[:300]))
                    return
        finally:
            c.close()
    threads = [threading.Thread(target=worker, args=(chunks[i::connections],)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@pytest.fixture(scope="module")
def big(kurier_module):
    started = time.monotonic()
    inject(kurier_module, QUEUE)
    assert time.monotonic() - started < 60, "the queue must be built in seconds"
    return kurier_module


def test_a_queue_of_130000_is_listed_and_counted(big):
    counts = big.cli_json("queue", "list", "--count", "--json")
    assert counts["total"] == QUEUE and counts["queued"] == QUEUE, counts
    assert all(v == 0 for s, v in counts.items() if s not in ("queued", "total")), counts
    assert big.cli("queue", "list", "--count", "--status", "queued").stdout == f"{QUEUE}\n"
    assert big.cli("queue", "list", "--count", "--status", "deferred").stdout == "0\n"
    text = big.cli("queue", "list", "--count").stdout.splitlines()
    assert text[0].split() == ["STATUS", "MESSAGES"] and text[-1].split() == ["total", str(QUEUE)], text

    # the default list is cut, and says so
    lines = big.cli("queue", "list").stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "RECEIVED", "STATUS"], lines[0]
    assert lines[-1].startswith(f"showing 1000 of {QUEUE} messages") and "--limit" in lines[-1], lines[-1]
    assert len(lines) == 1 + 1000 + 1
    proc = big.cli("queue", "list", "--json", "--limit", "7")
    assert len(json.loads(proc.stdout)) == 7
    assert f"showing 7 of {QUEUE} messages" in proc.stderr, proc.stderr
    # all of it: nothing silently left out
    proc = big.cli("queue", "list", "--json", "--limit", "0")
    listed = json.loads(proc.stdout)
    assert len(listed) == QUEUE and len({m["id"] for m in listed}) == QUEUE and proc.stderr == ""
    assert {m["status"] for m in listed} == {"queued"}


def test_events_list_newest_first_with_limit_and_since(big):
    # The API first: the server moves what its event journal still holds into the log before it answers,
    # so the CLI (another process, reading the log) then sees the same newest events.
    status, api = big.api("GET", "/v1/events?limit=3")
    newest = big.cli_json("events", "list", "--json", "--limit", "3")
    assert [e["type"] for e in newest] == ["accepted"] * 3
    assert newest[0]["id"] > newest[1]["id"] > newest[2]["id"], "newest first, like GET /v1/events"
    assert status == 200 and [int(e["id"]) for e in api["data"]] == [e["id"] for e in newest]
    proc = big.cli("events", "list", "--limit", "2")
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["TIME", "TYPE", "MESSAGE", "DATA"] and len(lines) == 4, lines
    assert "showing the 2 newest events" in lines[-1] and "--limit" in lines[-1]
    oldest = big.cli_json("events", "list", "--json", "--limit", "1", "--order", "asc")
    assert oldest[0]["id"] < newest[-1]["id"]
    assert len(big.cli_json("events", "list", "--json", "--since", "1h", "--limit", "5")) == 5
    assert big.cli_json("events", "list", "--json", "--since", "2099-01-01T00:00:00Z") == []
    assert big.cli_json("events", "list", "--json", "--type", "delivered") == []
    assert len(big.cli_json("events", "list", "--json", "--type", "accepted", "--limit", "0")) == QUEUE


ARGUMENT_ERRORS = [
    (["queue", "lst"], "unknown command 'lst'; did you mean 'list'?"),
    # the options after a misspelt command were meant for it: the command word is what is wrong
    (["queue", "lst", "--config", "k/kurier.toml"], "unknown command 'lst'; did you mean 'list'?"),
    (["qeue", "list"], "unknown command 'qeue'; did you mean 'queue'?"),
    (["queue", "list", "--limt", "5"], "unknown option '--limt' for 'kurier queue list'; did you mean '--limit'?"),
    (["events", "list", "--tpye", "accepted"], "did you mean '--type'?"),
    (["queue", "list", "--status", "waiting"], "use one of queued, scheduled, deferred, delivered, bounced, suppressed, mixed"),
    (["events", "list", "--type", "sent"], "unknown event type 'sent'; use one of accepted,"),
    (["events", "list", "--since", "yesterday"], "or a time ago (15m, 1h, 7d)"),
    (["events", "list", "--limit", "many"], "--limit"),
    (["queue", "list", "--limit", "-1"], "--limit"),
    (["events", "list", "--limit=-5"], "--limit"),
    (["stats"], "unknown command 'stats'; did you mean 'status'?"),
    (["auth", "unblock"], "give --ip ADDRESS, --user USERNAME or both"),
    (["queue"], "'kurier queue' needs a command: list, show,"),
    (["queue", "show"], "id is required"),
    (["queue", "frobnicate"], "unknown command 'frobnicate'; 'kurier queue' has list, show,"),
]


@pytest.mark.parametrize("args,said", ARGUMENT_ERRORS, ids=[" ".join(a) for a, _ in ARGUMENT_ERRORS])
def test_argument_errors_exit_2_and_say_what_was_meant(args, said, tmp_path):
    proc = run([KURIER_BIN, *args], timeout=30, cwd=str(tmp_path))
    assert proc.returncode == 2, f"exit {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    assert said in proc.stderr and proc.stdout == "", proc.stderr
    assert "--help" in proc.stderr, "it says where the usage is"
    assert list(tmp_path.iterdir()) == [], "an argument error creates nothing"


def test_a_command_that_fails_exits_1(tmp_path):
    proc = run([KURIER_BIN, "queue", "list", "--config", str(tmp_path / "none.toml")], timeout=30)
    assert proc.returncode == 1 and "not found" in proc.stderr, proc.stderr


def schedule(k, n):
    send_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    status, res = k.api("POST", "/v1/messages", {"from": "alice@example.com", "subject": "later", "text": "x", "send_at": send_at,
                                                 "recipients": [{"to": f"s{i}@ext.test"} for i in range(n)]})
    assert status == 202 and len(res["messages"]) == n, res


def test_queue_delete_all_through_the_server_quiet_in_a_pipe(kurier_factory):
    k = kurier_factory(delivery=True)  # the running server's delivery deletes them
    schedule(k, 400)
    k.api("POST", "/v1/messages", {"from": "alice@example.com", "to": "now@ext.test", "subject": "now", "text": "x"})
    bad = k.cli("queue", "delete", "--status", "scheduled", check=False)
    assert bad.returncode == 2 and "--all" in bad.stderr, bad.stderr
    proc = k.cli("queue", "delete", "--all", "--status", "scheduled")
    assert proc.stdout == "400 scheduled message(s) deleted\n" and proc.stderr == "", "no progress line in a pipe"
    # The server writes `deleted` events through its event journal, moved into the log within moments;
    # the CLI reads the log from another process.
    wait_until(lambda: len(k.events("deleted")) == 400, 15, "the 400 deleted events")
    assert [m for m in k.queue_list() if m["status"] == "scheduled"] == []
    assert k.cli("queue", "list", "--count", "--status", "scheduled").stdout == "0\n"


def test_queue_delete_all_shows_progress_on_a_terminal(kurier_factory):
    k = kurier_factory()  # delivery off: the CLI changes the spool files
    schedule(k, 300)
    proc, shown = run_with_stderr_on_a_terminal([KURIER_BIN, "queue", "delete", "--all", "--config", k.config], text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("300 message(s) deleted"), proc.stdout
    assert b"deleting message(s): 300 of 300 (100 %)" in shown, shown
    assert k.queue_list() == []


LISTS = [["account", "list"], ["smtp-user", "list"], ["api-key", "list"], ["domain", "list"], ["queue", "list"],
         ["events", "list"]]


def test_list_commands_print_a_header_and_take_json(kurier):
    kurier.cli("domain", "add", "default", "example.com")
    assert kurier.api("POST", "/v1/messages", {"from": "alice@example.com", "to": "a@ext.test", "subject": "s", "text": "x"})[0] == 202
    for args in LISTS:
        lines = kurier.cli(*args).stdout.splitlines()
        assert lines and lines[0] == lines[0].upper() and lines[0].split()[0].isalpha(), (args, lines[:2])
        assert len(lines) >= 2, f"{args}: a header and at least one row: {lines}"
        assert isinstance(json.loads(kurier.cli(*args, "--json").stdout), list), args
