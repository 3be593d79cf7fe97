"""The Debian package (`make deb`) installed in a clean root, and the unit's command run there.

The package is built by CPack from the built binary. It is installed with `dpkg -i` in a copy-on-write
view of this machine: a private mount, network and PID namespace (unshare) with an overlayfs over /
(the changes go to a temporary directory) and chroot into it, so the host is untouched and everything
mounted or started there ends with the namespace, even when a check fails. There the test checks the
user, files, modes and the conffile, starts the unit's ExecStart as its User= with its capability and
UMask (setpriv, as systemd would), sends a message with swaks on 587 (a privileged port: the ambient
CAP_NET_BIND_SERVICE at work) and reads the JSON log, reloads with the unit's SIGHUP, stops it, installs
it again over itself (an upgrade keeps the edited kurier.toml), removes it, installs it again over the
kept data (init must not run twice), and purges it.

Needs root (CI runs `make test` as root); skipped otherwise.
"""

import configparser
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import KURIER_BIN, run

HERE = Path(__file__).resolve()
UNIT = "/lib/systemd/system/kurier.service"
CONF = "/etc/kurier/kurier.toml"
DATA = "/var/lib/kurier"
CREDS = "/etc/kurier/initial-credentials"
API_PORT = 18025


# --------------------------------------------------------------------------
# outside: build the package, run the checks below inside the namespace
# --------------------------------------------------------------------------

