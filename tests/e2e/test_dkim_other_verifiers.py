"""kurier's DKIM signatures checked by two more independent verifiers that read DNS the ordinary way
(/etc/resolv.conf): opendkim-testmsg (RSA and Ed25519) and Perl's Mail::DKIM (RSA; Debian 12's version
does not know Ed25519). A local unbound on 127.0.0.53:53 serves the keys' records; the verifiers run in a
private mount namespace whose /etc/resolv.conf points at it, so the machine's resolver is untouched."""

import os
import shutil
import subprocess

import pytest

from conftest import KURIER_BIN, run
from dns_peer import Unbound

MESSAGE = (b"From: Alice <alice@verify.test>\r\nTo: bob@example.net\r\nSubject: check me\r\n"
           b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <v1@verify.test>\r\n\r\n"
           b"Hello Bob,  this line has  double spaces.\r\n\r\nBye.\r\n")

PERL_VERIFY = r'''
use Mail::DKIM::Verifier;
my $v = Mail::DKIM::Verifier->new();
binmode STDIN;
while (<STDIN>) { $v->PRINT($_); }
$v->CLOSE();
print $v->result, "\n";
exit($v->result eq "pass" ? 0 : 1);
'''


def txt(name, value):
    parts = " ".join('"%s"' % value[i:i + 255] for i in range(0, len(value), 255))
    return f"{name}. 300 IN TXT {parts}"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for alg in ("rsa", "ed25519"):
        path = d / f"{alg}.pem"
        rec = run([KURIER_BIN, "dkim", "keygen", "--algorithm", alg, "--out", str(path)], check=True).stdout.strip()
        out[alg] = (path, rec)
    return out


@pytest.fixture(scope="module")
def resolv(tmp_path_factory, keys):
    if not shutil.which("unshare"):
        pytest.fail("unshare (util-linux) is needed to give the verifiers their own resolv.conf")
    zone = [txt(f"{alg}sel._domainkey.verify.test", rec) for alg, (_, rec) in keys.items()]
    d = tmp_path_factory.mktemp("resolv")
    dns = Unbound(str(d / "dns"), zone, port=53, interface="127.0.0.53")
    conf = d / "resolv.conf"
    conf.write_text("nameserver 127.0.0.53\n")
    yield str(conf)
    dns.stop()


def signed(keys, alg):
    path, _ = keys[alg]
    return run([KURIER_BIN, "dkim", "sign", "--domain", "verify.test", "--selector", f"{alg}sel", "--key", str(path)],
               input=MESSAGE, text=False, check=True).stdout


def in_namespace(resolv_conf, cmd, data):
    script = f"mount --bind {resolv_conf} /etc/resolv.conf && exec {cmd}"
    return subprocess.run(["unshare", "-m", "sh", "-c", script], input=data, capture_output=True, timeout=60)


@pytest.mark.parametrize("alg", ["rsa", "ed25519"])
def test_opendkim_testmsg_verifies(keys, resolv, alg):
    good = in_namespace(resolv, "opendkim-testmsg", signed(keys, alg))
    assert good.returncode == 0, good.stderr.decode()
    bad = in_namespace(resolv, "opendkim-testmsg", signed(keys, alg).replace(b"Bye.", b"Bye!"))
    assert bad.returncode != 0, "an altered message must fail"


def test_perl_mail_dkim_verifies_rsa(keys, resolv, tmp_path):
    script = tmp_path / "verify.pl"
    script.write_text(PERL_VERIFY)
    good = in_namespace(resolv, f"perl {script}", signed(keys, "rsa"))
    assert good.returncode == 0 and good.stdout.strip() == b"pass", good.stdout + good.stderr
    bad = in_namespace(resolv, f"perl {script}", signed(keys, "rsa").replace(b"check me", b"check you"))
    assert bad.returncode == 1 and bad.stdout.strip() == b"fail", bad.stdout + bad.stderr
