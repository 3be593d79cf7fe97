"""Files and secrets at rest (issue 12, item 8).

- Every file kurier creates is 0600 and every directory 0700, whatever the umask it is started with
  (kurier sets 077 itself): kurier.toml, kurier.db, spool.db and their -wal/-shm files,
  events.journal, secret.key, the self-signed certificate and key, DKIM keys, the control socket.
- `serve` tightens an install made before that (files 0644) and says so in its log.
- Webhook secrets are stored encrypted: the whsec_ secret the API returned is in no file of the data
  directory (sqlite3 shows an enc:v1: value), and webhook deliveries still verify with it."""

import json
import os
import stat
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import KURIER_BIN, Kurier, free_port, require_tool, run
from webhook_peer import WebhookReceiver, make_ca, verify


@contextmanager
def umask(mask):
    """Children started inside inherit `mask` (the careless operator's shell: umask 000)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def modes(root):
    """{relative path: (kind, permission bits)} of everything under root, root included."""
    out = {}
    root = Path(root)
    for p in [root, *sorted(root.rglob("*"))]:
        st = os.lstat(p)
        kind = ("dir" if stat.S_ISDIR(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode)
                else "link" if stat.S_ISLNK(st.st_mode) else "file")
        out[str(p.relative_to(root)) or "."] = (kind, stat.S_IMODE(st.st_mode))
    return out


def assert_private(root, must_have=()):
    found = modes(root)
    wrong = {p: f"{k} {m:04o}" for p, (k, m) in found.items()
             if (k == "dir" and m != 0o700) or (k in ("file", "socket") and m != 0o600)}
    assert not wrong, f"not private (files must be 0600, directories 0700): {wrong}"
    missing = [p for p in must_have if p not in found]
    assert not missing, f"expected {missing} in {sorted(found)}"
    return found


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def receiver(ca):
    _, cert, key = ca
    rx = WebhookReceiver(cert, key)
    yield rx
    rx.stop()


def test_init_and_serve_make_private_files_even_with_umask_000(tmp_path, ca, receiver):
    with umask(0):
        # Delivery on (the control socket exists only then), towards a DNS server that is not there:
        # the message stays queued.
        k = Kurier(tmp_path / "k", sets=(f"events.webhook_ca_file={json.dumps(ca[0])}", f"dns.forward=127.0.0.1@{free_port()}"),
                   sender_domains=["hooks.test"], delivery=True)
    assert_private(k.dir, ["kurier.toml", "kurier.db", "secret.key", "tls", "tls/cert.pem", "tls/key.pem",
                           "spool", "spool/spool.db"])
    # A DKIM key made by a subcommand.
    with umask(0):
        k.cli("domain", "add", k.account, "hooks.test")
    found = assert_private(k.dir)
    assert any(p.endswith(".pem") and "dkim" in p for p in found), sorted(found)
    # dkim keygen writes where it is told; the file is the operator's private key.
    keys = tmp_path / "keys"
    with umask(0):
        keys.mkdir()
        run([KURIER_BIN, "dkim", "keygen", "--algorithm", "rsa", "--out", str(keys / "arc.pem")], check=True)
    assert stat.S_IMODE(os.stat(keys / "arc.pem").st_mode) == 0o600

    with umask(0):
        k.start()
    try:
        status, hook = k.api("POST", "/v1/webhooks", {"url": receiver.url(), "event_types": ["accepted"]})
        assert status == 201 and hook["secret"].startswith("whsec_"), hook
        status, res = k.api("POST", "/v1/messages", {"from": "shop@hooks.test", "subject": "Order", "text": "Thanks.",
                                                     "to": f"buyer-{uuid.uuid4().hex[:8]}@example.net"})
        assert status == 202, res
        msg = res["messages"][0]
        [req] = receiver.wait_for(lambda r: msg["id"].encode() in r["body"])
        assert verify(hook["secret"], req["headers"], req["body"]), "the webhook must still verify with its secret"

        # While serving: WAL and shared-memory files, the event journal and the control socket exist.
        found = assert_private(k.dir, ["kurier.db-wal", "kurier.db-shm", "spool/spool.db-wal", "events.journal",
                                       "control.sock"])

        # The secret is stored encrypted, and in clear in no file of the data directory.
        stored = run([require_tool("sqlite3"), str(k.dir / "kurier.db"),
                      "select secret || '|' || previous_secret from webhooks"], check=True).stdout
        assert hook["secret"] not in stored and "whsec_" not in stored, stored
        assert stored.startswith("enc:v1:"), stored
        needle = hook["secret"].encode()
        key_part = hook["secret"][len("whsec_"):].encode()
        for p, (kind, _) in found.items():
            if kind == "file":
                data = (k.dir / p).read_bytes()
                assert needle not in data and key_part not in data, f"{p} holds the webhook secret in clear"
    finally:
        k.stop()


def test_serve_tightens_an_older_install(tmp_path):
    with umask(0):
        k = Kurier(tmp_path / "k")
    # What kurier before umask 077 left: files 0644, directories 0755.
    loose = ["kurier.toml", "kurier.db", "tls/key.pem", "tls/cert.pem", "spool/spool.db", "secret.key"]
    for p in loose:
        os.chmod(k.dir / p, 0o644)
    for d in [".", "tls", "spool"]:
        os.chmod(k.dir / d, 0o755)
    # A symbolic link to a file kurier does not own is not followed.
    outside = tmp_path / "shared-ca.pem"
    outside.write_text("not kurier's\n")
    os.chmod(outside, 0o644)
    os.symlink(outside, k.dir / "tls" / "ca-link.pem")

    k.start()
    try:
        found = modes(k.dir)
        for p in loose:
            assert found[p] == ("file", 0o600), (p, oct(found[p][1]))
        for d in [".", "tls", "spool"]:
            assert found[d] == ("dir", 0o700), (d, oct(found[d][1]))
        assert stat.S_IMODE(os.stat(outside).st_mode) == 0o644, "a symlink's target must not be changed"
        log = k.stderr()
        for p in loose:
            assert f"{k.dir / p} was mode 0644" in log, f"no log line for {p}:\n{log[-3000:]}"
    finally:
        k.stop()
