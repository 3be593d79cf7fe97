"""The management API driven with curl: accounts (admin scope), API keys and SMTP credentials.

A key created over the API sends mail and is refused right after it is revoked (the router's 30 s key
cache notwithstanding); a password created over the API logs in over SMTP (smtplib, STARTTLS) and stops
working when removed; a non-admin key manages only its own account (another account's objects are 404,
naming another account or granting a scope it lacks is 403); secrets appear only in the 201 that creates
them; invalid input is 422 with a JSON pointer per field, duplicates 409, unknown names 404, never 500."""

import hashlib
import json
import smtplib

import pytest

from conftest import HOST, plain_ctx

MESSAGE = {"to": "customer@example.net", "subject": "Order 1042", "text": "Thank you for your order."}


@pytest.fixture
def k(kurier_factory):
    return kurier_factory()


def create_account(k, name, domains=(), **extra):
    status, res = k.api("POST", "/v1/accounts", {"name": name, "sender_domains": list(domains), **extra})
    assert status == 201, res
    return res


def create_key(k, scopes, account=None, key=None, name="test key"):
    body = {"name": name, "scopes": scopes}
    if account:
        body["account"] = account
    status, res = k.api("POST", "/v1/api-keys", body, key=key)
    assert status == 201, res
    return res


def smtp_login(k, username, password):
    s = smtplib.SMTP(HOST, k.submission_port, local_hostname="client.test", timeout=20)
    s.ehlo()
    s.starttls(context=plain_ctx())
    s.ehlo()
    s.login(username, password)
    return s


def pointers(res):
    return {e["pointer"] for e in res.get("errors", [])}


def key_id_of(k, name, account="default"):
    status, res = k.api("GET", f"/v1/api-keys?account={account}")
    assert status == 200, res
    return next(x["id"] for x in res["data"] if x["name"] == name)


# ------------------------------------------------------------------------------------------------------
# accounts

def test_accounts_create_read_update_delete(k):
    status, hdrs, text = k.curl("POST", "/v1/accounts",
                                json.dumps({"name": "shop", "sender_domains": ["Shop.Test", "shop.test"]}))
    assert status == 201, text
    assert hdrs["location"] == "/v1/accounts/shop"
    acc = json.loads(text)
    assert acc["name"] == "shop"
    assert acc["sender_domains"] == ["shop.test"]
    assert acc["sandbox"] is True and acc["send_dsn"] is True
    assert acc["verified_domains"] == []

    status, res = k.api("GET", "/v1/accounts")
    assert status == 200
    assert {a["name"] for a in res["data"]} == {"default", "shop"}
    status, res = k.api("GET", "/v1/accounts/shop")
    assert status == 200 and res == acc

    status, res = k.api("POST", "/v1/accounts", {"name": "shop"})
    assert status == 409, res
    assert res["title"] == "Conflict" and "shop" in res["detail"]

    status, res = k.api("PATCH", "/v1/accounts/shop", {"sandbox": False, "send_dsn": False,
                                                      "add_sender_domains": ["mail.shop.test"],
                                                      "remove_sender_domains": ["SHOP.test"]})
    assert status == 200, res
    assert res["sandbox"] is False and res["send_dsn"] is False
    assert res["sender_domains"] == ["mail.shop.test"]
    # The CLI reads the same store.
    cli = {a["name"]: a for a in k.cli_json("account", "list", "--json")}
    assert cli["shop"]["sender_domains"] == ["mail.shop.test"]
    assert cli["shop"]["sandbox"] is False and cli["shop"]["send_dsn"] is False
    status, res = k.api("PATCH", "/v1/accounts/shop", {})
    assert status == 200 and res["sender_domains"] == ["mail.shop.test"]

    for method, body in (("GET", None), ("PATCH", {"sandbox": True}), ("DELETE", None)):
        status, res = k.api(method, "/v1/accounts/nobody", body)
        assert status == 404, (method, res)
        assert res["title"] == "Not Found" and "nobody" in res["detail"]

    status, res = k.api("DELETE", "/v1/accounts/shop")
    assert status == 200 and res == {"name": "shop", "deleted": True}
    status, _ = k.api("GET", "/v1/accounts/shop")
    assert status == 404
    assert "shop" not in {a["name"] for a in k.cli_json("account", "list", "--json")}

    # The account of the calling key cannot be removed: that would lock the caller out mid-request.
    status, res = k.api("DELETE", "/v1/accounts/default")
    assert status == 409, res
    status, _ = k.api("GET", "/v1/accounts/default")
    assert status == 200


