"""Certificates (issue 14, item 10): `init --tls-cert/--tls-key` checks the pair and keeps the files where
they are; `serve` loads the certificate again when its files change (as certbot renews them) and on
SIGHUP, for every SMTP listener, and a bad new pair is logged while the old certificate keeps working.
Each check is a real TLS handshake (Python's ssl) that looks at the certificate the server presents."""

import json
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HOST, KURIER_BIN, free_port, require_tool, run


def make_pair(directory, cn):
    """A self-signed certificate and its key made by openssl: (cert path, key path)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{cn}.crt", directory / f"{cn}.key"
    run([require_tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={cn}", "-days", "2",
         "-addext", f"subjectAltName=DNS:{cn}"], check=True)
    return cert, key


def der(cert_path):
    return ssl.PEM_cert_to_DER_cert(Path(cert_path).read_text())


def _ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def presented(port, starttls=False):
    """DER of the certificate a new connection to PORT is shown (implicit TLS, or after STARTTLS)."""
    if starttls:
        with smtplib.SMTP(HOST, port, timeout=10) as s:
            s.ehlo("client.test")
            s.starttls(context=_ctx())
            return s.sock.getpeercert(binary_form=True)
    with socket.create_connection((HOST, port), timeout=10) as raw, _ctx().wrap_socket(raw, server_hostname="localhost") as t:
        return t.getpeercert(binary_form=True)


def all_listeners(k):
    """Every TLS listener of the instance: submissions (implicit), submission and relay (STARTTLS)."""
    return [presented(k.submissions_port), presented(k.submission_port, starttls=True),
            presented(k.relay_port, starttls=True)]


def wait_presented(k, want, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        got = all_listeners(k)
        if all(g == want for g in got):
            return
        assert time.monotonic() < deadline, f"the listeners still present the old certificate after {timeout}s:\n" + k.stderr()[-2000:]
        time.sleep(0.2)


def replace(dst_cert, dst_key, src_cert, src_key):
    """Like a renewal: each file written beside and renamed over the old one."""
    for src, dst in ((src_key, dst_key), (src_cert, dst_cert)):
        tmp = Path(str(dst) + ".new")
        tmp.write_bytes(Path(src).read_bytes())
        os.replace(tmp, dst)


def tls_files(k):
    d = Path(k.info["data_dir"]) / "tls"
    return d / "cert.pem", d / "key.pem"


def test_changed_files_are_loaded_and_a_bad_pair_keeps_the_old_one(kurier_factory, tmp_path):
    k = kurier_factory("tls.reload_interval=1")
    cert, key = tls_files(k)
    assert all_listeners(k) == [der(cert)] * 3

    new_cert, new_key = make_pair(tmp_path / "pki", "renewed.test")
    replace(cert, key, new_cert, new_key)
    wait_presented(k, der(new_cert))
    assert "tls: the certificate files changed: loaded" in k.stderr()

    # A bad renewal: a key that is not the certificate's. Logged; the certificate in use stays.
    other_cert, other_key = make_pair(tmp_path / "pki", "other.test")
    replace(cert, key, other_cert, new_key)
    deadline = time.monotonic() + 10
    while "is not the key of the certificate" not in k.stderr():
        assert time.monotonic() < deadline, "the bad pair was not reported:\n" + k.stderr()[-2000:]
        time.sleep(0.2)
    assert all_listeners(k) == [der(new_cert)] * 3
    with k.smtp_submission() as s:  # and it still works end to end (STARTTLS, AUTH)
        assert s.noop()[0] == 250

    # Garbage in the certificate file: the same.
    Path(cert).write_text("not a certificate\n")
    time.sleep(3)
    assert all_listeners(k) == [der(new_cert)] * 3
    assert "holds no PEM certificate" in k.stderr()

    # Fixed: loaded.
    replace(cert, key, other_cert, other_key)
    wait_presented(k, der(other_cert))
    assert k.running()


def test_sighup_reloads(kurier_factory, tmp_path):
    k = kurier_factory("tls.reload_interval=0")  # no watching: only SIGHUP
    cert, key = tls_files(k)
    old = der(cert)
    new_cert, new_key = make_pair(tmp_path / "pki", "hup.test")
    replace(cert, key, new_cert, new_key)
    time.sleep(1.5)
    assert all_listeners(k) == [old] * 3, "reloaded without SIGHUP although tls.reload_interval = 0"
    k.proc.send_signal(signal.SIGHUP)
    wait_presented(k, der(new_cert), timeout=5)
    assert k.running(), "SIGHUP stopped the server"
    assert "tls: SIGHUP: loaded" in k.stderr()

    # A bad pair on SIGHUP: logged, the old certificate kept, the server running.
    Path(key).write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    k.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "tls: SIGHUP: the certificate was not reloaded" not in k.stderr():
        assert time.monotonic() < deadline, k.stderr()[-2000:]
        time.sleep(0.1)
    assert k.running()
    assert all_listeners(k) == [der(new_cert)] * 3


# ---------------------------------------------------------------- init --tls-cert / --tls-key

def init(dir_, *extra):
    return run([KURIER_BIN, "init", "--dir", str(dir_), *extra])


def test_init_with_a_certificate_of_ones_own(tmp_path):
    cert, key = make_pair(tmp_path / "live", "mail.example.test")
    ports = [free_port(), free_port()]
    proc = init(tmp_path / "k", "--json", "--tls-cert", str(cert), "--tls-key", str(key),
                "--set", f"smtp.submission.listen={HOST}:{ports[0]}", "--set", f"smtp.submissions.listen={HOST}:{ports[1]}",
                "--set", "api.enabled=false", "--set", "delivery.enabled=false")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["tls_certificate"] == str(cert) and info["tls_self_signed"] is False
    assert not (tmp_path / "k" / "tls").exists(), "init made a self-signed certificate as well"
    get = lambda key_name: run([KURIER_BIN, "config", "get", key_name, "--config", info["config"]]).stdout.strip()
    assert get("tls.certificate") == str(cert) and get("tls.private_key") == str(key)

    text = init(tmp_path / "t", "--tls-cert", str(cert), "--tls-key", str(key))
    assert f"TLS certificate {cert} (reloaded when it changes" in text.stdout, text.stdout

    server = subprocess.Popen([KURIER_BIN, "serve", "--config", info["config"]],
                                                   stderr=open(tmp_path / "serve.log", "wb"))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                assert presented(ports[1]) == der(cert)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.1)
        assert presented(ports[0], starttls=True) == der(cert)
    finally:
        server.terminate()
        server.wait(timeout=15)


@pytest.mark.parametrize("case", ["missing", "mismatch", "swapped", "garbage", "only-one"])
def test_init_refuses_a_bad_pair_and_says_what_is_wrong(tmp_path, case):
    cert, key = make_pair(tmp_path / "a", "a.test")
    other_cert, other_key = make_pair(tmp_path / "b", "b.test")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")
    args, want = {
        "missing": (["--tls-cert", str(tmp_path / "none.pem"), "--tls-key", str(key)], f"--tls-cert {tmp_path / 'none.pem'}: no such file"),
        "mismatch": (["--tls-cert", str(cert), "--tls-key", str(other_key)], "is not the key of the certificate"),
        "swapped": (["--tls-cert", str(key), "--tls-key", str(cert)], "swapped"),
        "garbage": (["--tls-cert", str(garbage), "--tls-key", str(key)], "holds no PEM certificate"),
        "only-one": (["--tls-cert", str(cert)], "--tls-cert FILE and --tls-key FILE together"),
    }[case]
    proc = init(tmp_path / "k", *args)
    assert proc.returncode == 1, proc.stdout
    assert want in proc.stderr, proc.stderr
    assert not (tmp_path / "k").exists()
