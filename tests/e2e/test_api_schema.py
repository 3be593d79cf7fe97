"""Every response the server gives matches /v1/openapi.json, strictly (issue 14 item 12): the test drives
every documented operation with realistic data (accounts, keys, SMTP credentials, templates with
versions, sent, scheduled, cancelled, suppressed and delivered messages with their events, opens, clicks
and an unsubscribe, webhooks with deliveries, suppressions, statistics) and the common errors (400, 401,
403, 404, 409, 413, 415, 422, 429, 503 when busy), and checks each answer against the document the
server serves:

- the status is one the operation documents;
- the Content-Type is one the response documents, and a JSON body matches its schema, where every
  object schema that names its properties is closed (a key it does not name is a gap, as if it said
  additionalProperties: false), every `required` property is present, and types, enums and consts hold;
- every header the server sends on purpose (all but Server, Date, Content-Type, Content-Length,
  Connection, Keep-Alive) is declared in the response's `headers`, and each one it says is required
  is sent;
- every JSON body the server took is one the operation's requestBody schema allows;
- the POSTs kurier made to a webhook endpoint match the document's top-level `webhooks` entry (body and
  headers).

The gaps are collected and reported all at once; at the end every documented operation must have been
called."""

import email
import email.policy
import json
import re
import socket
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from receivers import wait_until
from webhook_peer import WebhookReceiver

METHODS = ("get", "post", "put", "patch", "delete")
# Headers of the transport, not of an operation: never documented per response.
STANDARD_HEADERS = {"server", "date", "content-type", "content-length", "connection", "keep-alive"}


class Validator:
    """A strict walker of the OpenAPI 3.1 schemas of one document (the subset it uses)."""

    def __init__(self, doc):
        self.doc = doc

    def resolve(self, schema):
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            assert ref.startswith("#/"), ref
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema = node
            seen += 1
            assert seen < 50, f"$ref loop at {ref}"
        return schema

    def errors(self, value, schema, ptr=""):
        """Every way `value` breaks `schema`, as "pointer: what" strings."""
        schema = self.resolve(schema)
        if schema is True or schema == {}:
            return []
        out = []
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            props, required, types = dict(merged.get("properties", {})), list(merged.get("required", [])), None
            for part in schema["allOf"]:
                part = self.resolve(part)
                props.update(part.get("properties", {}))
                required += part.get("required", [])
                if "type" in part:
                    types = part["type"]
                for k in ("additionalProperties",):
                    if k in part:
                        merged[k] = part[k]
            merged["properties"], merged["required"] = props, required
            if types is not None:
                merged["type"] = types
            return self.errors(value, merged, ptr)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                alternatives = [self.errors(value, s, ptr) for s in schema[key]]
                passing = sum(1 for a in alternatives if not a)
                if passing == 0:
                    out += min(alternatives, key=len)
                elif key == "oneOf" and passing > 1:
                    out.append(f"{ptr or '/'}: matches {passing} alternatives of a oneOf")
        if "const" in schema and value != schema["const"]:
            out.append(f"{ptr or '/'}: {value!r} is not the documented constant {schema['const']!r}")
        if "enum" in schema and value not in schema["enum"]:
            out.append(f"{ptr or '/'}: {value!r} is not one of the documented values {schema['enum']}")
        types = schema.get("type")
        if types is not None:
            types = [types] if isinstance(types, str) else types
            if not any(self.is_type(value, t) for t in types):
                out.append(f"{ptr or '/'}: {type(value).__name__} {json.dumps(value)[:80]} is not documented "
                           f"(type {'/'.join(types)})")
                return out
        if isinstance(value, dict) and ("properties" in schema or "required" in schema or
                                        "additionalProperties" in schema or types == ["object"]):
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for name in schema.get("required", []):
                if name not in value:
                    out.append(f"{ptr}/{name}: required by the document but missing")
            for name, v in value.items():
                if name in props:
                    out += self.errors(v, props[name], f"{ptr}/{name}")
                elif isinstance(extra, dict):
                    out += self.errors(v, extra, f"{ptr}/{name}")
                elif props or extra is False:
                    # Strict: an object whose properties are named is closed.
                    out.append(f"{ptr}/{name}: not a documented property")
        if isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                out += self.errors(item, schema["items"], f"{ptr}/{i}")
        return out

    @staticmethod
    def is_type(value, t):
        return {"object": lambda: isinstance(value, dict),
                "array": lambda: isinstance(value, list),
                "string": lambda: isinstance(value, str),
                "boolean": lambda: isinstance(value, bool),
                "null": lambda: value is None,
                "integer": lambda: isinstance(value, int) and not isinstance(value, bool),
                "number": lambda: isinstance(value, (int, float)) and not isinstance(value, bool)}[t]()