def test_invalid_account_fields_are_422_with_a_pointer_each(k):
    status, hdrs, text = k.curl("POST", "/v1/accounts", json.dumps(
        {"name": "has space", "sandbox": "yes", "send_dsn": 1, "sender_domains": ["not a domain", 7, "[127.0.0.1]"],
         "colour": "blue"}))
    assert status == 422, text
    assert hdrs["content-type"] == "application/problem+json"
    res = json.loads(text)
    assert pointers(res) == {"/name", "/sandbox", "/send_dsn", "/sender_domains/0", "/sender_domains/1",
                             "/sender_domains/2", "/colour"}, res
    status, res = k.api("POST", "/v1/accounts", {"sender_domains": ["shop.test"]})
    assert status == 422 and pointers(res) == {"/name"}, res
    status, res = k.api("POST", "/v1/accounts", {"name": "x" * 65})
    assert status == 422 and pointers(res) == {"/name"}, res
    status, res = k.api("POST", "/v1/accounts", {"name": "a", "sender_domains": "shop.test"})
    assert status == 422 and pointers(res) == {"/sender_domains"}, res
    status, _ = k.api("GET", "/v1/accounts/has%20space")
    assert status == 404
    assert "has space" not in {a["name"] for a in k.api("GET", "/v1/accounts")[1]["data"]}

    # PATCH is all or nothing: one bad field and nothing changes.
    create_account(k, "shop", ["shop.test"])
    status, res = k.api("PATCH", "/v1/accounts/shop", {"sandbox": False, "remove_sender_domains": ["other.test"],
                                                      "add_sender_domains": ["ok.test", "bad_domain!"]})
    assert status == 422, res
    assert pointers(res) == {"/remove_sender_domains/0", "/add_sender_domains/1"}, res
    status, res = k.api("PATCH", "/v1/accounts/shop", {"add_sender_domains": ["x.test"],
                                                      "remove_sender_domains": ["x.test"]})
    assert status == 422 and pointers(res) == {"/remove_sender_domains/0"}, res
    status, res = k.api("GET", "/v1/accounts/shop")
    assert res["sandbox"] is True and res["sender_domains"] == ["shop.test"], res


def test_bad_input_is_never_a_500(k):
    create_account(k, "shop", ["shop.test"])
    bodies = ["", "{", "[]", "null", "42", '"text"', '{"name": null}', '{"name": {"a": 1}}', '{"name": ["x"]}',
              '{"scopes": "send"}', '{"scopes": [1, null, {}]}', '{"scopes": []}', '{"username": ""}',
              '{"username": "a\\u0000b"}', '{"username": "x\\r\\nRCPT TO:<a@b>"}', '{"name": "' + "n" * 5000 + '"}',
              '{"sender_domains": [' + ",".join(['"d.test"'] * 101) + ']}', '{"account": 5}',
              '{"account": "nobody"}', "\xff\xfe", '{"a":' * 200 + "1" + "}" * 200,
              '{"add_sender_domains": [[]], "remove_sender_domains": {"x": 1}}', '{"sandbox": "false"}']
    targets = [("POST", "/v1/accounts"), ("PATCH", "/v1/accounts/shop"), ("POST", "/v1/api-keys"),
               ("POST", "/v1/smtp-credentials")]
    for method, path in targets:
        for body in bodies:
            status, hdrs, text = k.curl(method, path, body)
            assert status in (400, 404, 409, 422), (method, path, body[:80], status, text)
            assert hdrs["content-type"] == "application/problem+json", (method, path, body[:80])
            assert "exception" not in text.lower() and "stack" not in text.lower()
    for path in ("/v1/api-keys/abc", "/v1/api-keys/-1", "/v1/api-keys/99999999999999999999999",
                 "/v1/api-keys/1e3", "/v1/smtp-credentials/nobody%00x", "/v1/accounts/%C3%28"):
        status, _, text = k.curl("DELETE", path)
        assert status == 404, (path, status, text)
    for path in ("/v1/api-keys?account=%00", "/v1/smtp-credentials?colour=blue", "/v1/accounts?x=1"):
        status, _, text = k.curl("GET", path)
        assert status in (404, 422), (path, status, text)
    assert k.running()


