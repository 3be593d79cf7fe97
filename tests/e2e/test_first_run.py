"""The first hour of a new user (issue 14, items 2-4): `kurier init` is all or nothing, `serve` on a missing
or wrong data directory says so and creates nothing, `kurier config get` reads the configuration as kurier
does (scripts/run.sh's banner with it, single-quoted values included), init names the HTTP API, and the
OpenAPI document's `servers` entry is the address it was fetched from."""

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HOST, KURIER_BIN, REPO, curl, free_port, run

RUN_SH = REPO / "scripts" / "run.sh"


def kurier(*args, env=None, timeout=60):
    return run([KURIER_BIN, *args], timeout=timeout, env=env)


def init(dir_, *extra, env=None):
    return kurier("init", "--dir", str(dir_), *extra, env=env)


def leftovers(parent):
    return [p.name for p in Path(parent).iterdir() if ".kurier-init-" in p.name]


def quoted_ports_init(dir_):
    """An install whose listen addresses `init --set` wrote as single-quoted TOML strings."""
    ports = {"submission": free_port(), "submissions": free_port(), "api": free_port()}
    proc = init(dir_, "--json",
                "--set", f"smtp.submission.listen='{HOST}:{ports['submission']}'",
                "--set", f"smtp.submissions.listen='{HOST}:{ports['submissions']}'",
                "--set", f"api.listen='{HOST}:{ports['api']}'",
                "--set", "delivery.enabled=false")
    assert proc.returncode == 0, proc.stderr
    text = (Path(dir_) / "kurier.toml").read_text()
    assert f"listen = '{HOST}:{ports['submission']}'" in text, "the test needs single-quoted values in the file"
    return ports, json.loads(proc.stdout)


# ---------------------------------------------------------------- init: all or nothing

@pytest.mark.parametrize("step", ["certificate", "store", "credentials"])
def test_failed_init_leaves_nothing_and_a_retry_succeeds(tmp_path, step):
    target = tmp_path / "k"
    env = dict(os.environ, KURIER_TEST_THROW=f"init:{step}")
    failed = init(target, env=env)
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "init failed" in out and step in out, out
    assert "Nothing was installed" in out, out
    assert not target.exists(), f"a failed init left {sorted(p.name for p in target.iterdir())}"
    assert leftovers(tmp_path) == [], "the temporary directory was not removed"

    retry = init(target, "--json")
    assert retry.returncode == 0, retry.stderr
    info = json.loads(retry.stdout)
    assert kurier("config", "check", "--config", info["config"]).stdout.strip() == "ok"
    assert "default" in kurier("account", "list", "--config", info["config"]).stdout
    assert leftovers(tmp_path) == []


def test_failed_init_into_an_existing_empty_directory_leaves_it_empty(tmp_path):
    # An existing directory (a mount point, the working directory) is staged inside itself.
    target = tmp_path / "mnt"
    target.mkdir()
    failed = init(target, env=dict(os.environ, KURIER_TEST_THROW="init:credentials"))
    assert failed.returncode == 1 and "Nothing was installed" in failed.stderr, failed.stderr
    assert list(target.iterdir()) == [], "a failed init left files in the directory"
    ok = run([KURIER_BIN, "init", "--dir", ".", "--json"], cwd=str(target))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["config"] == str(target / "kurier.toml")
    assert sorted(p.name for p in target.iterdir()) == ["kurier.db", "kurier.toml", "secret.key", "spool", "tls"]
    assert (target.stat().st_mode & 0o777) == 0o700


def test_init_names_what_a_killed_init_left(tmp_path):
    target = tmp_path / "mnt"
    (target / ".kurier-init-AbC123").mkdir(parents=True)
    proc = init(target)
    assert proc.returncode == 1
    assert f"rm -r {target / '.kurier-init-AbC123'}" in proc.stderr, proc.stderr


def test_init_refuses_a_complete_install_and_says_how_to_start_it(tmp_path):
    target = tmp_path / "k"
    assert init(target).returncode == 0
    again = init(target)
    assert again.returncode == 1
    assert "already holds a kurier install" in again.stderr, again.stderr
    assert f"kurier serve --config {target / 'kurier.toml'}" in again.stderr, again.stderr


def test_init_refuses_an_incomplete_directory_and_says_what_to_do(tmp_path):
    target = tmp_path / "k"
    target.mkdir()
    (target / "kurier.toml").write_text("# left by an interrupted init\n")
    again = init(target)
    assert again.returncode == 1
    assert "not a complete kurier install" in again.stderr and f"rm -r {target}" in again.stderr, again.stderr
    assert sorted(p.name for p in target.iterdir()) == ["kurier.toml"]


def test_init_names_the_api_and_the_certificate(tmp_path):
    port = free_port()
    text = init(tmp_path / "t", "--set", f"api.listen=0.0.0.0:{port}")
    assert text.returncode == 0, text.stderr
    url = f"http://127.0.0.1:{port}"  # where a listener on 0.0.0.0 is reached
    assert f"HTTP API        {url}" in text.stdout, text.stdout
    key = next(l.split()[-1] for l in text.stdout.splitlines() if l.strip().startswith("API key"))
    assert f"curl -H 'Authorization: Bearer {key}' {url}/v1/" in text.stdout, text.stdout
    cert = tmp_path / "t" / "tls" / "cert.pem"
    assert f"TLS certificate {cert} (self-signed" in text.stdout and "--cacert" in text.stdout, text.stdout

    info = json.loads(init(tmp_path / "j", "--json", "--set", f"api.listen=127.0.0.1:{port}").stdout)
    assert info["api"] == f"127.0.0.1:{port}" and info["api_url"] == f"http://127.0.0.1:{port}"
    assert info["tls_certificate"] == str(tmp_path / "j" / "tls" / "cert.pem") and info["tls_self_signed"] is True
    off = json.loads(init(tmp_path / "o", "--json", "--set", "api.enabled=false").stdout)
    assert off["api"] is None and off["api_url"] is None


