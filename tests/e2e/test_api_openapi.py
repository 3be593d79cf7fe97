"""/v1/openapi.json matches the server route for route: every route the server registers (as `kurier api
routes` lists them) is documented, every documented operation answers (never 'no endpoint' or 405), and
the document passes an independent OpenAPI 3.1 linter from npm (@redocly/cli)."""

import json
import os
import re
import subprocess

import pytest

from conftest import KURIER_BIN, run

E2E_DIR = os.path.dirname(os.path.abspath(__file__))
REDOCLY = os.path.join(E2E_DIR, "node_modules", ".bin", "redocly")
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def k(kurier_factory):
    return kurier_factory(sender_domains=["api.test"])


def server_routes():
    proc = run([KURIER_BIN, "api", "routes", "--json"], check=True)
    return {(r["method"], r["path"]) for r in json.loads(proc.stdout)}


def documented(doc):
    return {(m.upper(), path) for path, item in doc["paths"].items() for m in item if m in METHODS}


def test_every_route_is_documented_and_every_documented_route_answers(k):
    status, doc = k.api("GET", "/v1/openapi.json", key="")
    assert status == 200 and doc["openapi"].startswith("3.1")
    routes, docs = server_routes(), documented(doc)
    assert routes, "the server lists its routes"
    assert routes - docs == set(), f"routes missing from /v1/openapi.json: {sorted(routes - docs)}"
    assert docs - routes == set(), f"documented but not served: {sorted(docs - routes)}"
    for method, path in sorted(docs):
        concrete = re.sub(r"\{[^}]+\}", "zz-none", path)
        status, hdrs, text = k.curl(method, concrete, "{}" if method in ("POST", "PUT", "PATCH") else None)
        assert status != 405, (method, path, text)
        assert not (status == 404 and "no endpoint" in text), (method, path, text)
        assert status < 500, (method, path, status, text)
        op = doc["paths"][path][method.lower()]
        if status >= 400 and path.startswith("/v1/"):
            assert hdrs["content-type"] == "application/problem+json", (method, path, hdrs)
        elif status >= 400:
            # The public tracking pages answer browsers, in the type their document says.
            types = set(op["responses"][str(status)].get("content", {}))
            assert hdrs["content-type"].split(";")[0] in types, (method, path, status, hdrs, types)
        for code in doc["paths"][path][method.lower()]["responses"]:
            assert re.fullmatch(r"[1-5]\d\d", code), code


def test_document_passes_redocly_lint(k, tmp_path):
    assert os.access(REDOCLY, os.X_OK), "run scripts/install-deps.sh (npm install of @redocly/cli in tests/e2e)"
    status, _, text = k.curl("GET", "/v1/openapi.json", key="")
    path = tmp_path / "openapi.json"
    path.write_text(text)
    proc = subprocess.run([REDOCLY, "lint", str(path), "--format", "stylish"], capture_output=True, text=True, timeout=180,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
