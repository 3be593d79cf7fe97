"""Mail sent through the HTTP API reaches a real receiving server (aiosmtpd) through kurier's delivery:
the receiver's copy, parsed with Python's `email` package, has the attachments byte-exact and the
non-ASCII names and subject decoded exactly; a scheduled send arrives only after its time."""

import base64
import email
import email.policy
import time
import uuid

import pytest

from receivers import mx_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with mx_world(str(tmp_path_factory.mktemp("dns")), "api-rx.test", "127.0.0.31") as w:
        yield w


@pytest.fixture
def k(world, kurier_factory):
    dns, port, _ = world
    return kurier_factory(f"dns.forward={dns.forward}", f"delivery.port={port}", sender_domains=["api.test"], delivery=True)


def test_receiver_gets_exact_attachments_and_names(world, k):
    _, _, rec = world
    marker = uuid.uuid4().hex
    blob = bytes(range(256)) * 300 + b"\r\n.\r\n" + b"\x00\xff" * 10
    status, res = k.api("POST", "/v1/messages", {
        "from": {"email": "shop@api.test", "name": "Łódź Sklep"},
        "to": {"email": "kasia@api-rx.test", "name": "Kasia Żółć"},
        "subject": f"Faktura {marker} – €100",
        "text": f"Płatność {marker}\n",
        "attachments": [{"filename": "raport końcowy 2026 — bardzo długa nazwa pliku.bin", "content": base64.b64encode(blob).decode()}]})
    assert status == 202, res
    _, rcpts, content = rec.wait_for(marker)
    assert rcpts == ["kasia@api-rx.test"]
    msg = email.message_from_bytes(content, policy=email.policy.default)
    assert msg["Subject"] == f"Faktura {marker} – €100"
    assert msg["From"].addresses[0].display_name == "Łódź Sklep"
    assert msg["To"].addresses[0].display_name == "Kasia Żółć"
    [att] = [p for p in msg.walk() if p.get_filename()]
    assert att.get_filename() == "raport końcowy 2026 — bardzo długa nazwa pliku.bin"
    assert att.get_content() == blob
    status, m = k.api("GET", f"/v1/messages/{res['messages'][0]['id']}")
    deadline = time.time() + 10
    while m["status"] != "delivered" and time.time() < deadline:
        time.sleep(0.2)
        status, m = k.api("GET", f"/v1/messages/{res['messages'][0]['id']}")
    assert m["status"] == "delivered" and m["recipients"][0]["events"][-1]["type"] == "delivered", m


def test_scheduled_send_waits_for_its_time(world, k):
    _, _, rec = world
    marker = uuid.uuid4().hex
    at = int(time.time()) + 3
    status, res = k.api("POST", "/v1/messages", {"from": "shop@api.test", "to": "later@api-rx.test",
                                                 "subject": marker, "text": "later", "send_at": at})
    assert status == 202 and res["messages"][0]["status"] == "scheduled", res
    time.sleep(1)
    assert not [m for m in rec.received if marker.encode() in m[2]], "sent before its time"
    rec.wait_for(marker, timeout=20)
    assert time.time() >= at
