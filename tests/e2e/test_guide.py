"""The user guide (docs/guide.md) is run against a real server, so its examples cannot go stale, and the
pages kurier serves at /docs and /docs/api are checked.

The guide marks what is run with HTML comments the rendered page leaves out:
  <!-- test -->                 the next ```sh block is run (bash, -e -o pipefail); it must exit 0
  <!-- test expect="REGEX" --> ... and its output must match REGEX
  <!-- output -->               the next ```json block is what the test block before it prints: the
                                output's last JSON value must have its shape (its keys, recursively,
                                and the kinds of their values)
  <!-- verify: LANG -->         the next block is webhook signature verification code (python, php,
                                node), run against a webhook kurier really signed and POSTed here, and
                                against the same request tampered with
The blocks run in the guide's order against one server (module scope) and share shell variables (a
block's assignments are there for the next). The variables the guide tells a reader to set
(KURIER_CONFIG, KURIER_API, KEY, KURIER_SMTP, SMTP_USER, SMTP_PASSWORD) come from that server; curl
runs with --fail-with-body (a CURL_HOME of the test's), so an API error fails the block."""

import hashlib
import base64
import html.parser
import json
import os
import re
import subprocess
import uuid
from dataclasses import dataclass, field

import pytest

from conftest import HOST, KURIER_BIN, REPO, Kurier, free_port
from receivers import Receiver, Recorder
from webhook_peer import WebhookReceiver

GUIDE = REPO / "docs" / "guide.md"
MARK = re.compile(r"^<!--\s*(test|output|verify)\b(?::\s*([\w-]+))?(.*?)-->\s*$")
FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass
class Block:
    kind: str        # test, verify
    lang: str        # the fence's info string
    code: str
    line: int        # where the block starts in guide.md
    expect: str = ""  # a regex its output must match (test)
    output: list = field(default_factory=list)  # JSON shapes its output must have (test)


def parse_guide(text):
    """The marked blocks of the guide, in order."""
    lines = text.split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = MARK.match(lines[i])
        if not m:
            i += 1
            continue
        kind, arg, rest = m.group(1), m.group(2) or "", m.group(3)
        fence = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        assert fence, f"guide.md:{i + 1}: a <!-- {kind} --> mark must stand right before a fenced block"
        end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
        code = "\n".join(lines[i + 2:end]) + "\n"
        if kind == "output":
            assert blocks and blocks[-1].kind == "test", f"guide.md:{i + 1}: an output mark follows a test block"
            blocks[-1].output.append((json.loads(code), i + 3))
        else:
            expect = re.search(r'expect="([^"]*)"', rest)
            blocks.append(Block(kind, arg if kind == "verify" else fence.group(1), code, i + 3,
                                expect.group(1) if expect else ""))
        i = end + 1
    return blocks


BLOCKS = parse_guide(GUIDE.read_text())
TESTS = [b for b in BLOCKS if b.kind == "test"]
VERIFIERS = {b.lang: b for b in BLOCKS if b.kind == "verify"}


def test_the_guide_marks_its_examples():
    assert len(TESTS) >= 25, "the guide's runnable examples are marked <!-- test -->"
    assert set(VERIFIERS) == {"python", "php", "node"}, VERIFIERS.keys()
    assert all(b.lang == "sh" for b in TESTS), [(b.line, b.lang) for b in TESTS if b.lang != "sh"]


# --------------------------------------------------------------------------
# the server the guide's examples run against
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def relay():
    """The backup relay of the fail-over section (an SMTP receiver on loopback)."""
    rec = Recorder()
    port = free_port()
    rx = Receiver(HOST, port, rec)
    yield port, rec
    rx.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, relay):
    # No DNS (dns.forward answers nobody): mail goes to the backup relay, as the fail-over section says.
    k = Kurier(tmp_path_factory.mktemp("guide"), sender_domains=["example.com"], delivery=True,
               sets=[f"dns.forward=127.0.0.1@{free_port()}", "server.hostname=mail.shop.example.com",
                     f'delivery.backup_relays=["smtp://{HOST}:{relay[0]}"]', "queue.retry_initial=3600"])
    k.start()
    yield k
    k.stop()