class Api:
    """Calls the server and checks each answer against its documented operation; collects the gaps."""

    def __init__(self, k, doc):
        self.k, self.doc, self.v = k, doc, Validator(doc)
        self.gaps, self.called = [], set()

    def call(self, method, template, params=None, body=None, key=None, headers=(), query="",
             content_type="application/json", expect=None):
        path = template
        for name, value in (params or {}).items():
            path = path.replace("{" + name + "}", str(value))
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        status, hdrs, text = self.k.curl(method, path + query, body, key=key, headers=headers,
                                         content_type=content_type)
        where = f"{method} {template} -> {status}"
        self.called.add((method.lower(), template))
        if expect is not None:
            assert status == expect, f"{where}: expected {expect}: {text[:600]}"
        parsed = self.check(method, template, status, hdrs, text, where)
        if 200 <= status < 300 and body and content_type == "application/json":
            self.check_request(method, template, json.loads(body), where)
        return status, hdrs, parsed if parsed is not None else text

    def check_request(self, method, template, body, where):
        """A body the server took must be one the document allows."""
        op = self.doc["paths"].get(template, {}).get(method.lower(), {})
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            self.gaps.append(f"{where}: took a JSON body the document does not describe")
            return
        self.gaps += [f"{where}: request body taken, but the document says {e}" for e in self.v.errors(body, schema)]

    def check(self, method, template, status, hdrs, text, where):
        op = self.doc["paths"].get(template, {}).get(method.lower())
        if op is None:
            self.gaps.append(f"{method} {template}: not documented")
            return None
        response = op["responses"].get(str(status))
        if response is None:
            self.gaps.append(f"{where}: status {status} is not documented for the operation")
            return None
        response = self.v.resolve(response)
        declared = {h.lower() for h in response.get("headers", {})}
        for h in sorted(set(hdrs) - STANDARD_HEADERS - declared):
            self.gaps.append(f"{where}: header {h} is sent but not documented")
        for h, spec in response.get("headers", {}).items():
            if self.v.resolve(spec).get("required") and h.lower() not in hdrs:
                self.gaps.append(f"{where}: header {h} is documented as always sent but missing")
        content = response.get("content", {})
        ctype = hdrs.get("content-type", "").split(";")[0].strip()
        if not text and not content:
            return None
        if ctype not in content:
            self.gaps.append(f"{where}: Content-Type {ctype} is not documented (documented: {sorted(content)})")
            return None
        if ctype.endswith("json"):
            value = json.loads(text)
            schema = content[ctype].get("schema")
            if schema is None:
                self.gaps.append(f"{where}: {ctype} has no schema")
            else:
                self.gaps += [f"{where}: {e}" for e in self.v.errors(value, schema)]
            return value
        return None


