"""tls.ciphers (issue 12, item 6): what `openssl s_client` can and cannot negotiate with every SMTP
listener that does TLS — submission (STARTTLS), submissions (implicit TLS, 465), relay (STARTTLS) and
the bounce listener smtp.inbound (STARTTLS).

"modern" (the default): TLS 1.2 only with ECDHE and AES-GCM or ChaCha20-Poly1305, in the server's
order; TLS 1.3; never static RSA key exchange, CBC, SHA-1 MACs, TLS 1.0/1.1.
"intermediate": Mozilla's intermediate list (adds DHE-RSA AEAD suites), the client's order.

A refusal must come from the server (an alert in the handshake), not from the client being unable
to offer the suite, so every refusal checks for the server's alert."""

import re
import subprocess

import pytest

from conftest import HOST, KURIER_BIN, Kurier, free_port, require_tool, run

LISTENERS = ["submission", "submissions", "relay", "inbound"]

# Mozilla intermediate (guidelines 5.7), as src/net/tls_policy.cpp and docs/security.md list it.
INTERMEDIATE_RSA = ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305",
                    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305"]
INTERMEDIATE_ECDSA = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                      "ECDHE-ECDSA-CHACHA20-POLY1305"]
MODERN_RSA = INTERMEDIATE_RSA[:3]

# TLS 1.2 suites no profile allows: static RSA key exchange, CBC (SHA-1, SHA-256 and SHA-384 MACs).
NEVER_RSA = ["AES128-SHA256",                # static RSA, CBC
             "AES128-GCM-SHA256",            # static RSA, AEAD: no forward secrecy
             "AES256-SHA",                   # static RSA, CBC, SHA-1
             "ECDHE-RSA-AES128-SHA",         # CBC, SHA-1 MAC
             "ECDHE-RSA-AES128-SHA256",      # CBC
             "ECDHE-RSA-AES256-SHA384",      # CBC
             "DHE-RSA-AES128-SHA256"]        # CBC
NEVER_ECDSA = ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384"]

NEGOTIATED_RE = re.compile(r"^New, (TLSv[\d.]+), Cipher is (\S+)", re.M)


class Handshake:
    def __init__(self, proc):
        self.out = proc.stdout + proc.stderr
        m = NEGOTIATED_RE.search(self.out)
        self.protocol, self.cipher = (m.group(1), m.group(2)) if m else (None, None)

    @property
    def ok(self):
        return self.cipher not in (None, "(NONE)")

    def server_refused(self):
        """The server ended the handshake with an alert (not the client giving up on its own)."""
        return not self.ok and bool(re.search(r"alert (handshake failure|protocol version|insufficient security)",
                                              self.out))


def s_client(inst, listener, *args):
    port = getattr(inst, f"{listener}_port")
    cmd = [require_tool("openssl"), "s_client", "-connect", f"{HOST}:{port}", "-servername", "localhost"]
    if listener != "submissions":
        cmd += ["-starttls", "smtp"]
    cmd += list(args)
    return Handshake(run(cmd, input="", timeout=20))


def new_instance(tmp_path_factory, name, *sets, ecdsa=False):
    inbound_port = free_port()
    inst = Kurier(tmp_path_factory.mktemp(name),
                  sets=("smtp.inbound.enabled=true", f"smtp.inbound.listen={HOST}:{inbound_port}", *sets))
    inst.inbound_port = inbound_port
    if ecdsa:
        # An ECDSA P-256 certificate in place of the RSA one `kurier init` made.
        tls = inst.dir / "tls"
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem"), "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost"], check=True)
    # Kurier.start waits for the ports it knows; the bounce listener's too.
    inst.ports = lambda: [inst.submission_port, inst.submissions_port, inst.relay_port, inbound_port]
    inst.start()
    return inst


@pytest.fixture(scope="module")
def modern(tmp_path_factory):
    inst = new_instance(tmp_path_factory, "tls-modern")
    yield inst
    inst.stop()


@pytest.fixture(scope="module")
def intermediate(tmp_path_factory):
    inst = new_instance(tmp_path_factory, "tls-intermediate", 'tls.ciphers="intermediate"')
    yield inst
    inst.stop()


@pytest.fixture(scope="module")
def modern_ecdsa(tmp_path_factory):
    inst = new_instance(tmp_path_factory, "tls-modern-ecdsa", ecdsa=True)
    yield inst
    inst.stop()


@pytest.fixture(scope="module")
def intermediate_ecdsa(tmp_path_factory):
    inst = new_instance(tmp_path_factory, "tls-intermediate-ecdsa", 'tls.ciphers="intermediate"', ecdsa=True)
    yield inst
    inst.stop()


# ---------------------------------------------------------------- modern (the default)

@pytest.mark.parametrize("listener", LISTENERS)
def test_modern_refuses_static_rsa_and_cbc(modern, listener):
    for cipher in NEVER_RSA + ["DHE-RSA-AES128-GCM-SHA256"]:  # DHE is intermediate only
        h = s_client(modern, listener, "-tls1_2", "-cipher", cipher)
        assert h.server_refused(), f"{listener}: {cipher} must be refused, got {h.protocol} {h.cipher}\n{h.out[-1500:]}"