# ------------------------------------------------------------------------------------------------------
# API keys

def test_key_created_over_the_api_sends_and_is_refused_right_after_revocation(k):
    create_account(k, "shop", ["shop.test"])  # sandbox: its sender domain needs no verification
    created = create_key(k, ["read", "send", "send"], account="shop", name="shop backend")
    secret = created["key"]
    assert secret.startswith("kr_") and created["prefix"] == secret[:10]
    assert created["account"] == "shop" and created["scopes"] == ["send", "read"]
    assert created["revoked"] is False

    status, res = k.api("POST", "/v1/messages", {"from": "orders@shop.test", **MESSAGE}, key=secret)
    assert status == 202, res
    msg_id = res["messages"][0]["id"]
    queued = {m["id"]: m for m in k.queue_list()}
    assert queued[msg_id]["account"] == "shop"
    # The key sends for its own account only: default's sender domain is not shop's.
    status, res = k.api("POST", "/v1/messages", {"from": "orders@example.com", **MESSAGE}, key=secret)
    assert status == 403, res

    # Used (and so cached by the router) a moment ago; revoked now; refused on the very next request.
    status, res = k.api("GET", "/v1/api-keys", key=secret)
    assert status == 200
    status, res = k.api("DELETE", f"/v1/api-keys/{created['id']}")
    assert status == 200, res
    assert res["id"] == created["id"] and res["revoked"] is True
    status, hdrs, text = k.curl("POST", "/v1/messages", json.dumps({"from": "orders@shop.test", **MESSAGE}),
                                key=secret)
    assert status == 401, text
    assert hdrs["www-authenticate"].startswith("Bearer")
    status, _ = k.api("GET", "/v1/api-keys", key=secret)
    assert status == 401

    status, res = k.api("DELETE", f"/v1/api-keys/{created['id']}")
    assert status == 409, res
    listed = {x["id"]: x for x in k.api("GET", "/v1/api-keys?account=shop")[1]["data"]}
    assert listed[created["id"]]["revoked"] is True
    cli = {x["id"]: x for x in k.cli_json("api-key", "list", "shop", "--json")}
    assert cli[created["id"]]["revoked"] is True and cli[created["id"]]["scopes"] == "send read"


def test_a_key_made_by_the_cli_is_managed_over_the_api(k):
    create_account(k, "shop", ["shop.test"])
    made = k.cli_json("api-key", "create", "shop", "--name", "from cli", "--scopes", "read send", "--json")
    assert made["scopes"] == "send read"
    status, res = k.api("GET", "/v1/api-keys", key=made["api_key"])
    assert status == 200 and [x["name"] for x in res["data"]] == ["from cli"]
    status, res = k.api("DELETE", f"/v1/api-keys/{made['id']}", key=made["api_key"])  # a key may revoke itself
    assert status == 200, res
    status, _ = k.api("GET", "/v1/api-keys", key=made["api_key"])
    assert status == 401


