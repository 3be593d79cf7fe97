"""Shared fixtures for kurier's end-to-end tests.

Every test talks to a real `kurier serve` process started from a fresh
`kurier init` directory, on free loopback ports, and stops it afterwards.

Environment:
  KURIER_BIN   path of the kurier binary (default: <repo>/build/kurier)
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
KURIER_BIN = os.environ.get("KURIER_BIN", str(REPO / "build" / "kurier"))
HOST = "127.0.0.1"

CLI_TIMEOUT = 60          # seconds for any one kurier CLI call
READY_TIMEOUT = 20        # seconds for `kurier serve` to accept connections
STOP_TIMEOUT = 15         # seconds for SIGTERM to stop the server

QUEUED_RE = re.compile(r"\b250[ -]2\.0\.0 Ok: queued as (\S+)")

_handed_out_ports = set()


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def free_port():
    """A free TCP port on 127.0.0.1, never the same one twice in a run."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in _handed_out_ports:
            _handed_out_ports.add(port)
            return port
    raise RuntimeError("could not find a free port")


def require_tool(name):
    """Fail (not skip) when a client tool the suite needs is not installed:
    scripts/install-deps.sh is supposed to install every one of them."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        pytest.fail(f"required tool {name!r} is not installed (scripts/install-deps.sh installs it)")
    return path


def run(cmd, timeout=CLI_TIMEOUT, check=False, **kw):
    """subprocess.run with a timeout, capturing text output."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    proc = subprocess.run(cmd, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed with exit {proc.returncode}: {cmd}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def run_with_stderr_on_a_terminal(cmd, timeout=60, text=False):
    """Runs `cmd` with its stderr on a pseudo-terminal (what a progress line needs to show), stdout piped
    (str with `text`); returns (CompletedProcess, everything written to the terminal as bytes)."""
    import pty
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(cmd, timeout=timeout, stdout=subprocess.PIPE, stderr=slave, text=text)
        os.close(slave)
        slave = None
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    return proc, shown


def queued_id(text):
    """The queue id from a `250 2.0.0 Ok: queued as ID` reply, or None."""
    m = QUEUED_RE.search(text if isinstance(text, str) else text.decode("utf-8", "replace"))
    return m.group(1) if m else None


def make_message(mail_from, rcpt, subject, body, message_id=None, extra_headers=()):
    """An RFC 5322 message as bytes with CRLF line endings."""
    lines = [f"From: <{mail_from}>", f"To: <{rcpt}>", f"Subject: {subject}",
             "Date: Thu, 01 Jan 2026 00:00:00 +0000"]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    lines.extend(extra_headers)
    lines.append("MIME-Version: 1.0")
    lines.append("Content-Type: text/plain; charset=utf-8")
    text = "\r\n".join(lines) + "\r\n\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n")
    if not text.endswith("\r\n"):
        text += "\r\n"
    return text.encode("utf-8")


def split_received(raw):
    """Split a stored message into (Received header block, rest).

    The Received header must be the first header; it may be folded over
    several lines (continuation lines start with a space or a tab)."""
    assert raw.startswith(b"Received:"), f"stored message does not start with Received: {raw[:200]!r}"
    pos = raw.index(b"\r\n") + 2
    while raw[pos:pos + 1] in (b" ", b"\t"):
        pos = raw.index(b"\r\n", pos) + 2
    return raw[:pos], raw[pos:]


def curl(method, url, body=None, key=None, headers=(), content_type="application/json", timeout=30):
    """Runs curl; returns (status, headers with lower-case names, body text)."""
    cmd = ["curl", "-sS", "-X", method, url, "-D", "-", "--max-time", str(timeout)]
    if key:
        cmd += ["-H", f"Authorization: Bearer {key}"]
    for h in headers:
        cmd += ["-H", h]
    data = None
    if body is not None:
        cmd += ["-H", f"Content-Type: {content_type}", "--data-binary", "@-"]
        data = body.encode() if isinstance(body, str) else body
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout + 5)
    assert proc.returncode == 0, f"curl failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}"
    out = proc.stdout.decode("utf-8", errors="replace")
    # skip interim 100 Continue responses
    while out.startswith("HTTP/1.1 100"):
        out = out.split("\r\n\r\n", 1)[1]
    head, _, text = out.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, text


