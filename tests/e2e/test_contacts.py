"""Contacts and lists (issue 17) through a running kurier, with the clients a user would pick: curl for the
API and the `kurier contacts import` CLI. A Polish Excel export (windows-1250, semicolons, Polish column
names) with broken rows is imported onto a list and read back with the right letters, its broken rows
named by line; the same file in ISO-8859-2 through the API; a contact's status follows the suppression
list both ways; attributes change by JSON merge patch; an internationalised domain is stored as its
A-label and found by either form; the export carries each membership's consent record; SQL put into
searches and filters is only ever data."""
import csv
import io
import json
import urllib.parse

import pytest

POLISH = [
    ("Adres e-mail", "Imię", "Nazwisko", "Miasto"),
    ("zofia@example.pl", "Zofia", "Wójcik", "Łódź"),
    ("Grzegorz.Brzeczyszczykiewicz@Example.PL", "Grzegorz", "Brzęczyszczykiewicz", "Chrząszczyżewoszyce"),
    ("not-an-address", "Zła", "Linia", "Kraków"),
    ("jan@żółw.pl", "Jan", "Źródło", "Świętokrzyskie"),
]


def polish_csv(encoding, extra_broken=True):
    lines = [";".join(row) for row in POLISH]
    if extra_broken:
        lines.insert(3, 'bad"quote@example.pl;x;y;z')
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def contacts(k, **query):
    st, res = k.api("GET", "/v1/contacts?" + urllib.parse.urlencode(query))
    assert st == 200, res
    return res["data"]


def import_csv(k, data, **query):
    st, _, text = k.curl("POST", "/v1/contacts/import?" + urllib.parse.urlencode(query), body=data, content_type="text/csv")
    return st, json.loads(text)


def idna(domain):
    return domain.encode("idna").decode()


def test_a_polish_excel_export_is_imported_onto_a_list_with_its_broken_rows_named(kurier, tmp_path):
    st, lst = kurier.api("POST", "/v1/lists", {"name": "Newsletter", "double_opt_in": False})
    assert st == 201, lst
    f = tmp_path / "klienci.csv"
    f.write_bytes(polish_csv("cp1250"))
    out = kurier.cli("contacts", "import", str(f), "--list", "newsletter").stdout
    assert "windows-1250" in out and "delimiter ';'" in out, out
    assert "3 created" in out and "2 rejected" in out and "3 added to list newsletter" in out, out
    assert "line 4:" in out and "line 5:" in out, out  # the stray quote, then the address that is not one

    people = {c["address"]: c for c in contacts(kurier, list=lst["id"])}
    assert set(people) == {"zofia@example.pl", "grzegorz.brzeczyszczykiewicz@example.pl", "jan@" + idna("żółw.pl")}
    z = people["zofia@example.pl"]
    assert z["name"] == "Zofia Wójcik" and z["status"] == "active"
    assert z["attributes"]["Miasto"] == "Łódź"
    assert people["grzegorz.brzeczyszczykiewicz@example.pl"]["attributes"]["Miasto"] == "Chrząszczyżewoszyce"

    # Read one by one: its list with the consent record of the import.
    st, one = kurier.api("GET", "/v1/contacts/zofia@example.pl")
    assert st == 200, one
    assert [m["name"] for m in one["lists"]] == ["Newsletter"]
    assert one["lists"][0]["status"] == "subscribed"
    assert one["lists"][0]["consent"]["source"] == "import:klienci.csv"
    # An internationalised domain is found by its Unicode form too.
    st, jan = kurier.api("GET", "/v1/contacts/" + urllib.parse.quote("JAN@Żółw.pl"))
    assert st == 200 and jan["address"] == "jan@" + idna("żółw.pl"), jan

    st, got = kurier.api("GET", f"/v1/lists/{lst['id']}")
    assert st == 200 and got["members"]["subscribed"] == 3, got


