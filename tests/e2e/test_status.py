"""`kurier status` names the listeners the running server bound (asked over the control socket, not read
from the configuration file, which may have changed since), and the configured ones, saying so, when no
server runs."""

import re
import smtplib

from conftest import HOST, free_port


def test_status_names_the_bound_listeners_and_the_configured_ones_when_stopped(kurier_factory):
    k = kurier_factory()
    # The file changes under the running server (an edit not yet applied by a restart).
    moved = free_port()
    with open(k.config) as f:
        toml = f.read()
    toml, n = re.subn(rf'["\']{HOST}:{k.relay_port}["\']', f'"{HOST}:{moved}"', toml)
    assert n == 1, toml
    with open(k.config, "w") as f:
        f.write(toml)

    st = k.cli_json("status", "--json")
    assert st["running"] and st["listeners_from"] == "server", st
    bound = {l["name"]: l["address"] for l in st["listeners"]}
    assert bound == {"submission": f"{HOST}:{k.submission_port}", "submissions": f"{HOST}:{k.submissions_port}",
                     "relay": f"{HOST}:{k.relay_port}", "api": f"{HOST}:{k.api_port}"}, bound
    with smtplib.SMTP(HOST, k.relay_port, timeout=10) as s:  # the address shown is the one that answers
        assert s.ehlo()[0] == 250
    text = k.cli("status").stdout
    assert "ADDRESS (bound)" in text and f"relay         {HOST}:{k.relay_port}\n" in text, text

    k.stop()
    st = k.cli_json("status", "--json")
    assert not st["running"] and st["listeners_from"] == "configuration", st
    assert {l["name"]: l["address"] for l in st["listeners"]}["relay"] == f"{HOST}:{moved}", st
    text = k.cli("status").stdout
    assert "configured, not bound: kurier is not running" in text and f"relay         {HOST}:{moved}\n" in text, text
