"""Webhooks end to end: endpoints registered over the API receive signed POSTs over HTTPS (a local CA,
certificate verification on) for the events they asked for; the Standard Webhooks signature verifies
with Python's hmac (not kurier's code); 5xx answers are retried with the same webhook-id; a restart
in the middle of the retries loses nothing; 410 Gone disables the endpoint; a rotated secret signs
beside the previous one; the test route reports what the endpoint answered, including a certificate
kurier does not trust."""

import json
import time
import uuid

import pytest

from webhook_peer import WebhookReceiver, make_ca, verify

SEND = {"from": "shop@hooks.test", "subject": "Order", "text": "Thanks."}


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def receiver(ca):
    _, cert, key = ca
    rx = WebhookReceiver(cert, key)
    yield rx
    rx.stop()


def start_kurier(kurier_factory, ca, *sets):
    ca_pem = ca[0]
    return kurier_factory(f"events.webhook_ca_file={json.dumps(ca_pem)}",
                          "events.webhook_retry_schedule=[1, 1, 1]", *sets, sender_domains=["hooks.test"])


def create_webhook(k, url, types=None, **extra):
    body = {"url": url, **extra}
    if types is not None:
        body["event_types"] = types
    status, res = k.api("POST", "/v1/webhooks", body)
    assert status == 201, res
    assert res["secret"].startswith("whsec_")
    return res


def send(k, to):
    status, res = k.api("POST", "/v1/messages", {**SEND, "to": to})
    assert status == 202, res
    return res["messages"][0]


def test_accepted_event_arrives_signed_over_https(kurier_factory, ca, receiver):
    k = start_kurier(kurier_factory, ca)
    hook = create_webhook(k, receiver.url(), ["accepted"])
    msg = send(k, f"buyer-{uuid.uuid4().hex[:8]}@example.net")
    [req] = receiver.wait_for(lambda r: msg["id"].encode() in r["body"])
    assert req["headers"]["content-type"] == "application/json"
    assert verify(hook["secret"], req["headers"], req["body"]), req["headers"]
    assert not verify("whsec_" + "QUJD" * 8, req["headers"], req["body"]), "a wrong secret must not verify"
    payload = json.loads(req["body"])
    assert payload["type"] == "accepted"
    assert payload["data"]["message_id"] == msg["id"]
    assert payload["data"]["recipients"] == msg["recipients"]
    assert payload["data"]["account"] == k.account
    # The listing never shows the secret again.
    status, res = k.api("GET", f"/v1/webhooks/{hook['id']}")
    assert status == 200 and "secret" not in res and res["url"] == receiver.url()


def test_only_subscribed_types_are_sent(kurier_factory, ca, receiver):
    k = start_kurier(kurier_factory, ca)
    create_webhook(k, receiver.url(), ["suppressed"])
    gone = f"gone-{uuid.uuid4().hex[:8]}@example.net"
    assert k.api("POST", "/v1/suppressions", {"address": gone})[0] == 201
    send(k, f"kept-{uuid.uuid4().hex[:8]}@example.net")  # accepted: not subscribed
    msg = send(k, gone)
    assert msg["status"] == "suppressed"
    receiver.wait_for(lambda r: gone.encode() in r["body"])
    time.sleep(1)
    assert [e["type"] for e in receiver.events()] == ["suppressed"], receiver.events()


def test_server_errors_are_retried_with_the_same_id(kurier_factory, ca, ca_receiver_500):
    rx = ca_receiver_500
    k = start_kurier(kurier_factory, ca)
    hook = create_webhook(k, rx.url(), ["accepted"])
    msg = send(k, "retry@example.net")
    hits = rx.wait_for(lambda r: msg["id"].encode() in r["body"] and len(rx.requests) >= 3, timeout=20, what="three attempts")
    ids = {r["headers"]["webhook-id"] for r in rx.requests}
    assert len(ids) == 1, ids
    assert all(verify(hook["secret"], r["headers"], r["body"]) for r in rx.requests)
    deadline = time.time() + 10
    while time.time() < deadline:
        status, res = k.api("GET", f"/v1/webhooks/{hook['id']}/deliveries")
        if res["data"] and res["data"][0]["state"] == "delivered":
            break
        time.sleep(0.2)
    [row] = res["data"]
    assert row["state"] == "delivered" and row["attempts"] == 3 and row["event_type"] == "accepted", row


@pytest.fixture
def ca_receiver_500(ca):
    _, cert, key = ca
    rx = WebhookReceiver(cert, key, statuses=[500, 503])
    yield rx
    rx.stop()