def plain_ctx():
    """TLS client context that accepts kurier's self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# --------------------------------------------------------------------------
# a raw SMTP client, for the tests that need exact control of the bytes
# --------------------------------------------------------------------------

class RawSMTP:
    """Line-level SMTP client over a plain or TLS socket."""

    def __init__(self, port, host=HOST, implicit_tls=False, timeout=10):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if implicit_tls:
            self.sock = plain_ctx().wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.transcript = []

    # -- reading
    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def read_line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        self.transcript.append(b"S: " + line)
        return line.decode("utf-8", "replace")

    def reply(self):
        """Read one (possibly multi-line) reply: (code, [text lines])."""
        lines = []
        while True:
            line = self.read_line()
            if len(line) < 3 or not line[:3].isdigit():
                raise AssertionError(f"malformed reply line {line!r}")
            lines.append(line)
            if len(line) == 3 or line[3] == " ":
                return int(line[:3]), lines
            if line[3] != "-":
                raise AssertionError(f"malformed reply line {line!r}")

    def pending(self, wait=0.5):
        """Bytes the server sent that no command of ours asked for yet."""
        self.sock.settimeout(wait)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.buf += data
        except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
            pass
        finally:
            self.sock.settimeout(self.timeout)
        return self.buf

    # -- writing
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.transcript.append(b"C: " + data)
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def greeting(self):
        return self.reply()

    def ehlo(self, name="client.test"):
        return self.cmd(f"EHLO {name}")

    def starttls(self):
        code, lines = self.cmd("STARTTLS")
        assert code == 220, f"STARTTLS refused: {lines}"
        assert not self.buf, "unexpected data after the STARTTLS reply"
        self.sock = plain_ctx().wrap_socket(self.sock, server_hostname="localhost")
        return code, lines

    def auth_plain(self, user, password):
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return self.cmd(f"AUTH PLAIN {token}")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# a kurier instance
# --------------------------------------------------------------------------

class Kurier:
    """A kurier data directory made by `kurier init`, and its server process."""

    def __init__(self, base_dir, sets=(), sender_domains=None, relay=True, delivery=False):
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.dir = self.base_dir / "kurier"
        self.submission_port = free_port()
        self.submissions_port = free_port()
        self.relay_port = free_port()
        self.api_port = free_port()
        self.proc = None
        self.stderr_path = self.base_dir / "serve.stderr.log"
        self.stdout_path = self.base_dir / "serve.stdout.log"
        self._logs = []
        self.starts = 0

        cmd = [KURIER_BIN, "init", "--dir", str(self.dir), "--json",
               "--set", f"smtp.submission.listen={HOST}:{self.submission_port}",
               "--set", f"smtp.submissions.listen={HOST}:{self.submissions_port}",
               "--set", f"smtp.relay.listen={HOST}:{self.relay_port}",
               "--set", f"api.listen={HOST}:{self.api_port}"]
        if relay:
            cmd += ["--set", "smtp.relay.enabled=true"]
        # Ingestion tests keep what they submit in the queue; delivery tests turn delivery on and
        # give kurier a DNS server and receivers of their own.
        if not delivery:
            cmd += ["--set", "delivery.enabled=false"]
        for s in sets:
            cmd += ["--set", s]
        for d in (sender_domains or []):
            cmd += ["--sender-domain", d]
        proc = run(cmd, check=True)
        try:
            self.info = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"kurier init --json did not print JSON:\n{proc.stdout}\n{proc.stderr}")
        self.config = self.info["config"]
        # A node joining a PostgreSQL database that has its accounts already gets no credentials of its own.
        self.username = self.info.get("smtp_username")
        self.password = self.info.get("smtp_password")
        self.api_key = self.info.get("api_key")
        self.account = self.info.get("account")
        self.relay_enabled = relay

    # -- process control
    def ports(self):
        ports = [self.submission_port, self.submissions_port, self.api_port]
        if self.relay_enabled:
            ports.append(self.relay_port)
        return ports

    def start(self, timeout=READY_TIMEOUT):
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        self.starts += 1
        err = open(self.stderr_path, "ab")
        out = open(self.stdout_path, "ab")
        err.write(f"\n===== start #{self.starts} =====\n".encode())
        err.flush()
        self.proc = subprocess.Popen([KURIER_BIN, "serve", "--config", self.config],
                                     stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        err.close()
        out.close()
        deadline = time.monotonic() + timeout
        pending = list(self.ports())
        while pending:
            if self.proc.poll() is not None:
                raise AssertionError(f"kurier serve exited with {self.proc.returncode} before it was ready:\n"
                                     + self.stderr())
            if time.monotonic() > deadline:
                raise AssertionError(f"kurier serve did not accept connections on {pending} "
                                     f"within {timeout}s:\n" + self.stderr())
            port = pending[0]
            try:
                with socket.create_connection((HOST, port), timeout=1):
                    pending.pop(0)
            except OSError:
                time.sleep(0.05)
        return self

    def stop(self):
        """SIGTERM, then SIGKILL if it does not stop in time. Returns exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
            raise AssertionError("kurier serve did not stop within %ss of SIGTERM" % STOP_TIMEOUT)

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- CLI
    def cli(self, *args, check=True, timeout=CLI_TIMEOUT, text=True):
        return run([KURIER_BIN, *args, "--config", self.config], check=check,
                   timeout=timeout, text=text)

    def cli_json(self, *args, timeout=CLI_TIMEOUT):
        proc = self.cli(*args, timeout=timeout)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"kurier {' '.join(args)} did not print JSON:\n{proc.stdout}\n{proc.stderr}")

    def queue_list(self):
        return self.cli_json("queue", "list", "--json")

    def queue_ids(self):
        return [m["id"] for m in self.queue_list()]

    def queue_show(self, msg_id):
        return self.cli_json("queue", "show", str(msg_id), "--json")

    def queue_raw(self, msg_id):
        return self.cli("queue", "show", str(msg_id), "--raw", text=False).stdout

    def events(self, type=None):
        args = ["events", "list", "--json", "--order", "asc", "--limit", "0"]  # every event, oldest first
        if type:
            args += ["--type", type]
        return self.cli_json(*args)

    # -- SMTP conveniences
    @property
    def api_url(self):
        return f"http://{HOST}:{self.api_port}"

    def curl(self, method, path, body=None, key=None, headers=(), content_type="application/json", timeout=30):
        """One HTTP request with curl: returns (status, headers dict with lower-case names, body text)."""
        return curl(method, self.api_url + path, body=body, key=self.api_key if key is None else key,
                    headers=headers, content_type=content_type, timeout=timeout)

    def api(self, method, path, body=None, key=None, headers=()):
        """curl with a JSON body (dict) and a JSON answer: (status, parsed body)."""
        status, _, text = self.curl(method, path, None if body is None else json.dumps(body), key=key, headers=headers)
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            raise AssertionError(f"{method} {path} answered {status} with non-JSON: {text[:500]!r}")

    def raw(self, port, implicit_tls=False, timeout=10):
        return RawSMTP(port, implicit_tls=implicit_tls, timeout=timeout)

    def smtp_submission(self, login=True, timeout=20):
        """smtplib client on the submission port after STARTTLS (and AUTH)."""
        import smtplib
        s = smtplib.SMTP(HOST, self.submission_port, local_hostname="client.test", timeout=timeout)
        s.ehlo()
        s.starttls(context=plain_ctx())
        s.ehlo()
        if login:
            s.login(self.username, self.password)
        return s


