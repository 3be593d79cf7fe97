"""Test mode (issue 14): an account flag under which kurier validates, signs, tracks and records mail
(events, statistics) as usual but delivers nothing, so an application can be wired up before DNS is
ready. Here there is no DNS at all (dns.forward points at a port nobody answers): mail of the account in
test mode is `delivered` by "test-mode" at once, DKIM-signed; with test mode off the same mail cannot be
routed and is deferred."""

import json
import uuid

from conftest import free_port
from receivers import wait_until


def delivered_to(k, rcpt):
    return [e for e in k.events("delivered") if e["data"].get("recipient") == rcpt]


def test_an_account_in_test_mode_records_everything_and_sends_nothing(kurier_factory):
    k = kurier_factory(f"dns.forward=127.0.0.1@{free_port()}", "queue.retry_initial=1", sender_domains=["tm.test"],
                       delivery=True)
    k.cli("domain", "add", "default", "tm.test", "--json")
    status, acc = k.api("PATCH", "/v1/accounts/default", {"test_mode": True})
    assert status == 200 and acc["test_mode"] is True, acc
    marker = uuid.uuid4().hex[:10]
    a, b, c = f"a-{marker}@nowhere.test", f"b-{marker}@elsewhere.test", f"c-{marker}@nowhere.test"
    status, res = k.api("POST", "/v1/messages", {"from": "shop@tm.test", "to": [a, b], "subject": "s",
                                                 "html": '<a href="https://shop.tm.test/x">x</a>', "track_clicks": True})
    assert status == 202, res
    with k.smtp_submission() as s:
        s.sendmail("shop@tm.test", [c], f"From: shop@tm.test\r\nTo: {c}\r\nSubject: {marker}\r\n\r\nbody\r\n".encode())
    for rcpt in (a, b, c):
        [ev] = wait_until(lambda: delivered_to(k, rcpt), 15, f"the delivered event of {rcpt}")
        assert ev["data"]["mx"] == "test-mode" and "test mode" in ev["data"]["reply"], ev
        assert ev["data"]["dkim"], "signed as it would have been sent"
    assert k.queue_list() == []
    assert not [e for e in k.events("deferred") if marker in e["data"].get("recipient", "")]

    # Off again: the same mail needs a route, and there is no DNS.
    status, acc = k.api("PATCH", "/v1/accounts/default", {"test_mode": None})
    assert status == 200 and acc["test_mode"] is None
    d = f"d-{marker}@nowhere.test"
    status, res = k.api("POST", "/v1/messages", {"from": "shop@tm.test", "to": d, "subject": "s", "text": "t"})
    assert status == 202, res
    wait_until(lambda: [e for e in k.events("deferred") if e["data"].get("recipient") == d], 30, "the deferral")
    assert delivered_to(k, d) == []