def test_the_api_import_reads_latin2_and_skip_leaves_existing_contacts_alone(kurier):
    st, c = kurier.api("POST", "/v1/contacts", {"address": "zofia@example.pl", "name": "Zosia", "attributes": {"vip": True}})
    assert st == 201, c
    st, rep = import_csv(kurier, polish_csv("iso-8859-2", extra_broken=False), mode="skip")
    assert st == 200, rep
    assert rep["encoding"] == "iso-8859-2" and rep["delimiter"] == ";", rep
    assert (rep["rows"], rep["created"], rep["skipped"], rep["rejected_count"]) == (4, 2, 1, 1), rep
    assert rep["rejected"][0].startswith("line 4:"), rep
    st, z = kurier.api("GET", "/v1/contacts/zofia@example.pl")
    assert z["name"] == "Zosia" and z["attributes"] == {"vip": True}, z  # skip: left as it was
    st, g = kurier.api("GET", "/v1/contacts/grzegorz.brzeczyszczykiewicz@example.pl")
    assert g["name"] == "Grzegorz Brzęczyszczykiewicz" and g["attributes"]["Miasto"] == "Chrząszczyżewoszyce", g

    # upsert (the default) merges: the name and the file's attributes arrive, the others stay.
    st, rep = import_csv(kurier, polish_csv("iso-8859-2", extra_broken=False), encoding="iso-8859-2")
    assert (rep["created"], rep["updated"]) == (0, 3), rep
    st, z = kurier.api("GET", "/v1/contacts/zofia@example.pl")
    assert z["name"] == "Zofia Wójcik" and z["attributes"]["vip"] is True and z["attributes"]["Miasto"] == "Łódź", z

    # A file without an address column says which columns it saw.
    st, bad = import_csv(kurier, b"name,city\r\nAnn,Paris\r\n")
    assert st == 422 and "name" in json.dumps(bad) and "city" in json.dumps(bad), bad
    # A second POST of the same address is a conflict that says what to do.
    st, dup = kurier.api("POST", "/v1/contacts", {"address": "ZOFIA@example.pl"})
    assert st == 409 and "PATCH /v1/contacts/" in dup["detail"], dup


def test_status_follows_the_suppression_list_and_attributes_merge(kurier):
    st, c = kurier.api("POST", "/v1/contacts", {"address": "ann@example.com", "attributes": {"plan": "free", "city": "Gdańsk"}})
    assert st == 201 and c["status"] == "active", c
    # A suppression made anywhere shows in the contact's status.
    st, _ = kurier.api("POST", "/v1/suppressions", {"address": "ann@example.com", "reason": "complaint"})
    assert st == 201
    st, c = kurier.api("GET", f"/v1/contacts/{c['id']}")
    assert c["status"] == "complained", c
    assert [x["address"] for x in contacts(kurier, status="complained")] == ["ann@example.com"]
    # And the contact's status changes the suppression list.
    st, c = kurier.api("PATCH", f"/v1/contacts/{c['id']}", {"status": "active"})
    assert st == 200 and c["status"] == "active", c
    st, _ = kurier.api("GET", "/v1/suppressions/ann@example.com")
    assert st == 404
    st, c = kurier.api("PATCH", f"/v1/contacts/{c['id']}", {"status": "unsubscribed"})
    assert c["status"] == "unsubscribed", c
    st, s = kurier.api("GET", "/v1/suppressions/ann@example.com")
    assert st == 200 and s["reason"] == "unsubscribe", s

    # RFC 7396: null removes, objects merge.
    st, c = kurier.api("PATCH", f"/v1/contacts/{c['id']}", {"name": "Ann", "attributes": {"plan": "pro", "city": None, "tags": {"a": 1}}})
    assert st == 200 and c["name"] == "Ann" and c["attributes"] == {"plan": "pro", "tags": {"a": 1}}, c
    st, bad = kurier.api("PATCH", f"/v1/contacts/{c['id']}", {"status": "bounced"})
    assert st == 422, bad


