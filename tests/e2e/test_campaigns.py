"""Campaigns (issue 17) through a running kurier to a real receiving MX (aiosmtpd, reached through a local
unbound): a campaign to a list is personalised per contact from a stored template and reaches every
subscribed, active contact once, not the unsubscribed or suppressed ones; pause holds it between batches
and resume goes on; the results count what its messages' events say. Exactly once across a crash: a
campaign is killed with kill -9 mid-send (delivery off, so that nothing but the campaign can repeat a
message), restarted with delivery on, and every contact receives exactly one message."""
import re
import sqlite3
import time
import urllib.parse
import uuid
from collections import Counter

import pytest

from conftest import free_port
from dns_peer import Unbound
from receivers import Receiver, Recorder, wait_until

MX = "127.0.0.14"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    dns = Unbound(str(tmp_path_factory.mktemp("dns")), ["aud.test. 300 IN MX 10 mx.aud.test.", f"mx.aud.test. 300 IN A {MX}"])
    port = free_port()
    recorder = Recorder()
    receiver = Receiver(MX, port, recorder)
    yield dns, port, recorder
    receiver.stop()
    dns.stop()


def node(kurier_factory, world, delivery=True, *sets):
    dns, port, _ = world
    return kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", "queue.retry_initial=1", *sets,
                          sender_domains=["shop.test"], delivery=delivery)


def received_by(recorder, marker):
    """address -> how many messages with `marker` in them it received."""
    counts = Counter()
    with recorder.lock:
        for _, rcpts, content in recorder.received:
            if marker.encode() in content:
                for r in rcpts:
                    counts[r.lower()] += 1
    return counts


def setup_audience(k, n, marker, extra=()):
    st, lst = k.api("POST", "/v1/lists", {"name": f"news-{marker}"})
    assert st == 201, lst
    rows = ["email,first_name,city"] + [f"u{i}-{marker}@aud.test,Zoë{i},Łódź" for i in range(n)] + list(extra)
    st, _, text = k.curl("POST", f"/v1/contacts/import?list={lst['id']}", body="\r\n".join(rows) + "\r\n",
                         content_type="text/csv")
    assert st == 200, text
    st, tpl = k.api("POST", "/v1/templates", {"name": f"tpl-{marker}", "subject": "Cześć {{first_name}} " + marker,
                                              "text": "Hello {{first_name}} from {{city}}, {{offer}}",
                                              "html": "<p>Hello {{first_name}} <a href=\"https://shop.test/x\">x</a></p>"})
    assert st == 201, tpl
    return lst, tpl


def create(k, lst, tpl, marker, **extra):
    body = {"name": f"spring-{marker}", "from": "Shop <news@shop.test>", "template": tpl["id"],
            "audience": {"lists": [lst["id"]]}, "tags": ["spring"], "variables": {"offer": "10% off"}}
    body.update(extra)
    st, c = k.api("POST", "/v1/campaigns", body)
    assert st == 201, c
    return c


def campaign(k, cid):
    st, c = k.api("GET", f"/v1/campaigns/{cid}")
    assert st == 200, c
    return c


def test_a_campaign_reaches_each_subscribed_active_contact_once_personalised(kurier_factory, world):
    _, _, recorder = world
    k = node(kurier_factory, world)
    marker = uuid.uuid4().hex[:10]
    lst, tpl = setup_audience(k, 40, marker)
    # One contact unsubscribed from the list, one suppressed: neither gets the campaign.
    st, _ = k.api("PUT", f"/v1/lists/{lst['id']}/members/u0-{marker}@aud.test", {"status": "unsubscribed"})
    assert st == 200
    st, _ = k.api("POST", "/v1/suppressions", {"address": f"u1-{marker}@aud.test"})
    assert st == 201
    # The segment narrows the list: everyone in Łódź but Zoë5.
    c = create(k, lst, tpl, marker, audience={"lists": [lst["id"]],
                                              "segment": 'attributes.city = "Łódź" and not attributes.first_name = "Zoë5"'})
    assert c["state"] == "draft"
    st, c = k.api("POST", f"/v1/campaigns/{c['id']}/schedule", {})
    assert st == 200 and c["state"] == "scheduled", c
    wait_until(lambda: campaign(k, c["id"])["state"] == "finished", 30, "the campaign to finish")
    wait_until(lambda: len(received_by(recorder, marker)) == 37, 30, "37 deliveries")
    got = received_by(recorder, marker)
    assert set(got.values()) == {1}, got
    assert f"u0-{marker}@aud.test" not in got and f"u1-{marker}@aud.test" not in got and f"u5-{marker}@aud.test" not in got
    done = campaign(k, c["id"])
    assert done["targeted"] == 37 and done["sent"] == 37, done
    # Personalised, with the campaign's default for a variable no contact has, and one-click unsubscribe.
    with recorder.lock:
        msg = next(content for _, rcpts, content in recorder.received if rcpts == [f"u7-{marker}@aud.test"])
    text = msg.decode("utf-8", "replace")
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in text
    assert "=?utf-8?" in text.lower()  # the Polish subject, encoded
    assert "Zo=C3=AB7" in text or "Zoë7" in text, text[:2000]
    wait_until(lambda: k.api("GET", f"/v1/campaigns/{c['id']}/results")[1]["delivered"]["unique"] == 37, 20, "results")
    st, res = k.api("GET", f"/v1/campaigns/{c['id']}/results")
    assert res["sent"] == 37 and res["rates"]["delivered"] == 1.0, res
    types = [e["type"] for e in k.events() if e["type"].startswith("campaign_")]
    assert types == ["campaign_scheduled", "campaign_started", "campaign_finished"], types
    # A segment that is not one is refused when the campaign is made, naming the column.
    st, bad = k.api("POST", "/v1/campaigns", {"name": "bad", "from": "Shop <news@shop.test>", "template": tpl["id"],
                                              "audience": {"lists": [lst["id"]], "segment": "opened(within: )"}})
    assert st == 422 and "column" in str(bad), bad
    # A finished campaign cannot be scheduled again.
    st, again = k.api("POST", f"/v1/campaigns/{c['id']}/schedule", {})
    assert st == 409, again


