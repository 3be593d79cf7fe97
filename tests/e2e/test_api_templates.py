"""Stored templates over the HTTP API, driven with curl: create, list, read, update (each change of content
is a new version), publish, delete, render previews; sends that use a template get the published version
or the one they pin, and keep it when another is published later; per-recipient variables in recipients[]
batches; HTML escaping in html only; syntax errors as 422 with a pointer; scopes; account isolation.
What kurier stores is parsed with Python's `email` package."""

import email
import email.policy
import json
import time

import pytest

SENDER = "shop@api.test"

WELCOME = {
    "name": "welcome",
    "subject": "Welcome, {{name}}",
    "text": "Hello {{name}},\nyour code is {{code}}.\n",
    "html": "<p>Hello {{name}}</p><p>code {{code}}</p>",
}


@pytest.fixture
def k(kurier_factory):
    return kurier_factory(sender_domains=["api.test"])


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def key_for(k, account, scopes):
    out = k.cli("api-key", "create", account, "--scopes", scopes, "--json").stdout
    return json.loads(out)["api_key"]


def create(k, body=None, **kw):
    status, res = k.api("POST", "/v1/templates", body or WELCOME, **kw)
    assert status == 201, res
    return res


def send(k, body):
    req = {"from": SENDER}
    req.update(body)
    status, res = k.api("POST", "/v1/messages", req)
    assert status == 202, res
    return res


def text_of(msg):
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html_of(msg):
    return msg.get_body(("html",)).get_content().strip()


def test_create_read_update_publish_delete(k):
    status, hdrs, text = k.curl("POST", "/v1/templates", json.dumps(WELCOME))
    assert status == 201, text
    t = json.loads(text)
    assert t["id"].startswith("tmpl_") and hdrs["location"] == f"/v1/templates/{t['id']}"
    assert t["name"] == "welcome" and t["published_version"] == 1 and t["latest_version"] == 1
    assert [v["version"] for v in t["versions"]] == [1] and t["versions"][0]["published"] is True
    assert t["published"]["subject"] == WELCOME["subject"] and t["published"]["html"] == WELCOME["html"]
    tid = t["id"]

    # The name is unique per account (case-insensitive).
    status, res = k.api("POST", "/v1/templates", dict(WELCOME, name="Welcome"))
    assert status == 409 and "already exists" in res["detail"]

    create(k, {"name": "draft", "subject": "s", "text": "t", "publish": False})
    status, res = k.api("GET", "/v1/templates")
    assert status == 200
    assert [(x["name"], x["published_version"]) for x in res["data"]] == [("draft", None), ("welcome", 1)]

    # {id} is the id or the name.
    for ref in (tid, "welcome", "WELCOME"):
        status, res = k.api("GET", f"/v1/templates/{ref}")
        assert status == 200 and res["id"] == tid, (ref, res)

    # PATCH merges over the newest version and adds a draft version; the published one stays.
    status, res = k.api("PATCH", f"/v1/templates/{tid}", {"text": "Hi {{name}} (v2)\n"})
    assert status == 200, res
    assert res["latest_version"] == 2 and res["published_version"] == 1
    assert res["published"]["text"] == WELCOME["text"]
    status, v2 = k.api("GET", "/v1/templates/welcome/versions/2")
    assert status == 200 and v2["published"] is False
    assert v2["text"] == "Hi {{name}} (v2)\n" and v2["subject"] == WELCOME["subject"] and v2["html"] == WELCOME["html"]
    assert v2["template"] == {"id": tid, "name": "welcome"}

    status, res = k.api("POST", f"/v1/templates/{tid}/versions/2/publish")
    assert status == 200 and res["published_version"] == 2 and res["published"]["text"] == "Hi {{name}} (v2)\n"

    # PUT replaces the content: the html it leaves out is gone from version 3, which it publishes.
    status, res = k.api("PUT", f"/v1/templates/{tid}", {"subject": "v3 {{name}}", "text": "three", "publish": True})
    assert status == 200, res
    assert res["latest_version"] == 3 and res["published_version"] == 3
    assert res["published"]["html"] == "" and res["published"]["text"] == "three"
    assert [(v["version"], v["published"]) for v in res["versions"]] == [(1, False), (2, False), (3, True)]

    # Versions never change: version 1 is still what was created.
    status, v1 = k.api("GET", f"/v1/templates/{tid}/versions/1")
    assert status == 200 and v1["text"] == WELCOME["text"] and v1["html"] == WELCOME["html"]

    # A rename alone adds no version; the id stays.
    status, res = k.api("PATCH", f"/v1/templates/{tid}", {"name": "greeting"})
    assert status == 200 and res["name"] == "greeting" and res["latest_version"] == 3 and res["id"] == tid
    assert k.api("GET", "/v1/templates/welcome")[0] == 404
    status, res = k.api("PATCH", f"/v1/templates/{tid}", {"name": "draft"})
    assert status == 409

    for path in (f"/v1/templates/{tid}/versions/4", f"/v1/templates/{tid}/versions/0",
                 f"/v1/templates/{tid}/versions/latest"):
        status, res = k.api("GET", path)
        assert status == 404 and "versions are 1 to 3" in res["detail"], (path, res)
    assert k.api("POST", f"/v1/templates/{tid}/versions/9/publish")[0] == 404

    # Templates survive a restart.
    k.stop()
    k.start()
    status, res = k.api("GET", "/v1/templates/greeting")
    assert status == 200 and res["published_version"] == 3

    status, res = k.api("DELETE", "/v1/templates/greeting")
    assert status == 200 and res == {"id": tid, "name": "greeting", "status": "deleted"}
    assert k.api("GET", f"/v1/templates/{tid}")[0] == 404
    assert k.api("GET", f"/v1/templates/{tid}/versions/1")[0] == 404
    assert k.api("DELETE", f"/v1/templates/{tid}")[0] == 404
    assert [x["name"] for x in k.api("GET", "/v1/templates")[1]["data"]] == ["draft"]