def test_lists_memberships_and_the_export_with_consent(kurier):
    st, lst = kurier.api("POST", "/v1/lists", {"name": "Promocje"})
    assert st == 201
    st, dup = kurier.api("POST", "/v1/lists", {"name": "PROMOCJE"})
    assert st == 409, dup
    st, c = kurier.api("POST", "/v1/contacts", {"address": "ola@example.pl", "name": "Ola", "lists": ["Promocje"]},
                       headers=["User-Agent: shop-backend/1.0"])
    assert st == 201 and c["lists"][0]["consent"]["source"] == "api", c
    assert c["lists"][0]["consent"]["user_agent"] == "shop-backend/1.0", c
    st, c = kurier.api("PUT", f"/v1/lists/{lst['id']}/members/ola@example.pl", {"status": "unsubscribed"})
    assert st == 200 and c["lists"][0]["status"] == "unsubscribed", c
    assert c["lists"][0]["consent"]["user_agent"] == "shop-backend/1.0", c  # the original consent stays
    st, _, text = kurier.curl("GET", "/v1/contacts/export")
    assert st == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["address"] for r in rows] == ["ola@example.pl"]
    lists = json.loads(rows[0]["lists"])
    assert lists[0]["name"] == "Promocje" and lists[0]["status"] == "unsubscribed" and lists[0]["consent"]["source"] == "api"
    st, _ = kurier.api("DELETE", f"/v1/lists/{lst['id']}/members/{c['id']}")
    assert st == 200
    st, gone = kurier.api("DELETE", f"/v1/lists/{lst['id']}/members/{c['id']}")
    assert st == 404, gone
    st, _ = kurier.api("DELETE", f"/v1/contacts/{c['id']}")
    assert st == 204
    st, _ = kurier.api("GET", f"/v1/contacts/{c['id']}")
    assert st == 404


@pytest.mark.parametrize("text", ["' OR 1=1 --", "%", "_", "\\", "x' UNION SELECT * FROM api_keys --", "\"; DROP TABLE contacts; --"])
def test_sql_in_searches_and_filters_is_only_data(kurier, text):
    st, _ = kurier.api("POST", "/v1/contacts", {"address": "one@example.com"})
    assert st == 201
    assert contacts(kurier, search=text) == []
    st, res = kurier.api("GET", "/v1/contacts?" + urllib.parse.urlencode({"list": text}))
    assert st == 404, res
    st, res = kurier.api("GET", "/v1/contacts?" + urllib.parse.urlencode({"status": text}))
    assert st == 422, res
    assert [c["address"] for c in contacts(kurier)] == ["one@example.com"]  # still there


def test_segments_select_contacts_by_attributes_engagement_and_lists(kurier):
    st, lst = kurier.api("POST", "/v1/lists", {"name": "vip"})
    people = [("ann@example.pl", {"country": "PL", "age": 40, "Miasto": "Łódź"}, True),
              ("bob@example.pl", {"country": "PL", "age": 17}, False),
              ("cy@example.com", {"country": "DE", "age": 40}, True),
              ("dee@example.com", {"country": "PL", "age": "40"}, False)]
    ids = {}
    for address, attrs, vip in people:
        st, c = kurier.api("POST", "/v1/contacts", {"address": address, "attributes": attrs, **({"lists": ["vip"]} if vip else {})})
        assert st == 201, c
        ids[address] = c["id"]

    def matching(segment, lists=None):
        st, res = kurier.api("POST", "/v1/segments/preview", {"segment": segment, **({"lists": lists} if lists else {})})
        assert st == 200, res
        return res["count"], sorted(c["address"] for c in res["sample"])

    assert matching('attributes.country = "PL"') == (3, ["ann@example.pl", "bob@example.pl", "dee@example.com"])
    assert matching('attributes.country = "PL" and attributes.age >= 18') == (1, ["ann@example.pl"])  # "40" is text
    assert matching('attributes."Miasto" = "Łódź"') == (1, ["ann@example.pl"])
    assert matching('domain = "example.com" and not in_list("vip")') == (1, ["dee@example.com"])
    assert matching('attributes.age = 40', lists=["vip"]) == (2, ["ann@example.pl", "cy@example.com"])
    assert matching('opened(within: 30d)') == (0, [])
    # The same through the contacts listing.
    st, res = kurier.api("GET", "/v1/contacts?" + urllib.parse.urlencode({"segment": 'attributes.country != "PL"'}))
    assert st == 200 and [c["address"] for c in res["data"]] == ["cy@example.com"], res
    # A broken query is refused with its column; SQL in it is only data.
    st, bad = kurier.api("POST", "/v1/segments/preview", {"segment": 'attributes.country = '})
    assert st == 422 and "column" in json.dumps(bad), bad
    for attack in ['name = "x\' OR 1=1 --"', 'attributes."x\') OR 1=1 --" = "y"', 'in_list("vip\'); DROP TABLE contacts; --")']:
        assert matching(attack) == (0, []), attack
    assert matching('not address is empty')[0] == 4  # still there