def _skip_reason():
    if os.geteuid() != 0:
        return "installing a package in a chroot needs root (CI runs make test as root)"
    for tool in ("unshare", "chroot", "setpriv", "cpack", "dpkg-shlibdeps", "swaks"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"{tool} is not installed"
    return None


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    build = Path(KURIER_BIN).resolve().parent
    if not (build / "CPackConfig.cmake").exists():
        pytest.fail(f"{build}/CPackConfig.cmake is missing: configure the build with CMake first (make build)")
    out = tmp_path_factory.mktemp("deb")
    proc = subprocess.run(["cpack", "-G", "DEB", "--config", str(build / "CPackConfig.cmake"), "-B", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"cpack failed:\n{proc.stdout}\n{proc.stderr}"
    debs = list(out.glob("kurier_*.deb"))
    assert len(debs) == 1, f"expected one kurier_VERSION_ARCH.deb in {out}: {list(out.iterdir())}"
    return debs[0]


def test_package_metadata(deb):
    if _skip_reason():
        pytest.skip(_skip_reason())
    assert re.fullmatch(r"kurier_\d+\.\d+\.\d+_[a-z0-9]+\.deb", deb.name), deb.name
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
    depends = re.search(r"^Depends: (.*)$", fields, re.M).group(1)
    # dpkg-shlibdeps found the shared libraries' packages (OpenSSL, libsodium, SQLite, libunbound).
    for lib in ("libssl3", "libsodium23", "libsqlite3-0", "libunbound8", "libc6", "passwd"):
        assert lib in depends, f"Depends lacks {lib}: {depends}"
    control = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True, check=True).stdout
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        assert script in control, control
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    for path in ("./usr/bin/kurier", "." + UNIT, "." + CONF, "./usr/libexec/kurier/kurier-setup"):
        assert re.search(rf"\s{re.escape(path)}$", listing, re.M), f"{path} not in the package:\n{listing}"
    assert "./var/lib/kurier" not in listing, "the data directory is made by postinst, not shipped"
    # The binary is stripped: the package carries no debug information.
    size = int(re.search(r"^Installed-Size: (\d+)$", fields, re.M).group(1))
    assert size < 60000, f"Installed-Size {size} KiB: is the binary stripped?"


def test_package_installs_runs_and_purges(deb, tmp_path):
    """Everything the namespace holds lives on its own tmpfs, so nothing is left behind on the host."""
    if _skip_reason():
        pytest.skip(_skip_reason())
    cmd = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--propagation", "private",
           sys.executable, str(HERE), "--inside", str(tmp_path), str(deb)]
    # On a timeout subprocess kills unshare, and --kill-child kills the namespace's first process, and
    # with it every process there; the mounts (the overlay's layers are on a tmpfs) go with the namespace.
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 and "unshare failed" in proc.stderr:
        pytest.skip(f"this machine does not allow private namespaces: {proc.stderr.strip()}")
    if proc.returncode == 77:
        pytest.skip(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, f"inside the chroot:\n{proc.stdout}\n{proc.stderr}"
    assert "ALL CHECKS PASSED" in proc.stdout, proc.stdout


def test_make_install_honours_destdir_and_prefix_and_keeps_an_edited_config(tmp_path):
    build = Path(KURIER_BIN).resolve().parent
    dest = tmp_path / "dest"

    def install():
        proc = subprocess.run(["cmake", "--install", str(build), "--prefix", "/opt/kurier"], capture_output=True,
                              text=True, timeout=120, env={**os.environ, "DESTDIR": str(dest)})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    install()
    assert os.access(dest / "opt/kurier/bin/kurier", os.X_OK)
    unit = (dest / "opt/kurier/lib/systemd/system/kurier.service").read_text()
    assert "\nExecStart=/opt/kurier/bin/kurier serve --config /etc/kurier/kurier.toml\n" in unit, unit
    assert "\nUser=kurier\n" in unit and "\nStateDirectory=kurier\n" in unit and not re.search(r"@[A-Z_]+@", unit)
    setup = (dest / "opt/kurier/libexec/kurier/kurier-setup").read_text()
    assert 'BIN="/opt/kurier/bin/kurier"' in setup and "@KURIER" not in setup
    conf = dest / "etc/kurier/kurier.toml"
    assert re.search(r'^data_dir = "/var/lib/kurier"$', conf.read_text(), re.M)
    conf.write_text(conf.read_text() + "# edited\n")
    out = install()  # again: the edited configuration is kept
    assert conf.read_text().endswith("# edited\n")
    assert "Kept: " in out, out
    assert not (dest / "var").exists(), "the data directory is made by kurier-setup, not installed"


def test_init_config_creates_the_data_directory_apart_and_nothing_else(tmp_path):
    etc, data = tmp_path / "etc", tmp_path / "data"
    etc.mkdir()
    conf = etc / "kurier.toml"
    conf.write_text(run([KURIER_BIN, "config", "template", "--set", f"server.data_dir={data}"], check=True).stdout)
    before = conf.read_bytes()
    out = run([KURIER_BIN, "init", "--config", str(conf), "--json"], check=True).stdout
    info = json.loads(out)
    assert info["data_dir"] == str(data) and info["config"] == str(conf) and info["smtp_password"]
    assert conf.read_bytes() == before, "the configuration is left as it is"
    assert sorted(p.name for p in etc.iterdir()) == ["kurier.toml"]
    assert {"kurier.db", "spool", "tls", "secret.key"} <= {p.name for p in data.iterdir()}
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    again = run([KURIER_BIN, "init", "--config", str(conf)])
    assert again.returncode == 1 and "already holds a kurier install" in again.stderr, again.stderr

    # Refusals: each says what is wrong and what to do, and creates nothing.
    same = tmp_path / "same"
    same.mkdir()
    with_data_dir = lambda d: re.sub(r"(?m)^data_dir = .*$", f'data_dir = "{d}"', before.decode())  # noqa: E731
    (same / "kurier.toml").write_text(with_data_dir("."))
    full = tmp_path / "full"
    full.mkdir()
    (full / "precious.txt").write_text("x")
    (tmp_path / "full.toml").write_text(with_data_dir(full))
    cases = [  # (arguments, exit status: 2 for a wrong command line, 1 for what cannot be done, message)
        (["--config", str(same / "kurier.toml")], 1, "holds the file itself"),
        (["--config", str(tmp_path / "full.toml")], 1, "is not empty; init never writes into a non-empty directory"),
        (["--config", str(tmp_path / "missing.toml")], 1, "not found; 'kurier config template > FILE' writes one"),
        (["--config", str(conf), "--set", "log.level=debug"], 2, "uses the file as it is"),
        ([], 2, "init needs --dir DIR"),
    ]
    for args, status, message in cases:
        proc = run([KURIER_BIN, "init", *args])
        assert proc.returncode == status and message in proc.stderr, (args, proc.returncode, proc.stderr)
    assert sorted(p.name for p in same.iterdir()) == ["kurier.toml"]
    assert sorted(p.name for p in full.iterdir()) == ["precious.txt"]


# --------------------------------------------------------------------------
# inside the namespace (run as: python3 test_package.py --inside TMP DEB)
# --------------------------------------------------------------------------

class Root:
    """The overlay over / that dpkg installs into, entered with chroot."""

    def __init__(self, tmp):
        self.layer = Path(tmp) / "layer"
        self.path = self.layer / "root"
        mount = lambda *a: subprocess.run(["mount", *a], check=True)  # noqa: E731
        self.layer.mkdir()
        try:
            # On a tmpfs of this namespace: gone with it, and an overlay's upper layer needs a file system
            # that can be one (tmpfs can; the overlay a container's / may be cannot).
            mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(self.layer))
            for d in ("upper", "work", "root"):
                (self.layer / d).mkdir()
            mount("-t", "overlay", "overlay", "-o",
                  f"lowerdir=/,upperdir={self.layer}/upper,workdir={self.layer}/work", str(self.path))
        except subprocess.CalledProcessError as e:
            print(f"cannot make an overlay of / here: {e}")
            sys.exit(77)
        mount("-t", "proc", "proc", str(self.path / "proc"))
        mount("--rbind", "/dev", str(self.path / "dev"))
        # No /run/systemd/system in here: postinst must not try to start the unit.
        mount("-t", "tmpfs", "tmpfs", str(self.path / "run"))
        mount("-t", "tmpfs", "tmpfs", str(self.path / "tmp"))
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

    def p(self, path):
        return self.path / path.lstrip("/")

    def run(self, *args, check=True, timeout=60, **kw):
        proc = subprocess.run(["chroot", str(self.path), *args], capture_output=True, text=True, timeout=timeout,
                              cwd="/", **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def user(self, name):
        line = self.run("getent", "passwd", name, check=False).stdout.strip()
        return line.split(":") if line else None


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what.split("\n")[0])


def set_key(text, table, key, value):
    """`key = value` in [table] of the generated kurier.toml (each key is written there once)."""
    m = re.search(rf"(?ms)^\[{re.escape(table)}\]\n.*?^{re.escape(key)} = [^\n]*$", text)
    check(m is not None, f"[{table}] {key} is in kurier.toml")
    start = m.group(0).rfind(f"\n{key} = ") + 1
    return text[:m.start() + start] + f"{key} = {value}" + text[m.end():]


def mode(path):
    st = os.lstat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def check_installed(root, dpkg_out):
    user = root.user("kurier")
    check(user is not None, "the kurier user exists")
    uid, gid = int(user[2]), int(user[3])
    check(uid < 1000 and user[5] == DATA and user[6] in ("/usr/sbin/nologin", "/sbin/nologin"),
          f"kurier is a system user without a login, home {DATA}: {user}")
    group = root.run("getent", "group", "kurier").stdout.split(":")
    check(int(group[2]) == gid, "the kurier group is its primary group")
    check(os.access(root.p("/usr/bin/kurier"), os.X_OK), "/usr/bin/kurier is installed")
    check(mode(root.p(CONF)) == (0o640, 0, gid), f"{CONF} is root:kurier 0640: {mode(root.p(CONF))}")
    conffiles = root.run("dpkg-query", "-W", "-f=${Conffiles}", "kurier").stdout
    check(CONF in conffiles, f"{CONF} is a conffile: {conffiles!r}")
    check("root kurier 640 " + CONF in root.run("dpkg-statoverride", "--list").stdout,
          "dpkg-statoverride keeps its owner and mode across upgrades")
    check(mode(root.p(DATA)) == (0o700, uid, gid), f"{DATA} is kurier's, 0700: {mode(root.p(DATA))}")
    for name in ("kurier.db", "spool/spool.db", "tls/cert.pem", "tls/key.pem"):
        m = mode(root.p(f"{DATA}/{name}"))
        check(m[1] == uid and m[0] & 0o077 == 0, f"{DATA}/{name} was made by init as kurier, private: {m}")
    check(mode(root.p(CREDS))[:2] == (0o600, 0), f"{CREDS} is root's only")
    creds = root.p(CREDS).read_text()
    check("SMTP password" in creds and "API key" in creds, f"{CREDS} holds the credentials:\n{creds}")
    check(CREDS in dpkg_out, f"postinst says where the credentials went:\n{dpkg_out}")
    as_root = root.run("kurier", "queue", "list", "--config", CONF, check=False)
    check(as_root.returncode == 1 and "Run kurier as that user: sudo -u kurier kurier" in as_root.stderr,
          f"root is told to run the CLI as kurier (files it made would lock the service out):\n{as_root.stderr}")
    check(root.p("/etc/systemd/system/multi-user.target.wants/kurier.service").is_symlink(),
          "the unit is enabled (deb-systemd-helper)")
    return uid, creds


def check_unit_offline(root):
    """systemd-analyze on the installed unit, when systemd is installed (no systemd needs to run)."""
    if root.run("sh", "-c", "command -v systemd-analyze", check=False).returncode != 0:
        print("note: systemd-analyze is not installed; unit not verified")
        return
    verify = root.run("systemd-analyze", "verify", UNIT, check=False)
    check(verify.returncode == 0 and "kurier.service" not in verify.stderr,
          f"systemd-analyze verify {UNIT}:\n{verify.stdout}{verify.stderr}")
    sec = root.run("systemd-analyze", "security", "--offline=true", UNIT, check=False)
    m = re.search(r"Overall exposure level for kurier.service: (\d+\.\d+)", sec.stdout)
    check(m is not None, f"systemd-analyze security rated the unit:\n{sec.stdout}{sec.stderr}")
    print(f"systemd-analyze security: exposure {m.group(1)} (0 safest, 10 unsafe)")
    check(float(m.group(1)) <= 3.0, f"the sandbox is tight (exposure {m.group(1)} <= 3.0):\n{sec.stdout}")


def start_unit_command(root, log_path):
    """The unit's ExecStart, as systemd would run it: User=, Group=, UMask=, NoNewPrivileges= and the
    ambient capabilities."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string(root.p(UNIT).read_text())
    svc = unit["Service"]
    check(svc["User"] == "kurier" and svc["Group"] == "kurier", "the unit runs as kurier:kurier")
    check(svc["ExecStart"] == f"/usr/bin/kurier serve --config {CONF}", f"ExecStart: {svc['ExecStart']}")
    check(svc["ExecReload"] == "/bin/kill -HUP $MAINPID", "ExecReload sends SIGHUP")
    caps = svc["AmbientCapabilities"].split()
    check(caps == ["CAP_NET_BIND_SERVICE"], f"its one capability binds ports under 1024: {caps}")
    setpriv = ["setpriv", f"--reuid={svc['User']}", f"--regid={svc['Group']}", "--init-groups"]
    if svc.get("NoNewPrivileges") == "yes":
        setpriv.append("--no-new-privs")
    capset = ",".join("+" + c.lower().removeprefix("cap_") for c in caps)
    setpriv += [f"--inh-caps={capset}", f"--ambient-caps={capset}", f"--bounding-set=-all,{capset}"]
    shell = f"umask {svc['UMask']}; exec {svc['ExecStart']}"
    log = open(log_path, "wb")
    return subprocess.Popen(["chroot", str(root.path), *setpriv, "--", "/bin/sh", "-c", shell], cwd="/",
                            stdout=log, stderr=subprocess.STDOUT)


def json_log(log_path):
    """The complete lines of the log, each parsed as JSON (a line still being written is left out)."""
    lines = Path(log_path).read_bytes().split(b"\n")[:-1]
    return [json.loads(line.decode("utf-8")) for line in lines]


def wait_for_log(log_path, message, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(message in r["message"] for r in json_log(log_path)):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no {message!r} in the log:\n{Path(log_path).read_text()}")


def serve_and_send(root, uid, creds):
    conf = root.p(CONF)
    text = conf.read_text()
    check(re.search(r'^data_dir = "/var/lib/kurier"$', text, re.M), "kurier.toml keeps the data in /var/lib/kurier")
    check(re.search(r'^listen = "127.0.0.1:587"$', text, re.M), "submission listens on 587 of loopback by default")
    text = set_key(text, "api", "listen", f'"127.0.0.1:{API_PORT}"')
    text = set_key(text, "log", "format", '"json"')
    text = set_key(text, "delivery", "enabled", "false")  # no network here: the message stays queued
    conf.write_text(text)  # as the administrator edits it (mode and owner kept)
    log_path = root.layer / "serve.log"
    proc = start_unit_command(root, log_path)
    try:
        wait_for_log(log_path, "kurier ready", proc)
        password = re.search(r"SMTP password\s+(\S+)", creds).group(1)
        swaks = root.run("swaks", "--server", "127.0.0.1:587", "--tls", "--auth", "PLAIN", "--auth-user", "default",
                         "--auth-password", password, "--from", "app@example.com", "--to", "someone@example.net",
                         "--header", "Subject: installed as a service", check=False, timeout=30)
        check(swaks.returncode == 0 and "queued as" in swaks.stdout,
              f"swaks sent through the installed service on 587:\n{swaks.stdout}\n{swaks.stderr}")
        msg_id = re.search(r"queued as (\S+)", swaks.stdout).group(1)
        # The CLI as the README says to run it: as kurier. The event reaches the log a moment after the 250.
        deadline = time.time() + 10
        while True:
            events = root.run("runuser", "-u", "kurier", "--", "kurier", "events", "list", "--type", "accepted",
                              "--json", "--config", CONF)
            if msg_id in events.stdout or time.time() > deadline:
                break
            time.sleep(0.2)
        check(msg_id in events.stdout, f"the accepted event of {msg_id} is in the event log:\n{events.stdout}")
        queue = root.run("runuser", "-u", "kurier", "--", "kurier", "queue", "list", "--config", CONF)
        check(msg_id in queue.stdout, f"{msg_id} is queued (delivery is off here):\n{queue.stdout}")
        proc.send_signal(signal.SIGHUP)  # what ExecReload does
        wait_for_log(log_path, "tls: SIGHUP: loaded /var/lib/kurier/tls/cert.pem", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    check(proc.returncode == 0, f"serve stopped cleanly on SIGTERM (exit {proc.returncode})")
    records = json_log(log_path)  # every line is one JSON object
    check(all(set(r) >= {"time", "level", "message"} for r in records), "every log line has time, level, message")
    check(records[-1]["message"] == "stopped", "the log ends with 'stopped'")
    # Nothing to complain about, the root:kurier 0640 configuration included (only delivery being off).
    complaints = [r for r in records if r["level"] not in ("info", "debug") and "delivery.enabled" not in r["message"]]
    check(not complaints, f"no warnings or errors in the log: {complaints}")
    for f in root.p(DATA).rglob("*"):
        check(f.lstat().st_uid == uid, f"{f} belongs to kurier")
        check(f.is_symlink() or f.lstat().st_mode & 0o077 == 0, f"{f} is private (UMask=0077)")


def upgrade_keeps_the_edited_config(root, deb_in_root):
    """dpkg -i over the installed package (the upgrade path: postinst configure with the old version)."""
    conf_before = root.p(CONF).read_text()
    gid = int(root.user("kurier")[3])
    upgraded = root.run("dpkg", "-i", deb_in_root)
    check("keeping the existing data" in upgraded.stdout, f"an upgrade keeps the data:\n{upgraded.stdout}")
    check(root.p(CONF).read_text() == conf_before, "an upgrade keeps the edited kurier.toml")
    check(mode(root.p(CONF)) == (0o640, 0, gid), f"and its owner and mode: {mode(root.p(CONF))}")


def remove_reinstall_purge(root, deb_in_root):
    db = root.p(f"{DATA}/kurier.db")
    before = (db.stat().st_ino, db.stat().st_mtime_ns, root.p(CREDS).read_text())
    root.run("dpkg", "-r", "kurier")
    check(not root.p("/usr/bin/kurier").exists(), "dpkg -r removes the binary")
    check(root.p(CONF).exists() and root.p(f"{DATA}/kurier.db").exists(),
          "dpkg -r keeps the configuration and the data")
    check(root.user("kurier") is not None, "dpkg -r keeps the user")
    again = root.run("dpkg", "-i", deb_in_root)
    check("keeping the existing data" in again.stdout, f"a reinstall keeps the data:\n{again.stdout}")
    check((db.stat().st_ino, db.stat().st_mtime_ns, root.p(CREDS).read_text()) == before,
          "a reinstall does not run init again (database and credentials unchanged)")
    root.run("dpkg", "-P", "kurier")
    for path in (CONF, CREDS, DATA, "/etc/kurier", "/usr/bin/kurier", UNIT):
        check(not root.p(path).exists(), f"dpkg -P removes {path}")
    check(CONF not in root.run("dpkg-statoverride", "--list").stdout, "the statoverride is gone")
    check(root.user("kurier") is not None, "the system user stays after purge (Debian's practice)")


def inside(tmp, deb):
    root = Root(tmp)
    if root.user("kurier") or root.p(CONF).exists() or root.p(DATA).exists():
        print("this machine already has a kurier user or install; the clean-root test needs one without")
        sys.exit(77)
    deb_in_root = "/root/" + Path(deb).name
    shutil.copy(deb, root.p(deb_in_root))
    try:
        installed = root.run("dpkg", "-i", deb_in_root)
        print(installed.stdout)
        uid, creds = check_installed(root, installed.stdout)
        check_unit_offline(root)
        serve_and_send(root, uid, creds)
        upgrade_keeps_the_edited_config(root, deb_in_root)
        remove_reinstall_purge(root, deb_in_root)
    except BaseException:
        log = root.layer / "serve.log"
        if log.exists():
            print(f"--- the service's log:\n{log.read_text(errors='replace')}")
        raise
    print("ALL CHECKS PASSED")


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--inside":
    inside(sys.argv[2], sys.argv[3])
