"""The event log and statistics over the API (curl): GET /v1/events filters by type, message, recipient
and tag, pages with a cursor in both orders, and shows only the key's own account; GET /v1/stats counts
recipients per hour or day with rates, filtered by tag and sending domain. Delivery events (through a
real receiver behind a local DNS) carry the message's account, sender, tags and metadata, so they can be
filtered and counted like accepted ones."""

import re
import time
import uuid

import pytest

from receivers import mx_world, wait_until


@pytest.fixture
def k(kurier_factory):
    return kurier_factory(sender_domains=["ev.test", "other.test"])


def send(k, to, tags=(), sender="shop@ev.test", key=None, **extra):
    status, res = k.api("POST", "/v1/messages", {"from": sender, "to": to, "subject": "s", "text": "t",
                                                 "tags": list(tags), **extra}, key=key)
    assert status == 202, res
    return res["messages"][0]["id"]


def test_filters_and_cursor(k):
    ids = [send(k, f"r{i}@example.net", tags=["odd" if i % 2 else "even"]) for i in range(5)]
    status, res = k.api("GET", "/v1/events?type=accepted")
    assert status == 200
    assert [e["message_id"] for e in res["data"]] == ids[::-1], "newest first"
    e = res["data"][0]
    assert e["type"] == "accepted" and e["account"] == k.account and e["recipients"] == ["r4@example.net"]
    assert e["time"].endswith("Z")

    status, res = k.api("GET", "/v1/events?tag=odd")
    assert {e["message_id"] for e in res["data"]} == {ids[1], ids[3]}
    status, res = k.api("GET", "/v1/events?recipient=R2@example.net")
    assert [e["message_id"] for e in res["data"]] == [ids[2]]
    status, res = k.api("GET", f"/v1/events?message_id={ids[0]}")
    assert [e["message_id"] for e in res["data"]] == [ids[0]]

    # Oldest first, two at a time, following the cursor: every event once, in order.
    seen, cursor = [], None
    for _ in range(10):
        status, res = k.api("GET", "/v1/events?type=accepted&order=asc&limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200 and len(res["data"]) <= 2
        seen += [e["message_id"] for e in res["data"]]
        cursor = res["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


def test_bad_filters_are_named(k):
    for query, pointer in [("type=nonsense", "/query/type"), ("limit=0", "/query/limit"), ("from=yesterday", "/query/from"),
                           ("order=sideways", "/query/order"), ("colour=red", "/query/colour"), ("cursor=x", "/query/cursor")]:
        status, res = k.api("GET", f"/v1/events?{query}")
        assert status == 422, (query, res)
        assert res["errors"][0]["pointer"] == pointer, (query, res)
    status, res = k.api("GET", "/v1/stats?by=week")
    assert status == 422 and res["errors"][0]["pointer"] == "/query/by"
    status, res = k.api("GET", "/v1/stats?from=2020-01-01T00:00:00Z&by=hour")
    assert status == 422 and "2000 buckets" in res["errors"][0]["detail"]


def test_accounts_see_only_their_own_events(k):
    send(k, "mine@example.net")
    status, res = k.api("POST", "/v1/accounts", {"name": "other", "sender_domains": ["other.test"]})
    assert status == 201, res
    status, res = k.api("POST", "/v1/api-keys", {"name": "o", "scopes": ["send", "read"], "account": "other"})
    other = res["key"]
    send(k, "theirs@example.net", sender="x@other.test", key=other)
    status, res = k.api("GET", "/v1/events", key=other)
    assert [e["recipients"] for e in res["data"]] == [["theirs@example.net"]]
    status, res = k.api("GET", "/v1/events?account=default", key=other)
    assert status == 422 and res["errors"][0]["pointer"] == "/query/account"
    status, res = k.api("GET", "/v1/events?account=other")  # the init key is admin
    assert status == 200 and len(res["data"]) == 1


def test_stats_count_recipients_by_tag_and_domain(k):
    status, res = k.api("POST", "/v1/messages", {"from": "shop@ev.test", "to": ["a@example.net", "b@example.net"],
                                                 "subject": "s", "text": "t", "tags": ["promo"]})
    assert status == 202
    send(k, "c@example.net", tags=["receipt"])
    send(k, "d@example.net", tags=["promo"], sender="news@other.test")
    status, st = k.api("GET", "/v1/stats?by=hour")
    assert status == 200, st
    assert st["by"] == "hour" and len(st["buckets"]) in (24, 25)
    assert st["totals"]["sent"] == 4
    assert sum(b["sent"] for b in st["buckets"]) == 4
    assert st["buckets"][-1]["sent"] == 4 and st["buckets"][-1]["start"].endswith(":00:00Z")
    status, st = k.api("GET", "/v1/stats?tag=promo")
    assert st["totals"]["sent"] == 3 and st["by"] == "day"
    status, st = k.api("GET", "/v1/stats?domain=other.test")
    assert st["totals"]["sent"] == 1
    assert st["totals"]["rates"]["delivery"] == 0


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with mx_world(str(tmp_path_factory.mktemp("dns")), "ev-rx.test", "127.0.0.34") as w:
        yield w


def test_delivery_events_carry_the_message_context(world, kurier_factory):
    dns, port, rec = world
    k = kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", sender_domains=["ev.test"], delivery=True)
    marker = uuid.uuid4().hex[:8]
    gone = f"gone-{marker}@ev-rx.test"
    rec.rcpt_replies[gone] = "550 5.1.1 no such user"
    status, res = k.api("POST", "/v1/messages", {"from": "shop@ev.test", "to": [f"ok-{marker}@ev-rx.test", gone],
                                                 "subject": "s", "text": "t", "tags": ["t1"], "metadata": {"order": 7}})
    assert status == 202, res
    mid = res["messages"][0]["id"]
    wait_until(lambda: len(k.api("GET", f"/v1/events?message_id={mid}")[1]["data"]) >= 3, 15, "delivery events")
    status, res = k.api("GET", f"/v1/events?message_id={mid}&order=asc")
    by_type = {e["type"]: e for e in res["data"]}
    d, b = by_type["delivered"], by_type["bounced"]
    assert d["recipient"] == f"ok-{marker}@ev-rx.test" and d["account"] == k.account
    assert d["tags"] == ["t1"] and d["metadata"] == {"order": 7} and d["mail_from"] == "shop@ev.test"
    assert b["recipient"] == gone and "5.1.1" in b["reply"] and b["tags"] == ["t1"]
    status, res = k.api("GET", "/v1/events?type=delivered&tag=t1")
    assert [e["message_id"] for e in res["data"]] == [mid]
    status, st = k.api("GET", "/v1/stats?tag=t1")
    t = st["totals"]
    assert t["sent"] == 2 and t["delivered"] == 1 and t["bounced"]["total"] == 1
    assert t["rates"]["delivery"] == 0.5 and t["rates"]["bounce"] == 0.5
    # written as people write fractions (0.5), not in Boost's exponent form (5E-1)
    _, _, text = k.curl("GET", "/v1/stats?tag=t1")
    assert '"delivery":0.5' in text and not re.search(r"\d[eE][-+]?\d", text), text