def later(**delta):
    return (datetime.now(timezone.utc) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def tracking_links(raw):
    """The pixel, a click link and the unsubscribe link of a tracked message (decoded from its MIME)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    html = msg.get_body(("html",)).get_content()
    pixel = re.search(r'/t/o/([^"]+)"', html).group(1)
    click = re.search(r'/t/c/([^"]+)"', html).group(1)
    unsub = re.search(r"/t/u/([^>]+)>", str(msg["List-Unsubscribe"])).group(1)
    return pixel, click, unsub


@pytest.fixture
def api(kurier_factory):
    k = kurier_factory("queue.retry_initial=1", "dns.forward=127.0.0.1@9", sender_domains=["api.test"], delivery=True)
    k.cli("domain", "add", "default", "api.test", "--json")
    status, doc = k.api("GET", "/v1/openapi.json", key="")
    assert status == 200
    a = Api(k, doc)
    yield a


def drive_accounts_and_keys(a):
    a.call("GET", "/v1/openapi.json", key="", expect=200)
    a.call("GET", "/v1/accounts", expect=200)
    a.call("GET", "/v1/accounts", key="", expect=401)
    a.call("GET", "/v1/accounts", key="not-a-key", expect=401)
    a.call("POST", "/v1/accounts", body={"name": "shop", "sender_domains": ["shop.test"], "sandbox": True,
                                         "track_opens": True}, expect=201)
    a.call("POST", "/v1/accounts", body={"name": "shop"}, expect=409)
    a.call("POST", "/v1/accounts", body="{not json", expect=400)
    a.call("POST", "/v1/accounts", body={"name": "bad name!"}, expect=422)
    a.call("POST", "/v1/accounts", body="name=x", content_type="application/x-www-form-urlencoded", expect=415)
    a.call("GET", "/v1/accounts/{name}", {"name": "shop"}, expect=200)
    a.call("GET", "/v1/accounts/{name}", {"name": "nobody"}, expect=404)
    a.call("PATCH", "/v1/accounts/{name}", {"name": "shop"}, body={"add_sender_domains": ["news.shop.test"],
                                                                   "track_clicks": False, "test_mode": None}, expect=200)
    a.call("PATCH", "/v1/accounts/{name}", {"name": "shop"}, body={"sandbox": "yes"}, expect=422)
    a.call("PATCH", "/v1/accounts/{name}", {"name": "nobody"}, body={"sandbox": True}, expect=404)
    a.call("PATCH", "/v1/accounts/{name}", {"name": "default"}, body={"test_mode": True}, expect=200)

    _, _, created = a.call("POST", "/v1/api-keys", body={"name": "reader", "scopes": ["read"]}, expect=201)
    reader = created["key"]
    _, _, shop_key = a.call("POST", "/v1/api-keys", body={"name": "shop", "scopes": ["send", "read"],
                                                          "account": "shop"}, expect=201)
    a.call("POST", "/v1/api-keys", body={"name": "x", "scopes": ["root"]}, expect=422)
    a.call("POST", "/v1/api-keys", body={"name": "x", "scopes": ["send"]}, key=reader, expect=403)
    a.call("GET", "/v1/api-keys", expect=200)
    a.call("GET", "/v1/api-keys", query="?account=shop", expect=200)
    a.call("GET", "/v1/api-keys", query="?account=nobody", expect=404)
    a.call("GET", "/v1/api-keys", query="?account=default", key=shop_key["key"], expect=403)
    a.call("GET", "/v1/api-keys", query="?bogus=1", expect=422)
    a.call("DELETE", "/v1/api-keys/{id}", {"id": shop_key["id"]}, expect=200)
    a.call("DELETE", "/v1/api-keys/{id}", {"id": shop_key["id"]}, expect=409)
    a.call("DELETE", "/v1/api-keys/{id}", {"id": 999999}, expect=404)

    a.call("POST", "/v1/smtp-credentials", body={"username": "shop-app", "account": "shop"}, expect=201)
    a.call("POST", "/v1/smtp-credentials", body={"username": "shop-app", "account": "shop"}, expect=409)
    a.call("POST", "/v1/smtp-credentials", body={"username": "bad name"}, expect=422)
    a.call("POST", "/v1/smtp-credentials", body={}, expect=201)
    a.call("GET", "/v1/smtp-credentials", expect=200)
    a.call("GET", "/v1/smtp-credentials", query="?account=shop", expect=200)
    a.call("GET", "/v1/smtp-credentials", query="?account=nobody", expect=404)
    a.call("DELETE", "/v1/smtp-credentials/{username}", {"username": "shop-app"}, expect=200)
    a.call("DELETE", "/v1/smtp-credentials/{username}", {"username": "shop-app"}, expect=404)
    return reader


def drive_templates(a, reader):
    body = {"name": "welcome", "subject": "Hello {{name}}", "text": "Hi {{name}}", "html": "<p>Hi {{name}}</p>"}
    _, _, t = a.call("POST", "/v1/templates", body=body, expect=201)
    a.call("POST", "/v1/templates", body=body, expect=409)
    a.call("POST", "/v1/templates", body={"name": "broken", "subject": "{{#x}}"}, expect=422)
    a.call("POST", "/v1/templates", body="[1", expect=400)
    a.call("POST", "/v1/templates", body=body, key=reader, expect=403)
    a.call("PUT", "/v1/templates/{id}", {"id": t["id"]}, body={"subject": "Hello again {{name}}", "text": "v2 {{name}}"},
           expect=200)
    a.call("PATCH", "/v1/templates/{id}", {"id": "welcome"}, body={"html": "<b>{{name}}</b>"}, expect=200)
    a.call("PATCH", "/v1/templates/{id}", {"id": "welcome"}, body={"colour": "red"}, expect=422)
    a.call("PUT", "/v1/templates/{id}", {"id": "nothing"}, body={"subject": "s", "text": "t"}, expect=404)
    a.call("GET", "/v1/templates", expect=200)
    a.call("GET", "/v1/templates/{id}", {"id": t["id"]}, expect=200)
    a.call("GET", "/v1/templates/{id}", {"id": "nothing"}, expect=404)
    a.call("GET", "/v1/templates/{id}/versions/{version}", {"id": "welcome", "version": 2}, expect=200)
    a.call("GET", "/v1/templates/{id}/versions/{version}", {"id": "welcome", "version": 9}, expect=404)
    a.call("POST", "/v1/templates/{id}/versions/{version}/publish", {"id": "welcome", "version": 3}, expect=200)
    a.call("POST", "/v1/templates/{id}/versions/{version}/publish", {"id": "welcome", "version": 9}, expect=404)
    a.call("POST", "/v1/templates/{id}/render", {"id": "welcome"}, body={"variables": {}}, expect=200)
    a.call("POST", "/v1/templates/{id}/render", {"id": "welcome"}, body={"variables": {"name": "Ada"}, "version": 1},
           expect=200)
    a.call("POST", "/v1/templates/{id}/render", {"id": "welcome"}, body={"version": 99}, expect=422)
    _, _, draft = a.call("POST", "/v1/templates", body={"name": "draft", "subject": "s", "text": "t", "publish": False},
                         expect=201)
    a.call("GET", "/v1/templates/{id}", {"id": draft["id"]}, expect=200)
    a.call("DELETE", "/v1/templates/{id}", {"id": draft["id"]}, expect=200)
    a.call("DELETE", "/v1/templates/{id}", {"id": draft["id"]}, expect=404)


def drive_webhooks(a):
    a.call("POST", "/v1/webhooks", body={"url": "ftp://nowhere"}, expect=422)
    a.call("POST", "/v1/webhooks", body="{", expect=400)
    _, _, w = a.call("POST", "/v1/webhooks", body={"url": a.peer.url(), "description": "shop events"}, expect=201)
    a.call("GET", "/v1/webhooks", expect=200)
    a.call("GET", "/v1/webhooks/{id}", {"id": w["id"]}, expect=200)
    a.call("GET", "/v1/webhooks/{id}", {"id": "wh_nothing"}, expect=404)
    a.call("PATCH", "/v1/webhooks/{id}", {"id": w["id"]}, body={"event_types": ["delivered", "accepted", "opened"]},
           expect=200)
    a.call("PATCH", "/v1/webhooks/{id}", {"id": w["id"]}, body={"event_types": ["nonsense"]}, expect=422)
    a.call("POST", "/v1/webhooks/{id}/rotate-secret", {"id": w["id"]}, body={"keep_previous_seconds": 600}, expect=200)
    a.call("POST", "/v1/webhooks/{id}/rotate-secret", {"id": w["id"]}, body={"keep": 1}, expect=422)
    a.call("GET", "/v1/webhooks/{id}", {"id": w["id"]}, expect=200)
    a.call("POST", "/v1/webhooks/{id}/test", {"id": w["id"]}, expect=200)
    _, _, gone = a.call("POST", "/v1/webhooks", body={"url": a.peer.url("/gone")}, expect=201)
    a.call("DELETE", "/v1/webhooks/{id}", {"id": gone["id"]}, expect=204)
    a.call("DELETE", "/v1/webhooks/{id}", {"id": gone["id"]}, expect=404)
    return w


def drive_messages(a, reader):
    k = a.k
    marker = uuid.uuid4().hex[:8]
    to = f"ada-{marker}@rcpt.test"
    a.call("POST", "/v1/suppressions", body={"address": f"gone-{marker}@rcpt.test", "detail": "asked"}, expect=201)
    # A template with variables, to one recipient and a suppressed one; replayed under its Idempotency-Key.
    send = {"from": "Shop <shop@api.test>", "to": [to, f"gone-{marker}@rcpt.test"], "template": "welcome",
            "variables": {"name": "Ada"}, "tags": ["welcome"], "metadata": {"order": 7}}
    idem = (f"Idempotency-Key: k-{marker}",)
    _, _, sent = a.call("POST", "/v1/messages", body=send, headers=idem, expect=202)
    _, hdrs, _ = a.call("POST", "/v1/messages", body=send, headers=idem, expect=202)
    assert hdrs.get("idempotent-replayed") == "true", hdrs
    a.call("POST", "/v1/messages", body={**send, "tags": ["other"]}, headers=idem, expect=422)
    # Batch with per-recipient variables; scheduled with tracking and list-unsubscribe.
    a.call("POST", "/v1/messages", body={"from": "shop@api.test", "subject": "Hi {{name}}", "text": "{{name}}",
                                         "recipients": [{"to": f"b1-{marker}@rcpt.test", "variables": {"name": "B"}},
                                                        {"cc": f"b2-{marker}@rcpt.test", "variables": {"name": "C"},
                                                         "metadata": {"n": 2}}],
                                         "attachments": [{"filename": "a.txt", "content": "aGVsbG8=", "content_type": "text/plain"}]},
           expect=202)
    _, _, scheduled = a.call("POST", "/v1/messages", body={
        "from": "news@api.test", "to": f"news-{marker}@rcpt.test", "subject": "News", "text": "t",
        "html": '<p>See <a href="https://shop.api.test/offer">the offer</a></p>', "send_at": later(hours=2),
        "track_opens": True, "track_clicks": True, "list_unsubscribe": True}, expect=202)
    _, _, cancel = a.call("POST", "/v1/messages", body={"from": "shop@api.test", "to": to, "subject": "s", "text": "t",
                                                        "send_at": later(hours=1)}, expect=202)
    a.call("POST", "/v1/messages", body={"from": "shop@elsewhere.test", "to": to, "subject": "s", "text": "t"},
           expect=403)
    a.call("POST", "/v1/messages", body={"from": "shop@api.test", "subject": "s"}, expect=422)
    a.call("POST", "/v1/messages", body="{", expect=400)
    # A field the entries of a batch share is named once, not once per entry.
    _, _, problem = a.call("POST", "/v1/messages", body={
        "from": "shop@api.test", "subject": "s", "text": "t", "attachments": [{"content": "aGVsbG8="}],
        "recipients": [{"to": f"e1-{marker}@rcpt.test"}, {"to": f"e2-{marker}@rcpt.test"}]}, expect=422)
    assert [e["pointer"] for e in problem["errors"]] == ["/attachments/0/filename"], problem
    a.call("POST", "/v1/messages", body={"from": "shop@api.test", "to": to, "text": "t"}, key=reader, expect=403)
    a.call("POST", "/v1/messages", body="hello", content_type="text/plain", expect=415)
    a.call("POST", "/v1/messages", body={"from": "shop@api.test", "to": to, "text": "t"},
           headers=("Idempotency-Key: " + "x" * 300,), expect=400)
    raw = f"From: shop@api.test\r\nTo: {to}\r\nSubject: raw {marker}\r\n\r\nbody\r\n"
    a.call("POST", "/v1/messages/raw", body={"from": "shop@api.test", "to": [to], "message": raw, "tags": ["raw"]},
           expect=202)
    a.call("POST", "/v1/messages/raw", query=f"?from=shop@api.test&to={to}", body=raw, content_type="message/rfc822",
           expect=202)
    a.call("POST", "/v1/messages/raw", body={"from": "shop@api.test", "to": [to], "message": raw},
           headers=(f"Idempotency-Key: r-{marker}",), expect=202)
    a.call("POST", "/v1/messages/raw", body={"from": "shop@api.test", "to": [to], "message": raw},
           headers=(f"Idempotency-Key: r-{marker}",), expect=202)
    a.call("POST", "/v1/messages/raw", body={"from": "shop@api.test", "message": raw}, expect=422)
    a.call("POST", "/v1/messages/raw", body="{", expect=400)
    a.call("POST", "/v1/messages/raw",
           body={"from": "x@other.test", "to": [to], "message": "From: x@other.test\r\n\r\nb\r\n"}, expect=403)
    a.call("POST", "/v1/messages/raw", body="x", content_type="text/plain", expect=415)

    # The scheduled one: its tracking links (opened, clicked, unsubscribed), then cancelling.
    sid = scheduled["messages"][0]["id"]
    pixel, click, unsub = tracking_links(k.queue_raw(sid))
    a.call("GET", "/t/o/{token}", {"token": pixel}, key="", expect=200)
    a.call("GET", "/t/c/{token}", {"token": click}, key="", expect=302)
    a.call("GET", "/t/u/{token}", {"token": unsub}, key="", expect=200)
    a.call("POST", "/t/u/{token}", {"token": unsub}, key="", body="nothing=1",
           content_type="application/x-www-form-urlencoded", expect=400)
    a.call("POST", "/t/u/{token}", {"token": unsub}, key="", body="List-Unsubscribe=One-Click",
           content_type="application/x-www-form-urlencoded", expect=200)
    for method, tpl in (("GET", "/t/o/{token}"), ("GET", "/t/c/{token}"), ("GET", "/t/u/{token}")):
        a.call(method, tpl, {"token": "forged"}, key="", expect=404)
    a.call("POST", "/t/u/{token}", {"token": "forged"}, key="", body="List-Unsubscribe=One-Click",
           content_type="application/x-www-form-urlencoded", expect=404)
    a.call("POST", "/t/u/{token}", {"token": unsub}, key="", body="{}", expect=415)
    cid = cancel["messages"][0]["id"]
    a.call("GET", "/v1/messages/{id}", {"id": cid}, expect=200)
    a.call("DELETE", "/v1/messages/{id}", {"id": cid}, expect=200)
    a.call("DELETE", "/v1/messages/{id}", {"id": cid}, expect=409)
    a.call("GET", "/v1/messages/{id}", {"id": cid}, expect=200)  # now in state cancelled
    a.call("DELETE", "/v1/messages/{id}", {"id": "nothing"}, expect=404)
    a.call("DELETE", "/v1/messages/{id}", {"id": cid}, key=reader, expect=403)

    # The first message delivered (the account is in test mode), with its events.
    mid = sent["messages"][0]["id"]
    wait_until(lambda: [e for e in k.events("delivered") if e["message_id"] == mid], 20, "the delivery")
    a.call("DELETE", "/v1/messages/{id}", {"id": mid}, expect=409)
    a.call("GET", "/v1/messages/{id}", {"id": mid}, expect=200)
    a.call("GET", "/v1/messages/{id}", {"id": "nothing"}, expect=404)
    a.call("GET", "/v1/messages", expect=200)
    a.call("GET", "/v1/messages", query="?status=delivered&limit=2", expect=200)
    a.call("GET", "/v1/messages", query="?status=lost", expect=422)
    a.call("GET", "/v1/messages", key="", expect=401)
    return mid


def drive_suppressions(a, reader):
    a.call("POST", "/v1/suppressions", body={"addresses": ["a1@rcpt.test", {"address": "a2@rcpt.test",
                                                                             "reason": "complaint"}]}, expect=201)
    a.call("POST", "/v1/suppressions", body={"address": "not an address"}, expect=422)
    a.call("POST", "/v1/suppressions", body={"address": "g@rcpt.test"}, query="?global=true", expect=201)
    a.call("POST", "/v1/suppressions", body={"address": "x@rcpt.test"}, key=reader, expect=403)
    a.call("GET", "/v1/suppressions", expect=200)
    a.call("GET", "/v1/suppressions", query="?limit=1", expect=200)
    a.call("GET", "/v1/suppressions", query="?limit=0", expect=422)
    a.call("GET", "/v1/suppressions", query="?global=true", expect=200)
    a.call("GET", "/v1/suppressions/{address}", {"address": "a2@rcpt.test"}, expect=200)
    a.call("GET", "/v1/suppressions/{address}", {"address": "g@rcpt.test"}, expect=200)
    a.call("GET", "/v1/suppressions/{address}", {"address": "none@rcpt.test"}, expect=404)
    a.call("GET", "/v1/suppressions/{address}", {"address": "a2@rcpt.test"}, query="?bogus=1", expect=200)
    csv = "address,reason,detail\r\nc1@rcpt.test,hard_bounce,550 gone\r\nnot-an-address\r\nc2@rcpt.test\r\n"
    a.call("POST", "/v1/suppressions/import", body=csv, content_type="text/csv", expect=200)
    a.call("POST", "/v1/suppressions/import", body="{}", expect=415)
    a.call("POST", "/v1/suppressions/import", body=csv, content_type="text/csv", query="?global=yes", key=reader,
           expect=403)
    a.call("GET", "/v1/suppressions/export", expect=200)
    a.call("GET", "/v1/suppressions/export", query="?global=true", key=reader, expect=422)
    a.call("DELETE", "/v1/suppressions/{address}", {"address": "c1@rcpt.test"}, expect=204)
    a.call("DELETE", "/v1/suppressions/{address}", {"address": "c1@rcpt.test"}, expect=404)
    a.call("DELETE", "/v1/suppressions/{address}", {"address": "c2@rcpt.test"}, query="?global=true", key=reader,
           expect=403)


def drive_contacts_and_lists(a, reader):
    _, _, lst = a.call("POST", "/v1/lists", body={"name": "Newsletter", "description": "monthly"}, expect=201)
    a.call("POST", "/v1/lists", body={"name": "NEWSLETTER"}, expect=409)
    a.call("POST", "/v1/lists", body={"name": ""}, expect=422)
    a.call("POST", "/v1/lists", body="{", expect=400)
    a.call("GET", "/v1/lists", expect=200)
    a.call("GET", "/v1/lists/{id}", {"id": lst["id"]}, expect=200)
    a.call("GET", "/v1/lists/{id}", {"id": "nothing"}, expect=404)
    _, _, c = a.call("POST", "/v1/contacts", body={"address": "Ann@Example.com", "name": "Ann", "attributes": {"plan": "pro"},
                                             "lists": [lst["id"]]}, expect=201)
    a.call("POST", "/v1/contacts", body={"address": "ann@example.com"}, expect=409)
    a.call("POST", "/v1/contacts", body={"address": "not an address"}, expect=422)
    a.call("POST", "/v1/contacts", body={"address": "x@example.com"}, key=reader, expect=403)
    a.call("GET", "/v1/contacts", expect=200)
    a.call("GET", "/v1/contacts", query=f"?list={lst['id']}&search=ann&limit=1", expect=200)
    a.call("GET", "/v1/contacts", query="?status=lost", expect=422)
    a.call("GET", "/v1/contacts", query="?list=nothing", expect=404)
    a.call("GET", "/v1/contacts/{id}", {"id": str(c["id"])}, expect=200)
    a.call("GET", "/v1/contacts/{id}", {"id": "none@example.com"}, expect=404)
    a.call("PATCH", "/v1/contacts/{id}", {"id": str(c["id"])}, body={"attributes": {"plan": None, "city": "Gdańsk"},
                                                                    "status": "unsubscribed"}, expect=200)
    a.call("PATCH", "/v1/contacts/{id}", {"id": str(c["id"])}, body={"status": "bounced"}, expect=422)
    a.call("PUT", "/v1/lists/{id}/members/{contact}", {"id": lst["id"], "contact": str(c["id"])},
           body={"status": "unsubscribed"}, expect=200)
    a.call("PUT", "/v1/lists/{id}/members/{contact}", {"id": lst["id"], "contact": "none@example.com"}, body={}, expect=404)
    csv = "email;imię;nazwisko;miasto\r\nola@example.pl;Ola;Nowak;Łódź\r\nnot-an-address;x;y;z\r\n"
    a.call("POST", "/v1/contacts/import", body=csv, content_type="text/csv", query=f"?list={lst['id']}", expect=200)
    a.call("POST", "/v1/contacts/import", body="name\r\nAnn\r\n", content_type="text/csv", expect=422)
    a.call("POST", "/v1/contacts/import", body="{}", expect=415)
    a.call("POST", "/v1/segments/preview", body={"segment": 'attributes."miasto" = "Łódź" or name contains "ol"',
                                                 "lists": [lst["id"]]}, expect=200)
    a.call("POST", "/v1/segments/preview", body={"segment": "attributes.x ="}, expect=422)
    a.call("GET", "/v1/contacts", query="?" + urllib.parse.urlencode({"segment": 'domain = "example.pl"'}), expect=200)
    a.call("GET", "/v1/contacts/export", expect=200)
    a.call("GET", "/v1/contacts/export", query="?list=nothing", expect=404)
    a.call("DELETE", "/v1/lists/{id}/members/{contact}", {"id": lst["id"], "contact": str(c["id"])}, expect=200)
    a.call("DELETE", "/v1/lists/{id}/members/{contact}", {"id": lst["id"], "contact": str(c["id"])}, expect=404)
    a.call("DELETE", "/v1/contacts/{id}", {"id": str(c["id"])}, expect=204)
    a.call("DELETE", "/v1/contacts/{id}", {"id": str(c["id"])}, expect=404)
    a.call("DELETE", "/v1/lists/{id}", {"id": lst["id"]}, expect=204)
    a.call("DELETE", "/v1/lists/{id}", {"id": lst["id"]}, expect=404)


def drive_campaigns(a, reader):
    _, _, lst = a.call("POST", "/v1/lists", body={"name": "Campaign audience"}, expect=201)
    a.call("POST", "/v1/contacts", body={"address": "aud1@rcpt.test", "name": "Aud", "lists": [lst["id"]]}, expect=201)
    body = {"name": "spring", "from": "Shop <news@api.test>", "template": "welcome", "audience": {"lists": [lst["id"]]},
            "tags": ["spring"], "max_per_hour": 100, "variables": {"name": "friend"}}
    _, _, k = a.call("POST", "/v1/campaigns", body=body, expect=201)
    a.call("POST", "/v1/campaigns", body=body, expect=409)
    a.call("POST", "/v1/campaigns", body={**body, "name": "other", "audience": {"lists": ["nothing"]}}, expect=422)
    a.call("POST", "/v1/campaigns", body="{", expect=400)
    a.call("POST", "/v1/campaigns", body={**body, "name": "x"}, key=reader, expect=403)
    a.call("GET", "/v1/campaigns", expect=200)
    a.call("GET", "/v1/campaigns/{id}", {"id": k["id"]}, expect=200)
    a.call("GET", "/v1/campaigns/{id}", {"id": "nothing"}, expect=404)
    a.call("POST", "/v1/campaigns/{id}/pause", {"id": k["id"]}, body={}, expect=409)
    a.call("POST", "/v1/campaigns/{id}/schedule", {"id": k["id"]}, body={"start_at": "soon"}, expect=422)
    a.call("POST", "/v1/campaigns/{id}/schedule", {"id": k["id"]}, body="{", expect=400)
    a.call("POST", "/v1/campaigns/{id}/schedule", {"id": "nothing"}, body={}, expect=404)
    a.call("POST", "/v1/campaigns/{id}/schedule", {"id": k["id"]}, body={"start_at": "2099-01-01T00:00:00Z"}, expect=200)
    a.call("POST", "/v1/campaigns/{id}/resume", {"id": k["id"]}, body={}, expect=409)
    a.call("POST", "/v1/campaigns/{id}/cancel", {"id": k["id"]}, body={}, expect=200)
    _, _, k2 = a.call("POST", "/v1/campaigns", body={**body, "name": "now"}, expect=201)
    a.call("POST", "/v1/campaigns/{id}/schedule", {"id": k2["id"]}, body={}, expect=200)
    wait_until(lambda: a.k.api("GET", f"/v1/campaigns/{k2['id']}")[1]["state"] in ("running", "finished"), 15, "the campaign to start")
    a.call("POST", "/v1/campaigns/{id}/pause", {"id": k2["id"]}, body={}, expect=None)
    a.call("POST", "/v1/campaigns/{id}/resume", {"id": k2["id"]}, body={}, expect=None)
    a.call("GET", "/v1/campaigns/{id}/results", {"id": k2["id"]}, expect=200)
    a.call("GET", "/v1/campaigns/{id}/results", {"id": "nothing"}, expect=404)


def drive_events_and_stats(a, mid):
    a.call("GET", "/v1/events", expect=200)
    a.call("GET", "/v1/events", query=f"?message_id={mid}&order=asc", expect=200)
    a.call("GET", "/v1/events", query="?type=opened", expect=200)
    a.call("GET", "/v1/events", query="?type=nonsense", expect=422)
    a.call("GET", "/v1/events", query="?account=shop", expect=200)
    a.call("GET", "/v1/stats", expect=200)
    a.call("GET", "/v1/stats", query="?by=hour&tag=welcome", expect=200)
    a.call("GET", "/v1/stats", query="?by=week", expect=422)
    a.call("GET", "/healthz", expect=200)
    a.call("GET", "/readyz", expect=200)
    a.call("GET", "/metrics", expect=200)


def check_webhook_posts(a, peer):
    """The POSTs kurier sent to the endpoint match the document's `webhooks` entry: body and headers."""
    op = a.doc.get("webhooks", {}).get("event", {}).get("post")
    if op is None:
        a.gaps.append("webhooks: the POSTs kurier sends to endpoints are not documented (top-level webhooks)")
        op = {"parameters": [], "requestBody": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/WebhookPayload"}}}}}
    params = {p["name"].lower(): p for p in map(a.v.resolve, op.get("parameters", [])) if p["in"] == "header"}
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    with peer.lock:
        requests = list(peer.requests)
    assert requests, "the endpoint received no POST"
    for r in requests:
        for h in sorted(set(r["headers"]) - {"host", "content-type", "content-length", "connection", "accept"} - set(params)):
            a.gaps.append(f"webhook POST: header {h} is sent but not documented")
        for name, p in params.items():
            if p.get("required") and name not in r["headers"]:
                a.gaps.append(f"webhook POST: header {name} is documented as always sent but missing")
        a.gaps += [f"webhook POST body: {g}" for g in a.v.errors(json.loads(r["body"]), schema)]


def test_every_response_matches_the_document(api):
    a = api
    peer = WebhookReceiver()
    a.peer = peer
    try:
        reader = drive_accounts_and_keys(a)
        drive_templates(a, reader)
        w = drive_webhooks(a)
        mid = drive_messages(a, reader)
        drive_suppressions(a, reader)
        drive_contacts_and_lists(a, reader)
        drive_campaigns(a, reader)
        drive_events_and_stats(a, mid)
        wait_until(lambda: a.k.api("GET", f"/v1/webhooks/{w['id']}/deliveries")[1]["data"], 20, "a webhook delivery")
        a.call("GET", "/v1/webhooks/{id}/deliveries", {"id": w["id"]}, expect=200)
        a.call("GET", "/v1/webhooks/{id}/deliveries", {"id": "wh_nothing"}, expect=404)
        check_webhook_posts(a, peer)
        a.call("DELETE", "/v1/accounts/{name}", {"name": "nobody"}, expect=404)
        a.call("DELETE", "/v1/accounts/{name}", {"name": "shop"}, expect=200)
    finally:
        peer.stop()
    documented = {(m, p) for p, item in a.doc["paths"].items() for m in item if m in METHODS}
    # Public pages without parameters (such as a rendered guide) need no data: fetched as they are.
    for method, path in sorted(documented - a.called):
        if method == "get" and "{" not in path and a.doc["paths"][path][method].get("security") == []:
            a.call("GET", path, key="", expect=200)
    assert documented - a.called == set(), f"operations this test does not call: {sorted(documented - a.called)}"
    assert not a.gaps, f"{len(a.gaps)} gaps between the responses and /v1/openapi.json:\n" + "\n".join(a.gaps)


def test_rate_limit_and_body_limit_responses_match_the_document(kurier_factory):
    """429 with Retry-After, 413, and 503 with Retry-After (too many connections) on a small server."""
    k = kurier_factory("api.rate_per_second=1", "api.burst=3", "api.max_body=2048", "api.max_connections_per_ip=1",
                       sender_domains=["api.test"])
    status, doc = k.api("GET", "/v1/openapi.json", key="")
    a = Api(k, doc)
    with socket.create_connection(("127.0.0.1", k.api_port)) as held:
        held.sendall(b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        held.recv(1)  # the server has counted it
        _, hdrs, _ = a.call("GET", "/t/o/{token}", {"token": "x"}, key="", expect=503)
    assert hdrs.get("retry-after") == "1", hdrs
    wait_until(lambda: k.curl("GET", "/v1/openapi.json", key="")[0] == 200, 10, "the held connection to be let go")
    big = {"from": "shop@api.test", "to": "a@rcpt.test", "subject": "s", "text": "x" * 4000}
    a.call("POST", "/v1/messages", body=big, expect=413)
    statuses = [a.call("GET", "/v1/events")[0] for _ in range(5)]
    assert 429 in statuses, statuses
    a.call("POST", "/v1/messages", body={"from": "shop@api.test", "to": "a@rcpt.test", "text": "t"})
    assert not a.gaps, f"{len(a.gaps)} gaps:\n" + "\n".join(a.gaps)


def object_schemas(v, schema, path, seen):
    """Every object schema reachable from `schema` (through $ref, allOf/oneOf/anyOf, properties, items and
    map values), each once, with where it was reached from."""
    if isinstance(schema, dict) and "$ref" in schema:
        if schema["$ref"] in seen:
            return
        seen.add(schema["$ref"])
        path = schema["$ref"]
    schema = v.resolve(schema)
    if not isinstance(schema, dict):
        return
    if "properties" in schema:
        yield path, schema
    for key in ("allOf", "oneOf", "anyOf"):
        for i, part in enumerate(schema.get(key, [])):
            yield from object_schemas(v, part, f"{path}/{key}/{i}", seen)
    for name, prop in schema.get("properties", {}).items():
        yield from object_schemas(v, prop, f"{path}/properties/{name}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from object_schemas(v, schema[key], f"{path}/{key}", seen)


def test_document_says_what_is_always_there_and_every_error_the_server_gives(kurier_factory):
    """What the live test cannot reach (a 503 under load, a 500) or cannot see (a field the document
    forgot to call required) is checked on the document itself: every object schema of a response says
    which of its properties are always present (`required`, perhaps empty), and every operation documents
    the answers the server gives before its handler runs, with their headers: 401 with WWW-Authenticate,
    403 and 429 with Retry-After for keyed operations, 413 and 415 (Accept-Post or Accept-Patch) for
    every POST, PUT and PATCH, 503 (Retry-After) and 500 everywhere; API errors are problem details."""
    k = kurier_factory(sender_domains=["api.test"])
    status, doc = k.api("GET", "/v1/openapi.json", key="")
    v = Validator(doc)
    gaps, seen = [], set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            responses = {code: v.resolve(r) for code, r in op["responses"].items()}
            headers = {code: {h.lower(): v.resolve(s) for h, s in r.get("headers", {}).items()}
                       for code, r in responses.items()}
            want = {"500": None, "503": "retry-after"}
            if op.get("security", doc["security"]):
                want.update({"401": "www-authenticate", "403": None, "429": "retry-after"})
            if method in ("post", "put", "patch"):
                want.update({"413": None, "415": "accept-patch" if method == "patch" else "accept-post"})
            for code, header in want.items():
                if code not in responses:
                    gaps.append(f"{where}: {code} is not documented")
                elif header and header not in headers[code]:
                    gaps.append(f"{where}: {code} does not document its {header} header")
            for code in ("401", "429"):
                if code in headers and not all(s.get("required") for s in headers[code].values()):
                    gaps.append(f"{where}: {code}'s headers are always sent: required")
            if path in ("/v1/messages", "/v1/messages/raw") and method == "post":
                if "idempotent-replayed" not in headers.get("202", {}):
                    gaps.append(f"{where}: 202 does not document Idempotent-Replayed")
            for code, r in responses.items():
                if path.startswith("/v1/") and code[0] in "45":
                    if list(r.get("content", {})) != ["application/problem+json"]:
                        gaps.append(f"{where}: {code} is not only application/problem+json")
                for ctype, media in r.get("content", {}).items():
                    for at, s in object_schemas(v, media.get("schema", {}), f"{where} {code} {ctype}", seen):
                        if "required" not in s:
                            gaps.append(f"{at}: does not say which properties are always present (required)")
    assert not gaps, f"{len(gaps)} gaps in /v1/openapi.json:\n" + "\n".join(gaps)