@pytest.mark.parametrize("listener", LISTENERS)
def test_modern_refuses_tls_1_0_and_1_1(modern, listener):
    for version in ("-tls1", "-tls1_1"):
        # SECLEVEL=0 lets this OpenSSL offer the old versions at all, so the refusal is the server's.
        h = s_client(modern, listener, version, "-cipher", "DEFAULT@SECLEVEL=0")
        assert h.server_refused(), f"{listener}: {version} must be refused, got {h.protocol} {h.cipher}\n{h.out[-1500:]}"
        assert "protocol version" in h.out


@pytest.mark.parametrize("listener", LISTENERS)
def test_modern_accepts_ecdhe_aead_and_tls_1_3(modern, listener):
    for cipher in MODERN_RSA:
        h = s_client(modern, listener, "-tls1_2", "-cipher", cipher)
        assert (h.protocol, h.cipher) == ("TLSv1.2", cipher), f"{listener}: {cipher}\n{h.out[-1500:]}"
    h = s_client(modern, listener, "-tls1_3")
    assert h.protocol == "TLSv1.3" and h.cipher.startswith("TLS_"), f"{listener}\n{h.out[-1500:]}"
    assert "Compression: NONE" in h.out


def test_modern_uses_the_server_order(modern):
    # The client prefers AES-256; kurier's order puts AES-128-GCM first (it is as strong in practice,
    # and faster), and with modern the server's order wins.
    h = s_client(modern, "submissions", "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256")
    assert h.cipher == "ECDHE-RSA-AES128-GCM-SHA256", h.out[-1500:]


def test_modern_with_an_ecdsa_certificate(modern_ecdsa):
    for listener in ("submission", "submissions"):
        for cipher in INTERMEDIATE_ECDSA:
            h = s_client(modern_ecdsa, listener, "-tls1_2", "-cipher", cipher)
            assert (h.protocol, h.cipher) == ("TLSv1.2", cipher), f"{listener}: {cipher}\n{h.out[-1500:]}"
        for cipher in NEVER_ECDSA:
            h = s_client(modern_ecdsa, listener, "-tls1_2", "-cipher", cipher)
            assert h.server_refused(), f"{listener}: {cipher} must be refused\n{h.out[-1500:]}"


# ---------------------------------------------------------------- intermediate

@pytest.mark.parametrize("listener", LISTENERS)
def test_intermediate_accepts_the_documented_list(intermediate, listener):
    for cipher in INTERMEDIATE_RSA:
        h = s_client(intermediate, listener, "-tls1_2", "-cipher", cipher)
        assert (h.protocol, h.cipher) == ("TLSv1.2", cipher), f"{listener}: {cipher}\n{h.out[-1500:]}"
    h = s_client(intermediate, listener, "-tls1_3")
    assert h.protocol == "TLSv1.3", h.out[-1500:]


@pytest.mark.parametrize("listener", LISTENERS)
def test_intermediate_still_refuses_static_rsa_cbc_and_old_versions(intermediate, listener):
    for cipher in NEVER_RSA:
        h = s_client(intermediate, listener, "-tls1_2", "-cipher", cipher)
        assert h.server_refused(), f"{listener}: {cipher} must be refused, got {h.protocol} {h.cipher}\n{h.out[-1500:]}"
    h = s_client(intermediate, listener, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert h.server_refused() and "protocol version" in h.out, h.out[-1500:]


def test_intermediate_uses_the_client_order(intermediate):
    h = s_client(intermediate, "submissions", "-tls1_2", "-cipher",
                 "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256")
    assert h.cipher == "ECDHE-RSA-AES256-GCM-SHA384", h.out[-1500:]


def test_intermediate_with_an_ecdsa_certificate(intermediate_ecdsa):
    for cipher in INTERMEDIATE_ECDSA:
        h = s_client(intermediate_ecdsa, "submissions", "-tls1_2", "-cipher", cipher)
        assert (h.protocol, h.cipher) == ("TLSv1.2", cipher), f"{cipher}\n{h.out[-1500:]}"
    for cipher in NEVER_ECDSA:
        h = s_client(intermediate_ecdsa, "submissions", "-tls1_2", "-cipher", cipher)
        assert h.server_refused(), f"{cipher} must be refused\n{h.out[-1500:]}"


# ---------------------------------------------------------------- the key

def test_unknown_policy_is_a_config_error(tmp_path):
    inst = Kurier(tmp_path / "k")
    config = inst.dir / "kurier.toml"
    text, n = re.subn(r'(?m)^(\s*#?\s*ciphers\s*=\s*)"modern"', r'ciphers = "legacy"', config.read_text())
    assert n == 1, "tls.ciphers is not in the generated kurier.toml"
    config.write_text(text)
    check = inst.cli("config", "check", check=False)
    out = check.stdout + check.stderr
    assert check.returncode == 1, out
    lines = [l for l in out.splitlines() if "tls.ciphers" in l]
    assert lines, out
    assert '"legacy"' in lines[0] and '"modern"' in lines[0] and '"intermediate"' in lines[0], lines
    serve = run([KURIER_BIN, "serve", "--config", inst.config], timeout=30)
    assert serve.returncode != 0 and "tls.ciphers" in serve.stdout + serve.stderr