def test_sends_use_the_published_version_or_the_pinned_one(k):
    t = create(k)
    k.api("PATCH", f"/v1/templates/{t['id']}", {"subject": "Version two for {{name}}", "text": "v2 {{code}}\n"})
    variables = {"name": "Ada", "code": "X1"}

    # Default: the published version (1), reported in the response.
    res = send(k, {"to": "ada@example.net", "template": "welcome", "variables": variables})
    assert res["template"] == {"id": t["id"], "version": 1}
    msg = parse(k.queue_raw(res["messages"][0]["id"]))
    assert msg["Subject"] == "Welcome, Ada"
    assert text_of(msg) == "Hello Ada,\nyour code is X1.\n"
    assert html_of(msg) == "<p>Hello Ada</p><p>code X1</p>"

    # Pinned: template_version 2 (a draft) by id.
    res = send(k, {"to": "ada@example.net", "template": t["id"], "template_version": 2, "variables": variables})
    assert res["template"] == {"id": t["id"], "version": 2}
    msg = parse(k.queue_raw(res["messages"][0]["id"]))
    assert msg["Subject"] == "Version two for Ada" and text_of(msg) == "v2 X1\n"

    # A scheduled send keeps the version it was accepted with when another is published meanwhile.
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    scheduled = send(k, {"to": "ada@example.net", "template": "welcome", "variables": variables, "send_at": later})
    assert scheduled["template"]["version"] == 1
    assert k.api("POST", f"/v1/templates/{t['id']}/versions/2/publish")[0] == 200
    res = send(k, {"to": "ada@example.net", "template": "welcome", "variables": variables})
    assert res["template"]["version"] == 2
    assert parse(k.queue_raw(res["messages"][0]["id"]))["Subject"] == "Version two for Ada"
    assert parse(k.queue_raw(scheduled["messages"][0]["id"]))["Subject"] == "Welcome, Ada"

    # What is missing is named, and nothing is stored.
    before = len(k.queue_ids())
    for body, pointer, words in [
        ({"template": "nope"}, "/template", "no template 'nope'"),
        ({"template": "welcome", "template_version": 7}, "/template_version", "no version 7"),
        ({"template": "welcome", "variables": {"name": "Ada"}}, "/variables", "code"),
        ({"template": "welcome", "subject": "own subject", "variables": variables}, "/template", "not both"),
    ]:
        status, res = k.api("POST", "/v1/messages", dict({"from": SENDER, "to": "a@example.net"}, **body))
        assert status == 422, (body, res)
        assert res["errors"][0]["pointer"] == pointer and words in res["errors"][0]["detail"], (body, res)
    create(k, {"name": "unpublished", "subject": "s", "text": "t", "publish": False})
    status, res = k.api("POST", "/v1/messages", {"from": SENDER, "to": "a@example.net", "template": "unpublished"})
    assert status == 422 and "no published version" in res["errors"][0]["detail"], res
    assert len(k.queue_ids()) == before