def test_restart_during_retries_loses_nothing(kurier_factory, ca, tmp_path):
    _, cert, key = ca
    rx = WebhookReceiver(cert, key, default_status=503)
    try:
        k = start_kurier(kurier_factory, ca, "events.webhook_retry_schedule=[2, 2, 2, 2, 2, 2]")
        create_webhook(k, rx.url(), ["accepted"])
        msgs = [send(k, f"r{i}@example.net") for i in range(3)]
        rx.wait_for(lambda r: msgs[-1]["id"].encode() in r["body"], what="the first failed attempt")
        k.kill9()
        rx.default_status = 200
        k.start()
        for m in msgs:
            rx.wait_for(lambda r, m=m: m["id"].encode() in r["body"] and rx.requests.index(r) >= 3, timeout=20,
                        what=f"a delivery of {m['id']} after the restart")
    finally:
        rx.stop()


def test_gone_disables_the_endpoint(kurier_factory, ca):
    _, cert, key = ca
    rx = WebhookReceiver(cert, key, default_status=410)
    try:
        k = start_kurier(kurier_factory, ca)
        hook = create_webhook(k, rx.url(), ["accepted"])
        send(k, "one@example.net")
        rx.wait_for(lambda r: True)
        deadline = time.time() + 10
        while time.time() < deadline:
            status, res = k.api("GET", f"/v1/webhooks/{hook['id']}")
            if not res["enabled"]:
                break
            time.sleep(0.2)
        assert res["enabled"] is False and "410 Gone" in res["disabled_reason"], res
        send(k, "two@example.net")
        time.sleep(2)
        assert len(rx.requests) == 1, "a disabled endpoint gets nothing more"
        # Enabling it again is one PATCH.
        status, res = k.api("PATCH", f"/v1/webhooks/{hook['id']}", {"enabled": True})
        assert status == 200 and res["enabled"] is True and "disabled_reason" not in res
    finally:
        rx.stop()


def test_rotation_signs_with_both_secrets(kurier_factory, ca, receiver):
    k = start_kurier(kurier_factory, ca)
    hook = create_webhook(k, receiver.url(), ["accepted"])
    status, rotated = k.api("POST", f"/v1/webhooks/{hook['id']}/rotate-secret", {"keep_previous_seconds": 3600})
    assert status == 200 and rotated["secret"] != hook["secret"] and "previous_secret_expires" in rotated
    msg = send(k, "rot@example.net")
    [req] = receiver.wait_for(lambda r: msg["id"].encode() in r["body"])
    assert len(req["headers"]["webhook-signature"].split(" ")) == 2
    assert verify(hook["secret"], req["headers"], req["body"])
    assert verify(rotated["secret"], req["headers"], req["body"])
    # Without keeping the previous one, only the newest signs.
    status, third = k.api("POST", f"/v1/webhooks/{hook['id']}/rotate-secret", {"keep_previous_seconds": 0})
    assert status == 200
    msg = send(k, "rot2@example.net")
    [req] = receiver.wait_for(lambda r: msg["id"].encode() in r["body"])
    assert verify(third["secret"], req["headers"], req["body"])
    assert not verify(rotated["secret"], req["headers"], req["body"])


def test_test_route_reports_the_answer_and_untrusted_certificates(kurier_factory, ca, receiver, tmp_path):
    k = start_kurier(kurier_factory, ca)
    hook = create_webhook(k, receiver.url())
    status, res = k.api("POST", f"/v1/webhooks/{hook['id']}/test")
    assert status == 200 and res == {"delivered": True, "status": 200}, res
    [req] = receiver.wait_for(lambda r: b'"test"' in r["body"])
    assert verify(hook["secret"], req["headers"], req["body"])

    # A server whose certificate comes from a CA kurier was not told about.
    _, cert, key = make_ca(tmp_path / "other-ca")
    stranger = WebhookReceiver(cert, key)
    try:
        other = create_webhook(k, stranger.url())
        status, res = k.api("POST", f"/v1/webhooks/{other['id']}/test")
        assert status == 200 and res["delivered"] is False, res
        assert "certificate" in res["error"] and "webhook_ca_file" in res["error"], res
        assert stranger.requests == []
    finally:
        stranger.stop()


def test_invalid_webhooks_are_refused_with_pointers(kurier_factory, ca):
    k = start_kurier(kurier_factory, ca)
    for body, pointer in [({"url": "ftp://x.test/"}, "/url"),
                          ({"url": "https://user:pw@x.test/"}, "/url"),
                          ({}, "/url"),
                          ({"url": "https://x.test/", "event_types": ["nonsense"]}, "/event_types/0"),
                          ({"url": "https://x.test/", "colour": "red"}, "/colour")]:
        status, res = k.api("POST", "/v1/webhooks", body)
        assert status == 422, (body, res)
        assert pointer in {e["pointer"] for e in res["errors"]}, (body, res)
    status, res = k.api("GET", "/v1/webhooks/wh_nonexistent")
    assert status == 404
    status, res = k.api("GET", "/v1/webhooks")
    assert status == 200 and res["data"] == []