@pytest.fixture(scope="module")
def shell(server, tmp_path_factory):
    """Runs guide blocks one after another in a shell whose variables carry over."""
    work = tmp_path_factory.mktemp("guide-shell")
    (work / ".curlrc").write_text("fail-with-body\nshow-error\n")
    state = work / "state.sh"
    state.write_text("")
    env = dict(os.environ, KURIER_CONFIG=str(server.config), KURIER_API=server.api_url, KEY=server.api_key,
               KURIER_SMTP=f"{HOST}:{server.submission_port}", SMTP_USER=server.username,
               SMTP_PASSWORD=server.password, CURL_HOME=str(work),
               PATH=os.path.dirname(os.path.abspath(KURIER_BIN)) + os.pathsep + os.environ["PATH"])

    def run_block(code):
        script = f"set -a\n. {state}\nset -eo pipefail\n{code}\nexport -p > {state}.new\n"
        proc = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=90)
        if proc.returncode == 0:
            os.replace(f"{state}.new", state)
        return proc

    return run_block


def json_values(text):
    """Every top-level JSON object or array in `text`, in order."""
    decoder, out, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i] in "{[":
            try:
                value, end = decoder.raw_decode(text, i)
                out.append(value)
                i = end
                continue
            except ValueError:
                pass
        i += 1
    return out


def shape_problems(expected, actual, where="$"):
    """How `actual` differs in shape from `expected`: missing keys, other kinds of values."""
    if expected is None or actual is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: an object in the guide, {type(actual).__name__} from the server"]
        return [p for k, v in expected.items()
                for p in ([f"{where}.{k}: in the guide, not in the answer"] if k not in actual
                          else shape_problems(v, actual[k], f"{where}.{k}"))]
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: an array in the guide, {type(actual).__name__} from the server"]
        if expected and not actual:
            return [f"{where}: the guide shows entries, the server gave none"]
        return shape_problems(expected[0], actual[0], f"{where}[0]") if expected else []
    kinds = [(bool,), (int, float), (str,)]
    kind = next((k for k in kinds if isinstance(expected, k)), None)
    if kind and not isinstance(actual, kind) or (kind == (int, float) and isinstance(actual, bool)):
        return [f"{where}: {type(expected).__name__} in the guide, {type(actual).__name__} from the server"]
    return []


@pytest.mark.parametrize("block", TESTS, ids=[f"line{b.line}" for b in TESTS])
def test_guide_example(block, shell):
    proc = shell(block.code)
    where = f"guide.md:{block.line}\n{block.code}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, where
    if block.expect:
        assert re.search(block.expect, proc.stdout + proc.stderr), f"expected /{block.expect}/ in the output of {where}"
    for expected, line in block.output:
        values = json_values(proc.stdout)
        assert values, f"the guide shows JSON (guide.md:{line}); the example printed none: {where}"
        problems = shape_problems(expected, values[-1])
        assert not problems, f"the output shown at guide.md:{line} is not what the server says: {problems}\n{where}"


def test_shape_check_can_fail():
    assert shape_problems({"a": [{"b": 1}]}, {"a": [{"b": 2, "c": 3}]}) == []
    assert shape_problems({"a": [{"b": 1}]}, {"a": [{"c": 3}]}) != []
    assert shape_problems({"a": "x"}, {"a": 1}) != []
    assert shape_problems({"a": [1]}, {"a": []}) != []


# --------------------------------------------------------------------------
# the webhook signature checks, against a webhook kurier signed and sent
# --------------------------------------------------------------------------