def test_pause_holds_the_campaign_and_resume_goes_on(kurier_factory, world):
    _, _, recorder = world
    k = node(kurier_factory, world)
    marker = uuid.uuid4().hex[:10]
    lst, tpl = setup_audience(k, 30, marker)
    c = create(k, lst, tpl, marker, max_per_hour=36000)  # 10 a second
    st, c = k.api("POST", f"/v1/campaigns/{c['id']}/schedule", {})
    assert st == 200
    wait_until(lambda: campaign(k, c["id"])["sent"] >= 5, 20, "the first messages")
    st, p = k.api("POST", f"/v1/campaigns/{c['id']}/pause", {})
    assert st == 200 and p["state"] == "paused", p
    time.sleep(1.5)  # a batch in flight at the pause may still land
    held = campaign(k, c["id"])["sent"]
    time.sleep(2.5)
    assert campaign(k, c["id"])["sent"] == held, "a paused campaign went on sending"
    assert held < 30
    st, r = k.api("POST", f"/v1/campaigns/{c['id']}/resume", {})
    assert st == 200 and r["state"] == "running", r
    wait_until(lambda: campaign(k, c["id"])["state"] == "finished", 30, "the campaign to finish")
    wait_until(lambda: len(received_by(recorder, marker)) == 30, 30, "30 deliveries")
    assert set(received_by(recorder, marker).values()) == {1}


def test_a_spread_campaign_paces_itself_and_finishes_as_does_one_with_no_audience(kurier_factory, world):
    _, _, recorder = world
    k = node(kurier_factory, world)
    marker = uuid.uuid4().hex[:10]
    lst, tpl = setup_audience(k, 20, marker)
    c = create(k, lst, tpl, marker, spread_hours=0.0015)  # 5.4 s for 20 contacts
    st, _ = k.api("POST", f"/v1/campaigns/{c['id']}/schedule", {})
    assert st == 200
    wait_until(lambda: campaign(k, c["id"])["sent"] >= 1, 10, "the first messages")
    time.sleep(1.5)
    partway = campaign(k, c["id"])["sent"]
    assert 1 <= partway < 20, partway  # spread, not all at once
    wait_until(lambda: campaign(k, c["id"])["state"] == "finished", 30, "the spread campaign to finish")
    wait_until(lambda: len(received_by(recorder, marker)) == 20, 30, "20 deliveries")
    # A campaign whose audience is empty finishes too, spread or not.
    st, empty = k.api("POST", "/v1/lists", {"name": f"empty-{marker}"})
    c2 = create(k, empty, tpl, marker + "-e", spread_hours=2)
    st, _ = k.api("POST", f"/v1/campaigns/{c2['id']}/schedule", {})
    wait_until(lambda: campaign(k, c2["id"])["state"] == "finished", 15, "the empty campaign to finish")
    assert campaign(k, c2["id"])["targeted"] == 0


def test_kill9_mid_campaign_sends_to_every_contact_exactly_once(kurier_factory, world):
    _, _, recorder = world
    k = node(kurier_factory, world, False)  # delivery off: only the campaign could repeat a message
    marker = uuid.uuid4().hex[:10]
    n = 1500
    lst, tpl = setup_audience(k, n, marker)
    c = create(k, lst, tpl, marker, max_per_hour=720000)  # 200 a second: about 7 s for all
    st, _ = k.api("POST", f"/v1/campaigns/{c['id']}/schedule", {})
    assert st == 200
    wait_until(lambda: campaign(k, c["id"])["sent"] >= 300, 30, "300 messages spooled")
    k.kill9()
    before = len(k.queue_list())
    assert 300 <= before < n, before  # mid-campaign
    # The worst moment for the cursor: as if the crash came between the spool's commit of a batch and the
    # cursor's update, every time. The campaign must go on from the spool's ledger, not from its cursor.
    with sqlite3.connect(k.dir / "kurier.db") as db:
        assert db.execute("UPDATE campaigns SET cursor = 0").rowcount == 1
    # Back with delivery on: the spool delivers what was acknowledged, the campaign goes on from its ledger.
    text = open(k.config).read()
    text = re.sub(r"(\[delivery\][^\[]*?enabled\s*=\s*)false", r"\1true", text, flags=re.S)
    open(k.config, "w").write(text)
    k.start()
    wait_until(lambda: campaign(k, c["id"])["state"] == "finished", 60, "the campaign to finish")
    wait_until(lambda: len(received_by(recorder, marker)) == n, 90, f"{n} deliveries")
    time.sleep(2)
    got = received_by(recorder, marker)
    assert len(got) == n
    twice = {a: x for a, x in got.items() if x != 1}
    assert not twice, f"{len(twice)} contacts got the campaign more than once: {list(twice.items())[:5]}"
    assert campaign(k, c["id"])["sent"] == n