def test_batch_recipients_each_get_their_own_variables(k):
    create(k)
    n = 12
    res = send(k, {"template": "welcome", "variables": {"code": "SHARED"},
                   "recipients": [{"to": f"user{i}@example.net",
                                   "variables": {"name": f"User {i}", **({"code": f"C{i:02}"} if i % 2 else {})}}
                                  for i in range(n)]})
    assert len(res["messages"]) == n and len({m["id"] for m in res["messages"]}) == n
    assert res["template"]["version"] == 1
    for i, m in enumerate(res["messages"]):
        assert m["recipients"] == [f"user{i}@example.net"]
        msg = parse(k.queue_raw(m["id"]))
        code = f"C{i:02}" if i % 2 else "SHARED"  # a recipient's variables override the request's
        assert msg["To"].addresses[0].addr_spec == f"user{i}@example.net"
        assert msg["Subject"] == f"Welcome, User {i}"
        assert text_of(msg) == f"Hello User {i},\nyour code is {code}.\n"
        assert html_of(msg) == f"<p>Hello User {i}</p><p>code {code}</p>"

    status, res = k.api("POST", "/v1/messages", {"from": SENDER, "template": "welcome", "recipients": [
        {"to": "a@example.net", "variables": {"name": "A", "code": "1"}},
        {"to": "b@example.net", "variables": {"name": "B"}}]})
    assert status == 422 and res["errors"][0]["pointer"] == "/recipients/1/variables", res
    assert "code" in res["errors"][0]["detail"]


def test_html_is_escaped_but_text_and_subject_are_not(k):
    create(k, {"name": "escape", "subject": "Re: {{title}}", "text": "{{title}} / {{{title}}}\n",
               "html": "<h1>{{title}}</h1><div>{{{trusted}}}</div><p>{{&trusted}}</p>"})
    variables = {"title": "Tom & \"Jerry\" <b>'s</b>", "trusted": "<i>ok</i>"}
    status, res = k.api("POST", "/v1/templates/escape/render", {"variables": variables})
    assert status == 200 and res["missing"] == []
    assert res["subject"] == "Re: Tom & \"Jerry\" <b>'s</b>"
    assert res["text"] == "Tom & \"Jerry\" <b>'s</b> / Tom & \"Jerry\" <b>'s</b>\n"
    assert res["html"] == ("<h1>Tom &amp; &quot;Jerry&quot; &lt;b&gt;&#39;s&lt;/b&gt;</h1>"
                           "<div><i>ok</i></div><p><i>ok</i></p>")

    sent = send(k, {"to": "a@example.net", "template": "escape", "variables": variables})
    msg = parse(k.queue_raw(sent["messages"][0]["id"]))
    assert msg["Subject"] == res["subject"]
    assert text_of(msg) == res["text"]
    assert html_of(msg) == res["html"]


def test_render_previews_and_names_missing_variables(k):
    t = create(k, {"name": "order", "subject": "Order {{order.id}}",
                   "text": "{{#items}}- {{name}} x{{qty}}\n{{/items}}{{^items}}nothing to list{{/items}}Thanks {{customer}}",
                   "html": "<p>{{customer}} {{footer}}</p>"})
    status, res = k.api("POST", "/v1/templates/order/render",
                        {"variables": {"order": {"id": 42}, "items": [{"name": "pen", "qty": 2}, {"name": "ink"}]}})
    assert status == 200, res
    assert res["template"] == {"id": t["id"], "name": "order", "version": 1}
    assert res["subject"] == "Order 42"
    assert res["text"] == "- pen x2\n- ink x\nThanks "
    assert res["html"] == "<p> </p>"
    assert res["missing"] == ["qty", "customer", "footer"], "each once, in order of first use"

    # No variables at all: every name is missing, still 200.
    status, res = k.api("POST", f"/v1/templates/{t['id']}/render")
    assert status == 200 and res["missing"] == ["order.id", "items", "customer", "footer"]

    # A draft can be previewed by number; without one, the published version is rendered.
    k.api("PATCH", "/v1/templates/order", {"subject": "Draft {{order.id}}"})
    vars_ = {"variables": {"order": {"id": 1}}}
    assert k.api("POST", "/v1/templates/order/render", vars_)[1]["subject"] == "Order 1"
    status, res = k.api("POST", "/v1/templates/order/render", dict(vars_, version=2))
    assert status == 200 and res["subject"] == "Draft 1" and res["template"]["version"] == 2

    for body, pointer in [({"version": 3}, "/version"), ({"variables": [1]}, "/variables"), ({"vars": {}}, "/vars")]:
        status, res = k.api("POST", "/v1/templates/order/render", body)
        assert status == 422 and res["errors"][0]["pointer"] == pointer, (body, res)
    assert k.api("POST", "/v1/templates/nope/render", {})[0] == 404