def _instances_of(item):
    found = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, Kurier):
            found.append(value)
        else:
            found.extend(getattr(value, "kurier_instances", []))
    seen, out = set(), []
    for inst in found:
        if id(inst) not in seen:
            seen.add(id(inst))
            out.append(inst)
    return out


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed test, attach the server's stderr to the report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        for inst in _instances_of(item):
            rep.sections.append((f"kurier serve stderr ({inst.stderr_path})", inst.stderr()[-20000:]))


@pytest.fixture(scope="session", autouse=True)
def _kurier_binary():
    if not os.path.exists(KURIER_BIN):
        pytest.fail(f"kurier binary not found at {KURIER_BIN} (set KURIER_BIN or build it)")


@pytest.fixture
def kurier_factory(tmp_path):
    """Start kurier instances with extra `--set` overrides:

        inst = kurier_factory("auth.max_failures=3")
        inst = kurier_factory(sender_domains=["a.test"], relay=False, start=False)
    """
    made = []

    def make(*sets, sender_domains=None, relay=True, start=True, delivery=False):
        inst = Kurier(tmp_path / f"inst{len(made)}", sets=sets,
                      sender_domains=sender_domains, relay=relay, delivery=delivery)
        made.append(inst)
        if start:
            inst.start()
        return inst

    make.kurier_instances = made
    yield make
    errors = []
    for inst in made:
        try:
            inst.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("; ".join(errors))


@pytest.fixture
def kurier(kurier_factory):
    """A fresh, running kurier with submission, submissions and relay listeners."""
    return kurier_factory()


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server for the session (pg_server.py); each test makes its own database."""
    from pg_server import PostgresServer
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def kurier_module(tmp_path_factory):
    """One running kurier shared by the tests of a module."""
    inst = Kurier(tmp_path_factory.mktemp("kurier-module"))
    inst.start()
    yield inst
    inst.stop()