def test_scopes_and_account_isolation(k):
    create_account(k, "shop", ["shop.test"])
    full = create_key(k, ["send", "read"], account="shop", name="full")["key"]
    send_only = create_key(k, ["send"], account="shop", name="send only")
    read_only = create_key(k, ["read"], account="shop", name="read only")["key"]
    default_admin_id = key_id_of(k, "default")

    # Unauthenticated and wrong keys: 401.
    for key in ("", "kr_not-a-key"):
        status, _ = k.api("GET", "/v1/api-keys", key=key)
        assert status == 401

    # Accounts are admin-only.
    for key in (full, read_only, send_only["key"]):
        for method, path, body in (("GET", "/v1/accounts", None), ("POST", "/v1/accounts", {"name": "evil"}),
                                   ("GET", "/v1/accounts/shop", None), ("DELETE", "/v1/accounts/default", None),
                                   ("PATCH", "/v1/accounts/shop", {"sandbox": False})):
            status, res = k.api(method, path, body, key=key)
            assert status == 403, (method, path, res)
    assert k.api("GET", "/v1/accounts/shop")[1]["sandbox"] is True

    # A full (send + read) key: its own account only.
    status, res = k.api("GET", "/v1/api-keys", key=full)
    assert status == 200
    assert {x["account"] for x in res["data"]} == {"shop"}
    assert {x["name"] for x in res["data"]} == {"full", "send only", "read only"}
    status, res = k.api("GET", "/v1/api-keys?account=default", key=full)
    assert status == 403, res
    status, res = k.api("GET", "/v1/api-keys?account=nobody", key=full)
    assert status == 403, res  # the same answer whether or not the account exists
    status, res = k.api("POST", "/v1/api-keys", {"name": "x", "scopes": ["send"], "account": "default"}, key=full)
    assert status == 403, res
    status, res = k.api("POST", "/v1/api-keys", {"name": "x", "scopes": ["send", "admin"]}, key=full)
    assert status == 403 and pointers(res) == {"/scopes/1"}, res
    made = create_key(k, ["send"], key=full, name="made by full")
    assert made["account"] == "shop" and made["scopes"] == ["send"]

    # Another account's objects look exactly like missing ones.
    status, other = k.api("DELETE", f"/v1/api-keys/{default_admin_id}", key=full)
    status_missing, missing = k.api("DELETE", "/v1/api-keys/987654", key=full)
    assert status == status_missing == 404, (other, missing)
    assert k.api("GET", "/v1/api-keys")[0] == 200, "default's admin key must still work"
    status, res = k.api("DELETE", f"/v1/smtp-credentials/{k.username}", key=full)
    assert status == 404, res
    smtp_login(k, k.username, k.password).quit()
    status, res = k.api("GET", "/v1/smtp-credentials", key=full)
    assert status == 200 and res["data"] == []

    # A send-only key manages nothing; a read-only key may list but not change.
    for method, path, body in (("GET", "/v1/api-keys", None), ("GET", "/v1/smtp-credentials", None),
                               ("POST", "/v1/api-keys", {"name": "x", "scopes": ["send"]}),
                               ("POST", "/v1/smtp-credentials", {}),
                               ("DELETE", f"/v1/api-keys/{made['id']}", None)):
        status, res = k.api(method, path, body, key=send_only["key"])
        assert status == 403, (method, path, res)
    status, res = k.api("GET", "/v1/api-keys", key=read_only)
    assert status == 200 and {x["account"] for x in res["data"]} == {"shop"}
    for method, path, body in (("POST", "/v1/api-keys", {"name": "x", "scopes": ["read"]}),
                               ("POST", "/v1/smtp-credentials", {}),
                               ("DELETE", f"/v1/api-keys/{made['id']}", None),
                               ("DELETE", "/v1/smtp-credentials/whatever", None)):
        status, res = k.api(method, path, body, key=read_only)
        assert status == 403, (method, path, res)

    # The full key revokes a key of its own account.
    status, res = k.api("DELETE", f"/v1/api-keys/{send_only['id']}", key=full)
    assert status == 200, res
    status, _ = k.api("POST", "/v1/messages", {"from": "a@shop.test", **MESSAGE}, key=send_only["key"])
    assert status == 401

    # Admin: any account; an unknown one is 404 in the query and 422 in a body.
    status, res = k.api("GET", "/v1/api-keys?account=shop")
    assert status == 200 and len(res["data"]) == 4
    status, res = k.api("GET", "/v1/api-keys")
    assert status == 200 and {x["account"] for x in res["data"]} == {"default"}
    status, res = k.api("GET", "/v1/smtp-credentials?account=nobody")
    assert status == 404, res
    status, res = k.api("POST", "/v1/api-keys", {"name": "x", "scopes": ["send"], "account": "nobody"})
    assert status == 422 and pointers(res) == {"/account"}, res
    status, res = k.api("POST", "/v1/api-keys", {"name": "", "scopes": ["write"], "colour": 1})
    assert status == 422 and pointers(res) == {"/name", "/scopes/0", "/colour"}, res
    status, res = k.api("POST", "/v1/api-keys", {"name": "x"})
    assert status == 422 and pointers(res) == {"/scopes"}, res
    admin_made = create_key(k, ["admin"], account="shop", name="shop admin")
    status, res = k.api("GET", "/v1/accounts", key=admin_made["key"])
    assert status == 200