def test_invalid_templates_are_refused_with_a_pointer(k):
    status, res = k.api("POST", "/v1/templates", dict(WELCOME, html="<ul>\n{{#items}}<li>{{.}}</li>\n</ul>"))
    assert status == 422, res
    assert res["errors"] == [{"pointer": "/html", "detail": res["errors"][0]["detail"]}]
    assert "unclosed section \"items\" opened at line 2" in res["errors"][0]["detail"]
    assert res["type"] == "urn:kurier:problem:invalid-request"

    status, res = k.api("POST", "/v1/templates", {"name": "bad name!", "subject": "a\nb", "text": "{{/x}}",
                                                  "colour": "red", "publish": "yes"})
    assert status == 422
    assert {e["pointer"] for e in res["errors"]} == {"/name", "/subject", "/text", "/colour", "/publish"}, res

    status, res = k.api("POST", "/v1/templates", {"name": "empty", "subject": "s"})
    assert status == 422 and [e["pointer"] for e in res["errors"]] == ["/text"]
    status, res = k.api("POST", "/v1/templates", {"subject": "s", "text": "t"})
    assert status == 422 and [e["pointer"] for e in res["errors"]] == ["/name"]
    status, _, text = k.curl("POST", "/v1/templates", "{not json")
    assert status == 400 and "not valid JSON" in text

    create(k)
    status, res = k.api("PATCH", "/v1/templates/welcome", {"text": "{{> partial}}"})
    assert status == 422 and res["errors"][0]["pointer"] == "/text" and "partials" in res["errors"][0]["detail"]
    status, res = k.api("PUT", "/v1/templates/welcome", {"text": "no subject"})
    assert status == 422 and res["errors"][0]["pointer"] == "/subject"
    status, res = k.api("PATCH", "/v1/templates/welcome", {})
    assert status == 422 and "nothing to change" in res["errors"][0]["detail"]
    status, res = k.api("PATCH", "/v1/templates/welcome", {"publish": True})
    assert status == 422 and res["errors"][0]["pointer"] == "/publish"
    assert k.api("GET", "/v1/templates/welcome")[1]["latest_version"] == 1, "nothing invalid was stored"


def test_scopes(k):
    tid = create(k)["id"]
    read = key_for(k, "default", "read")
    send_only = key_for(k, "default", "send")

    assert k.api("GET", "/v1/templates", key=read)[0] == 200
    assert k.api("GET", f"/v1/templates/{tid}", key=read)[0] == 200
    assert k.api("GET", f"/v1/templates/{tid}/versions/1", key=read)[0] == 200
    assert k.api("POST", f"/v1/templates/{tid}/render", {"variables": {}}, key=read)[0] == 200
    for method, path, body in [("POST", "/v1/templates", dict(WELCOME, name="other")),
                               ("PATCH", f"/v1/templates/{tid}", {"text": "x"}),
                               ("PUT", f"/v1/templates/{tid}", {"subject": "s", "text": "x"}),
                               ("POST", f"/v1/templates/{tid}/versions/1/publish", None),
                               ("DELETE", f"/v1/templates/{tid}", None)]:
        status, res = k.api(method, path, body, key=read)
        assert status == 403 and "'send' scope" in res["detail"], (method, path, res)

    status, res = k.api("GET", "/v1/templates", key=send_only)
    assert status == 403 and "'read' scope" in res["detail"]
    status, res = k.api("PATCH", f"/v1/templates/{tid}", {"text": "by a send key"}, key=send_only)
    assert status == 200 and res["latest_version"] == 2

    status, _, _ = k.curl("GET", "/v1/templates", key="")
    assert status == 401
    assert k.api("GET", f"/v1/templates/{tid}")[1]["latest_version"] == 2, "the refused calls changed nothing"


def test_accounts_are_isolated(k):
    mine = create(k)
    k.cli("account", "add", "other", "--sender-domain", "other.test")
    other = key_for(k, "other", "send read")

    assert k.api("GET", "/v1/templates", key=other) == (200, {"data": []})
    for method, path, body in [("GET", f"/v1/templates/{mine['id']}", None),
                               ("GET", "/v1/templates/welcome", None),
                               ("GET", f"/v1/templates/{mine['id']}/versions/1", None),
                               ("PATCH", f"/v1/templates/{mine['id']}", {"text": "hijacked"}),
                               ("PUT", "/v1/templates/welcome", {"subject": "s", "text": "hijacked"}),
                               ("POST", f"/v1/templates/{mine['id']}/versions/1/publish", None),
                               ("POST", f"/v1/templates/{mine['id']}/render", {}),
                               ("DELETE", f"/v1/templates/{mine['id']}", None)]:
        status, res = k.api(method, path, body, key=other)
        assert status == 404, (method, path, res)

    status, res = k.api("POST", "/v1/messages", {"from": "news@other.test", "to": "a@example.net",
                                                 "template": mine["id"], "variables": {"name": "x", "code": "y"}},
                        key=other)
    assert status == 422 and res["errors"][0]["pointer"] == "/template", res

    # The same name in another account is another template.
    theirs = create(k, dict(WELCOME, subject="Theirs {{name}}"), key=other)
    assert theirs["id"] != mine["id"]
    status, res = k.api("GET", "/v1/templates/welcome", key=other)
    assert status == 200 and res["id"] == theirs["id"]
    status, res = k.api("GET", "/v1/templates/welcome")
    assert status == 200 and res["id"] == mine["id"] and res["latest_version"] == 1
    assert res["published"]["subject"] == WELCOME["subject"]
