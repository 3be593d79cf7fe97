"""The kurier command line: init, config check, --help, queue, smtp-user, account, serve."""

import json
import os
import re
import smtplib
import socket
import tomllib
from pathlib import Path

import pytest

from conftest import HOST, KURIER_BIN, free_port, make_message, queued_id, run


def kurier_cli(*args, timeout=60):
    return run([KURIER_BIN, *args], timeout=timeout)


def init(dir_, *extra):
    return kurier_cli("init", "--dir", str(dir_), "--json", *extra)


# ---------------------------------------------------------------- init

def test_init_refuses_existing_non_empty_dir(tmp_path):
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "keep.txt").write_text("precious\n")
    proc = init(target)
    assert proc.returncode != 0, f"init wrote into a non-empty directory:\n{proc.stdout}"
    assert (proc.stdout + proc.stderr).strip(), "init refused without saying why"
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    assert (target / "keep.txt").read_text() == "precious\n"


def test_init_json_output_and_generated_defaults(tmp_path):
    target = tmp_path / "fresh"
    proc = init(target)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)  # exactly one JSON object on stdout
    for key in ["config", "data_dir", "account", "submission", "submissions", "relay",
                "smtp_username", "smtp_password", "api_key"]:
        assert key in info, f"init --json lacks {key!r}: {info}"
    assert os.path.isabs(info["config"]) and Path(info["config"]).is_file()
    assert Path(info["config"]).resolve() == (target / "kurier.toml").resolve()
    assert info["account"] == "default"
    assert info["smtp_username"] == "default"
    assert info["smtp_password"] and info["api_key"]
    assert info["submission"] == "127.0.0.1:2587"
    assert info["submissions"] == "127.0.0.1:2465"
    assert info["relay"] is None, "relay is disabled by default"

    cfg = tomllib.loads(Path(info["config"]).read_text())
    assert cfg["server"]["hostname"] == "localhost"
    smtp = cfg["smtp"]
    assert smtp["submission"]["enabled"] is True and smtp["submission"]["listen"] == "127.0.0.1:2587"
    assert smtp["submissions"]["enabled"] is True and smtp["submissions"]["listen"] == "127.0.0.1:2465"
    assert smtp["relay"]["enabled"] is False and smtp["relay"]["listen"] == "127.0.0.1:2025"
    assert smtp["relay"]["networks"] == ["127.0.0.0/8", "::1/128"]
    assert smtp["relay"]["account"] == "default"
    limits = {"max_command_line": 512, "max_data_line": 2048, "max_message_size": 26214400,
              "max_recipients": 1000, "max_commands": 10000, "max_errors": 20,
              "command_timeout": 300, "session_timeout": 1800, "max_connections": 1000,
              "max_connections_per_ip": 50}
    for key, value in limits.items():
        assert smtp["limits"][key] == value, f"smtp.limits.{key}"
    # auth.max_failures counts per client address since issue 12, item 3 (default 20, was 5 per address or username)
    assert cfg["auth"] == {**cfg["auth"], "max_failures": 20, "failure_window": 600, "cooldown": 600,
                           "free_failures": 2, "max_delay": 30, "user_delay": 1}

    check = kurier_cli("config", "check", "--config", info["config"])
    assert check.returncode == 0 and check.stdout.strip() == "ok", check.stdout + check.stderr


def test_init_into_existing_empty_dir_and_set_overrides(tmp_path):
    target = tmp_path / "empty"
    target.mkdir()
    port = free_port()
    proc = init(target, "--set", f"smtp.relay.listen=127.0.0.1:{port}",
                "--set", "smtp.relay.enabled=true",
                "--set", "smtp.limits.max_message_size=10000",
                "--set", 'smtp.relay.networks=["127.0.0.0/8"]',
                "--set", "server.hostname=mx.example.test",
                "--sender-domain", "a.test", "--sender-domain", "b.test")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["relay"] == f"127.0.0.1:{port}"
    cfg = tomllib.loads(Path(info["config"]).read_text())
    assert cfg["smtp"]["relay"]["enabled"] is True
    assert cfg["smtp"]["limits"]["max_message_size"] == 10000
    assert cfg["smtp"]["relay"]["networks"] == ["127.0.0.0/8"]
    assert cfg["server"]["hostname"] == "mx.example.test"
    accounts = kurier_cli("account", "list", "--config", info["config"])
    assert accounts.returncode == 0, accounts.stderr
    assert "default" in accounts.stdout
    assert "a.test" in accounts.stdout and "b.test" in accounts.stdout, accounts.stdout
    assert kurier_cli("config", "check", "--config", info["config"]).returncode == 0


# ---------------------------------------------------------------- config check

def test_config_check_names_each_bad_key(tmp_path):
    proc = init(tmp_path / "k", "--set", f"smtp.submission.listen=127.0.0.1:{free_port()}",
                "--set", f"smtp.submissions.listen=127.0.0.1:{free_port()}")
    assert proc.returncode == 0, proc.stderr
    config = Path(json.loads(proc.stdout)["config"])
    text = config.read_text()
    # the first max_recipients of the file is smtp.limits' (api.max_recipients comes later)
    new, n = re.subn(r"(?m)^(\s*(?:[\w.]+\.)?max_recipients\s*=\s*)\d+", r'\1"lots"', text, count=1)
    assert n == 1, f"max_recipients not found in the generated config:\n{text}"
    new += '\n[smtp.submision]\nlisten = "127.0.0.1:2587"\n'
    config.write_text(new)

    check = kurier_cli("config", "check", "--config", str(config))
    out = check.stdout + check.stderr
    assert check.returncode == 1, f"exit {check.returncode}:\n{out}"
    lines = out.splitlines()
    type_lines = [l for l in lines if "smtp.limits.max_recipients" in l]
    unknown_lines = [l for l in lines if "smtp.submision" in l]
    assert type_lines, f"no error names smtp.limits.max_recipients:\n{out}"
    assert unknown_lines, f"no error names the unknown key smtp.submision:\n{out}"
    assert set(type_lines).isdisjoint(unknown_lines), f"errors not on their own lines:\n{out}"
    assert "integer" in type_lines[0].lower(), type_lines
    assert "unknown" in unknown_lines[0].lower(), unknown_lines
    assert "ok" not in [l.strip() for l in lines]

    # serve refuses the same file
    serve = kurier_cli("serve", "--config", str(config), timeout=30)
    assert serve.returncode != 0