def test_removing_an_account_stops_its_keys_and_passwords_at_once(k):
    create_account(k, "shop", ["shop.test"])
    key = create_key(k, ["send", "read"], account="shop")["key"]
    status, cred = k.api("POST", "/v1/smtp-credentials", {"account": "shop", "username": "shop-mailer"})
    assert status == 201, cred
    assert k.api("GET", "/v1/api-keys", key=key)[0] == 200  # cached now
    smtp_login(k, "shop-mailer", cred["password"]).quit()

    status, res = k.api("DELETE", "/v1/accounts/shop")
    assert status == 200, res
    status, _ = k.api("GET", "/v1/api-keys", key=key)
    assert status == 401
    with pytest.raises(smtplib.SMTPAuthenticationError):
        smtp_login(k, "shop-mailer", cred["password"])


# ------------------------------------------------------------------------------------------------------
# SMTP credentials

def test_password_created_over_the_api_logs_in_over_smtp(k):
    create_account(k, "shop", ["shop.test"])
    full = create_key(k, ["send", "read"], account="shop")["key"]
    status, hdrs, text = k.curl("POST", "/v1/smtp-credentials", json.dumps({"username": "shop-mailer"}), key=full)
    assert status == 201, text
    cred = json.loads(text)
    assert cred["username"] == "shop-mailer" and cred["account"] == "shop"
    assert len(cred["password"]) >= 20

    s = smtp_login(k, "shop-mailer", cred["password"])
    refused = s.sendmail("orders@shop.test", ["customer@example.net"],
                         b"From: <orders@shop.test>\r\nTo: <customer@example.net>\r\nSubject: via SMTP\r\n\r\nhello\r\n")
    s.quit()
    assert refused == {}
    assert "shop" in {m["account"] for m in k.queue_list()}

    # Usernames are one namespace across accounts: taken is 409, whoever asks.
    for key in (full, k.api_key):
        status, res = k.api("POST", "/v1/smtp-credentials", {"username": "shop-mailer"}, key=key)
        assert status == 409 and pointers(res) == {"/username"}, res
    status, res = k.api("POST", "/v1/smtp-credentials", {"username": "has space"}, key=full)
    assert status == 422 and pointers(res) == {"/username"}, res
    status, res = k.api("POST", "/v1/smtp-credentials", {}, key=full)
    assert status == 201 and res["username"].startswith("shop-") and res["account"] == "shop", res
    generated = res

    status, res = k.api("GET", "/v1/smtp-credentials", key=full)
    assert status == 200
    assert sorted(c["username"] for c in res["data"]) == sorted(["shop-mailer", generated["username"]])
    cli = k.cli_json("smtp-user", "list", "shop", "--json")
    assert {c["username"] for c in cli} == {"shop-mailer", generated["username"]}

    status, res = k.api("DELETE", "/v1/smtp-credentials/shop-mailer", key=full)
    assert status == 200 and res == {"username": "shop-mailer", "account": "shop", "deleted": True}, res
    with pytest.raises(smtplib.SMTPAuthenticationError):
        smtp_login(k, "shop-mailer", cred["password"])
    status, res = k.api("DELETE", "/v1/smtp-credentials/shop-mailer", key=full)
    assert status == 404, res
    smtp_login(k, generated["username"], generated["password"]).quit()