HARNESS = {
    "python": ("verify.py", ["/usr/bin/python3"], """
import json, sys
secret = open(sys.argv[1]).read().strip()
headers = json.load(open(sys.argv[2]))
body = open(sys.argv[3], "rb").read()
print("valid" if verify_webhook(secret, headers, body) else "invalid")
"""),
    "php": ("verify.php", ["php"], """
$secret = trim(file_get_contents($argv[1]));
$headers = json_decode(file_get_contents($argv[2]), true);
$body = file_get_contents($argv[3]);
echo verify_webhook($secret, $headers, $body) ? "valid" : "invalid", "\\n";
"""),
    "node": ("verify.js", ["node"], """
const fs = require("node:fs");
const [secretFile, headersFile, bodyFile] = process.argv.slice(2);
const ok = verifyWebhook(fs.readFileSync(secretFile, "utf8").trim(), JSON.parse(fs.readFileSync(headersFile, "utf8")),
                         fs.readFileSync(bodyFile));
console.log(ok ? "valid" : "invalid");
"""),
}


@pytest.fixture(scope="module")
def signed_webhook(server):
    """(secret, headers, body) of a webhook POST kurier made to a receiver here."""
    rx = WebhookReceiver()
    try:
        status, hook = server.api("POST", "/v1/webhooks", {"url": rx.url(), "event_types": ["accepted"]})
        assert status == 201, hook
        marker = f"guide-{uuid.uuid4().hex[:8]}@example.net"
        status, res = server.api("POST", "/v1/messages", {"from": "shop@example.com", "to": marker, "subject": "Hook",
                                                          "text": "Signed."})
        assert status == 202, res
        [req] = rx.wait_for(lambda r: marker.encode() in r["body"])[:1]
        yield hook["secret"], req["headers"], req["body"]
    finally:
        rx.stop()