# ---------------------------------------------------------------- --help

HELP_COMMANDS = [
    ["--help"],
    ["init", "--help"],
    ["serve", "--help"],
    ["config", "check", "--help"],
    ["config", "get", "--help"],
    ["account", "--help"],
    ["account", "add", "--help"],
    ["account", "list", "--help"],
    ["smtp-user", "--help"],
    ["smtp-user", "add", "--help"],
    ["smtp-user", "list", "--help"],
    ["smtp-user", "remove", "--help"],
    ["api-key", "--help"],
    ["queue", "list", "--help"],
    ["queue", "show", "--help"],
    ["events", "list", "--help"],
    ["queue", "delete", "--help"],
    ["status", "--help"],
]


@pytest.mark.parametrize("args", HELP_COMMANDS, ids=[" ".join(a) for a in HELP_COMMANDS])
def test_help(args, tmp_path):
    proc = run([KURIER_BIN, *args], timeout=30, cwd=str(tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{out}"
    assert "usage" in out.lower(), out
    assert list(tmp_path.iterdir()) == [], "--help must not create files"
    if len(args) > 1:
        assert args[-2] in out, f"help for {' '.join(args[:-1])} does not mention it:\n{out}"


# ---------------------------------------------------------------- queue, users, accounts

def test_queue_show_unknown_id(kurier):
    proc = kurier.cli("queue", "show", "no-such-id", "--json", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    proc = kurier.cli("queue", "show", "no-such-id", "--raw", check=False)
    assert proc.returncode == 1
    assert proc.stdout == ""


def test_queue_list_table_and_json(kurier):
    assert kurier.queue_list() == []
    with smtplib.SMTP(HOST, kurier.relay_port, timeout=20) as s:
        s.ehlo()
        s.mail("alice@example.com")
        s.rcpt("bob@ext.test")
        s.rcpt("carol@ext.test")
        code, resp = s.data(make_message("alice@example.com", "bob@ext.test", "cli", "hello"))
    assert code == 250
    msg_id = queued_id(b"250 " + resp)
    listed = kurier.queue_list()
    assert [m["id"] for m in listed] == [msg_id]
    entry = listed[0]
    assert set(entry) >= {"id", "received_at", "account", "mail_from", "recipients", "size"}
    assert entry["recipients"] == ["bob@ext.test", "carol@ext.test"]
    assert isinstance(entry["size"], int) and entry["size"] > 0

    table = kurier.cli("queue", "list").stdout
    assert msg_id in table and "alice@example.com" in table

    shown = kurier.queue_show(msg_id)
    assert set(shown) >= {"id", "received_at", "account", "mail_from", "recipients", "size",
                          "credential", "client_ip", "body_type", "smtputf8", "events", "message"}
    assert shown["client_ip"] == "127.0.0.1"
    assert shown["smtputf8"] is False
    assert any(e["type"] == "accepted" for e in shown["events"]), shown["events"]
    assert all({"type", "time", "data"} <= set(e) for e in shown["events"])


def test_smtp_user_add_list_remove(kurier):
    added = kurier.cli_json("smtp-user", "add", "default", "--username", "app1", "--json")
    assert added["username"] == "app1" and added["password"]
    assert "app1" in kurier.cli("smtp-user", "list").stdout

    # the new credential works on the running server
    s = kurier.smtp_submission(login=False)
    try:
        s.login("app1", added["password"])
        s.mail("alice@example.com")
        s.rcpt("bob@ext.test")
        code, resp = s.data(make_message("alice@example.com", "bob@ext.test", "app1", "hi"))
    finally:
        s.close()
    assert code == 250
    msg_id = queued_id(b"250 " + resp)
    assert kurier.queue_show(msg_id)["credential"] == "app1"

    kurier.cli("smtp-user", "remove", "app1")
    assert "app1" not in kurier.cli("smtp-user", "list").stdout
    s = kurier.smtp_submission(login=False)
    try:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login("app1", added["password"])
    finally:
        s.close()


def test_account_add_and_list(kurier):
    kurier.cli("account", "add", "shop", "--sender-domain", "shop.test")
    listing = kurier.cli("account", "list").stdout
    assert "shop" in listing and "shop.test" in listing and "default" in listing
    user = kurier.cli_json("smtp-user", "add", "shop", "--json")
    s = kurier.smtp_submission(login=False)
    try:
        s.login(user["username"], user["password"])
        code, resp = s.mail("orders@example.com")
        assert code == 550, "example.com belongs to the default account, not to shop"
        s.rset()
        assert s.mail("orders@shop.test")[0] == 250
        s.rcpt("customer@ext.test")
        code, resp = s.data(make_message("orders@shop.test", "customer@ext.test", "order", "thanks"))
    finally:
        s.close()
    assert code == 250
    assert kurier.queue_show(queued_id(b"250 " + resp))["account"] == "shop"


def test_serve_stops_cleanly_on_sigterm(kurier):
    assert kurier.running()
    assert kurier.stop() == 0
    for port in kurier.ports():
        with pytest.raises(OSError):
            socket.create_connection((HOST, port), timeout=2).close()