def test_secrets_appear_only_in_the_response_that_creates_them(k):
    create_account(k, "shop", ["shop.test"])
    secrets = [k.api_key, k.password]
    keys = [create_key(k, ["send", "read"], account="shop", name=f"k{i}") for i in range(2)]
    secrets += [x["key"] for x in keys]
    for i in range(2):
        status, res = k.api("POST", "/v1/smtp-credentials", {"account": "shop", "username": f"u{i}"})
        assert status == 201
        secrets.append(res["password"])
    hashes = [hashlib.blake2b(s.encode(), digest_size=32).hexdigest() for s in secrets]

    texts = []
    for path in ("/v1/api-keys", "/v1/api-keys?account=shop", "/v1/smtp-credentials",
                 "/v1/smtp-credentials?account=shop", "/v1/accounts", "/v1/accounts/shop"):
        status, _, text = k.curl("GET", path)
        assert status == 200, (path, text)
        texts.append(text)
    status, _, text = k.curl("DELETE", f"/v1/api-keys/{keys[0]['id']}")
    texts.append(text)
    status, _, text = k.curl("DELETE", "/v1/smtp-credentials/u0")
    texts.append(text)
    blob = "\n".join(texts)
    for s in secrets + hashes:
        assert s not in blob
    for word in ("password", "hash", "\"key\"", "argon2"):
        assert word not in blob.lower(), word
    listed = {x["id"]: x for x in json.loads(texts[1])["data"]}
    for x in keys:
        assert listed[x["id"]]["prefix"] == x["key"][:10]
        assert set(listed[x["id"]]) == {"id", "account", "name", "prefix", "scopes", "created_at", "revoked"}
    # The server log does not have them either.
    log = k.stderr()
    for s in secrets:
        assert s not in log


def test_openapi_documents_the_management_routes(k):
    status, doc = k.api("GET", "/v1/openapi.json", key="")
    assert status == 200
    want = {("/v1/accounts", "get"), ("/v1/accounts", "post"), ("/v1/accounts/{name}", "get"),
            ("/v1/accounts/{name}", "patch"), ("/v1/accounts/{name}", "delete"), ("/v1/api-keys", "get"),
            ("/v1/api-keys", "post"), ("/v1/api-keys/{id}", "delete"), ("/v1/smtp-credentials", "get"),
            ("/v1/smtp-credentials", "post"), ("/v1/smtp-credentials/{username}", "delete")}
    schemas = doc["components"]["schemas"]
    for path, method in want:
        op = doc["paths"][path][method]
        assert op["operationId"] and op["tags"], (path, method)
        assert op["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}  # with WWW-Authenticate
        for ref in json.dumps(op).split('"$ref": "')[1:]:
            ref = ref.split('"')[0]
            if ref.startswith("#/components/schemas/"):
                assert ref.rsplit("/", 1)[1] in schemas, ref
    assert "key" in json.dumps(schemas["ApiKeyCreated"]) and "key" not in schemas["ApiKey"]["properties"]
    assert "password" not in schemas["SmtpCredential"]["properties"]