@pytest.mark.parametrize("lang", sorted(HARNESS))
def test_webhook_verification_code(lang, signed_webhook, tmp_path):
    secret, headers, body = signed_webhook
    name, interpreter, harness = HARNESS[lang]
    program = tmp_path / name
    program.write_text(VERIFIERS[lang].code + harness)
    wanted = {k: headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    (tmp_path / "headers.json").write_text(json.dumps(wanted))
    (tmp_path / "secret").write_text(secret)

    def check(body_bytes, secret_text=secret):
        (tmp_path / "body").write_bytes(body_bytes)
        (tmp_path / "secret").write_text(secret_text)
        proc = subprocess.run(interpreter + [str(program), str(tmp_path / "secret"), str(tmp_path / "headers.json"),
                                             str(tmp_path / "body")], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout.strip()

    assert check(body) == "valid", f"the {lang} code of the guide rejects a webhook kurier signed"
    tampered = body.replace(b'"accepted"', b'"delivered"', 1)
    assert tampered != body
    assert check(tampered) == "invalid", f"the {lang} code of the guide accepts a tampered body"
    other = "whsec_" + base64.b64encode(b"another secret, 32 bytes long!!!").decode()
    assert check(body, other) == "invalid", f"the {lang} code of the guide accepts another secret's signature"


# --------------------------------------------------------------------------
# the pages
# --------------------------------------------------------------------------

class Links(html.parser.HTMLParser):
    """The tags of a page, the URLs that would load something, and the text of its headings."""

    def __init__(self):
        super().__init__()
        self.tags, self.loads, self.headings, self.ops, self.styles = set(), [], [], set(), []
        self._heading, self._style = None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        for key in ("src", "href", "srcset", "data", "poster", "background"):
            if a.get(key) and (tag != "a" or key != "href"):
                self.loads.append((tag, key, a[key]))
        if "style" in a:
            self.loads.append((tag, "style", a["style"]))
        if a.get("data-op"):
            self.ops.add(a["data-op"])
        if tag in ("h1", "h2", "h3"):
            self._heading = ""
        if tag == "style":
            self._style = ""

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append(self._heading.strip())
            self._heading = None
        if tag == "style" and self._style is not None:
            self.styles.append(self._style)
            self._style = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        if self._style is not None:
            self._style += data


def fetch_page(server, path):
    status, hdrs, text = server.curl("GET", path, key="")
    assert status == 200, (path, status, text[:300])
    assert hdrs["content-type"].startswith("text/html"), hdrs
    csp = hdrs.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "script-src 'none'" in csp, csp
    page = Links()
    page.feed(text)
    assert "script" not in page.tags, "the pages need no JavaScript"
    assert page.loads == [], f"{path} loads something: {page.loads}"
    # Its one style block is the one its policy allows, by hash.
    assert len(page.styles) == 1, page.styles
    digest = base64.b64encode(hashlib.sha256(page.styles[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp, (csp, digest)
    assert re.search(r"url\(|@import", page.styles[0]) is None, "the style loads nothing either"
    return text, page


def test_the_guide_page(server):
    text, page = fetch_page(server, "/docs")
    prose = re.sub(r"^```.*?^```", "", GUIDE.read_text(), flags=re.M | re.S)  # a '#' line in a code block is no heading
    titles = [re.sub(r"`", "", m.group(1)).strip() for m in re.finditer(r"^#{1,3} (.+)$", prose, re.M)]
    missing = [t for t in titles if t not in page.headings]
    assert not missing, f"headings of guide.md not on /docs: {missing} (page: {page.headings[:40]})"
    assert "<!-- test" not in text and "<!-- verify" not in text and "<!-- output" not in text
    # Its links within the guide and into the reference lead somewhere.
    reference, _ = fetch_page(server, "/docs/api")
    for target in re.findall(r'href="([^"]*#[^"]*)"', text):
        page_text = reference if target.startswith("/docs/api") else text
        anchor = target.split("#", 1)[1]
        assert f'id="{anchor}"' in page_text, f"the guide links to {target}, which is not there"


def test_a_trailing_slash_is_redirected_to_the_page(server):
    # /docs/ is what people type; it answers with a redirect to /docs, and only literal GET routes do that.
    status, hdrs, _ = server.curl("GET", "/docs/", key="")
    assert status == 308 and hdrs.get("location") == "/docs", (status, hdrs)
    status, hdrs, _ = server.curl("GET", "/docs/api/", key="")
    assert status == 308 and hdrs.get("location") == "/docs/api", (status, hdrs)
    status, hdrs, _ = server.curl("GET", "/v1/messages/?status=delivered&recipient=a%20b%40example.net", key="")
    assert status == 308 and hdrs.get("location") == "/v1/messages?recipient=a%20b%40example.net&status=delivered", \
        (status, hdrs)  # the query goes with the redirect, so a list's filters are not lost
    status, _, text = server.curl("POST", "/docs/", body="{}", key="")
    assert status == 404 and "no endpoint" in text, (status, text)
    status, _, text = server.curl("GET", "/v1/messages/x/", key="")
    assert status == 404, (status, text)


def test_the_api_reference_page(server):
    text, page = fetch_page(server, "/docs/api")
    status, doc = server.api("GET", "/v1/openapi.json", key="")
    assert status == 200
    operations = {f"{m.upper()} {p}" for p, item in doc["paths"].items() for m in item
                  if m in ("get", "post", "put", "patch", "delete")}
    assert operations - page.ops == set(), f"operations missing from /docs/api: {sorted(operations - page.ops)}"
    assert "@@SCOPE" not in text, "every operation's scope is filled in from the server's routes"
    send = re.search(r'data-op="POST /v1/messages">(.*?)</section>', text, re.S).group(1)
    assert "<code>send</code> scope" in send, send[:500]
    assert "public: no API key" in re.search(r'data-op="GET /t/o/\{token\}">(.*?)</section>', text, re.S).group(1)
    # Fields, required marks and response headers are rendered from the document.
    assert 'class="req"' in text or "class=req" in text
    assert "Content-Security-Policy" in text  # the /docs routes' own response header
    for heading in ("messages", "webhooks", "Schemas"):
        assert heading in page.headings, page.headings[:20]