# ---------------------------------------------------------------- serve: check first, create nothing

def test_serve_on_a_missing_data_directory_creates_nothing(tmp_path):
    cfg_dir = tmp_path / "etc"
    cfg_dir.mkdir()
    missing = tmp_path / "missing"
    cfg = cfg_dir / "kurier.toml"
    cfg.write_text(f'[server]\ndata_dir = "{missing}"\n')
    proc = kurier("serve", "--config", str(cfg), timeout=20)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"the data directory {missing}" in proc.stderr and "does not exist" in proc.stderr, proc.stderr
    assert "kurier init --dir DIR" in proc.stderr, proc.stderr
    assert not missing.exists(), "serve created the data directory"
    assert sorted(p.name for p in cfg_dir.iterdir()) == ["kurier.toml"]

    # A directory that is not a kurier data directory (the wrong one): named, and left as it was.
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    cfg.write_text(f'[server]\ndata_dir = "{wrong}"\n')
    proc = kurier("serve", "--config", str(cfg), timeout=20)
    assert proc.returncode == 1
    assert "not a complete kurier data directory" in proc.stderr and "kurier.db" in proc.stderr, proc.stderr
    assert "kurier init --dir DIR" in proc.stderr
    assert list(wrong.iterdir()) == [], "serve created files in a directory that is not kurier's"

    # Other commands do not make a database there either.
    proc = kurier("account", "list", "--config", str(cfg))
    assert proc.returncode == 1 and "no database" in proc.stderr, proc.stderr
    assert list(wrong.iterdir()) == []

    proc = kurier("serve", "--config", str(tmp_path / "nope.toml"), timeout=20)
    assert proc.returncode == 1 and "kurier init --dir DIR" in proc.stderr, proc.stderr
    assert not (tmp_path / "nope.toml").exists()


# ---------------------------------------------------------------- config get

def test_config_get_reads_values_as_kurier_does(tmp_path):
    ports, info = quoted_ports_init(tmp_path / "k")
    cfg = info["config"]

    def get(key):
        return kurier("config", "get", key, "--config", cfg)

    assert get("smtp.submission.listen").stdout == f"{HOST}:{ports['submission']}\n"  # single-quoted in the file
    assert get("api.listen").stdout == f"{HOST}:{ports['api']}\n"
    assert get("smtp.relay.listen").stdout == "127.0.0.1:2025\n"                     # a default
    assert get("smtp.relay.networks").stdout == "127.0.0.0/8\n::1/128\n"
    assert get("delivery.enabled").stdout == "false\n"
    assert get("tls.certificate").stdout == str(tmp_path / "k" / "tls" / "cert.pem") + "\n"  # resolved
    bad = get("smtp.submision.listen")
    assert bad.returncode == 1 and bad.stdout == ""
    assert "unknown key 'smtp.submision.listen'" in bad.stderr and "smtp.submission.listen" in bad.stderr, bad.stderr


# ---------------------------------------------------------------- make run (scripts/run.sh)

def start_run_sh(data, env=None):
    return subprocess.Popen(["bash", str(RUN_SH), KURIER_BIN, str(data)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_run_sh_banner_with_single_quoted_values(tmp_path):
    data = tmp_path / "var"
    ports, info = quoted_ports_init(data)
    proc = start_run_sh(data)
    try:
        banner = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner.append(line)
            if line.startswith("Stop the server"):
                break
        text = "".join(banner)
        assert f"submission    {HOST}:{ports['submission']} (STARTTLS)" in text, text
        assert f"submissions   {HOST}:{ports['submissions']} (implicit TLS)" in text, text
        assert f"HTTP API      http://{HOST}:{ports['api']}" in text, text
        assert f"--server {HOST}:{ports['submission']} " in text, text
        assert f"http://{HOST}:{ports['api']}/v1/messages" in text, text
        cert = info["data_dir"] + "/tls/cert.pem"
        assert f"certificate   {cert}" in text and f"--cacert {cert}" in text, text
        # and it serves what it announced
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((HOST, ports["api"]), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.1)
        status, _, body = curl("GET", f"http://{HOST}:{ports['api']}/v1/messages", key=info["api_key"])
        assert status == 200, body
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_run_sh_refuses_an_incomplete_install(tmp_path):
    data = tmp_path / "var"
    quoted_ports_init(data)
    (data / "kurier.db").unlink()
    proc = start_run_sh(data)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, out + err
    assert f"{data} is not a complete kurier install" in err and "store.sqlite_path" in err, err
    assert f"rm -r {data} && make run" in err, err
    assert not (data / "kurier.db").exists(), "run.sh started kurier on the incomplete install"


# ---------------------------------------------------------------- OpenAPI servers

def test_openapi_servers_is_where_the_document_was_fetched(kurier_factory):
    k = kurier_factory()
    cases = [
        ([], f"http://{HOST}:{k.api_port}"),
        (["Host: mail.example.test:8443"], "http://mail.example.test:8443"),
        (["Host: mail.example.test", "X-Forwarded-Proto: https"], "https://mail.example.test"),
        (['Host: a"b'], "/"),  # not a host: the relative form, never the header's text
    ]
    for headers, want in cases:
        status, _, body = k.curl("GET", "/v1/openapi.json", key="", headers=headers)
        assert status == 200, (headers, body)
        assert json.loads(body)["servers"][0]["url"] == want, headers
