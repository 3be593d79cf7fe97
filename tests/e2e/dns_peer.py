"""A local DNS for tests: unbound serving test zones on 127.0.0.1, plus a tiny server that answers
SERVFAIL to everything (unbound forwards one zone to it), so every DNS outcome can be produced, and one
that answers only after seconds of silence (for zones a test forwards to it)."""

import os
import shutil
import socket
import subprocess
import threading
import time

from conftest import free_port


class ServfailServer(threading.Thread):
    """Answers every UDP query with SERVFAIL (`rcode` 2), echoing the question; with `silent_for`, says
    nothing about each question for that many seconds after it first arrives (every retry dropped)."""

    def __init__(self, rcode=2, silent_for=0.0):
        super().__init__(daemon=True)
        self.rcode = rcode
        self.silent_for = silent_for
        self.first_seen = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            if len(data) < 12:
                continue
            first = self.first_seen.setdefault(data[12:].lower(), time.monotonic())
            if time.monotonic() - first < self.silent_for:
                continue
            flags = 0x8000 | ((data[2] & 0x79) << 8) | 0x80 | self.rcode  # QR, opcode, RD copied, RA, rcode
            self.sock.sendto(data[:2] + flags.to_bytes(2, "big") + data[4:6] + b"\0" * 6 + data[12:], addr)

    def stop(self):
        self.stopped.set()
        self.join(2)
        self.sock.close()


def SilentServer(silent_for=1.5):
    """A lookup that takes seconds, as a slow upstream's: each question is answered NXDOMAIN only after
    `silent_for` seconds of silence."""
    return ServfailServer(rcode=3, silent_for=silent_for)


class Unbound:
    """unbound on 127.0.0.1:<free port> with `local_data` lines in a static `test.` zone (and in any
    further static `local_zones`, e.g. a reverse zone for PTR records); `forward_zones` are
    (zone, port) pairs sent to a server of the test's own on 127.0.0.1 (e.g. a SilentServer)."""

    def __init__(self, workdir, local_data, port=None, interface="127.0.0.1", local_zones=(), forward_zones=()):
        self.binary = shutil.which("unbound") or "/usr/sbin/unbound"
        assert os.path.exists(self.binary), "unbound is not installed: run scripts/install-deps.sh"
        self.port = port or free_port()
        self.interface = interface
        self.servfail = ServfailServer()
        self.servfail.start()
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        lines = [
            "server:",
            f"  interface: {interface}",
            f"  port: {self.port}",
            "  do-daemonize: no", '  username: ""', '  chroot: ""', f'  directory: "{workdir}"',
            '  pidfile: ""', "  use-syslog: no", "  verbosity: 0", "  do-not-query-localhost: no",
            "  access-control: 127.0.0.0/8 allow",
            '  local-zone: "test." static',
            '  local-zone: "servfail.test." transparent',
        ]
        lines += [f'  local-zone: "{z}" static' for z in local_zones]
        lines += [f'  local-zone: "{z}" transparent' for z, _ in forward_zones]
        lines += [f"  local-data: '{d}'" for d in local_data]
        lines += ["forward-zone:", '  name: "servfail.test."', f"  forward-addr: 127.0.0.1@{self.servfail.port}"]
        for z, port in forward_zones:
            lines += ["forward-zone:", f'  name: "{z}"', f"  forward-addr: 127.0.0.1@{port}"]
        self.conf = os.path.join(workdir, "unbound.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        check = subprocess.run(["unbound-checkconf", self.conf], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log = open(os.path.join(workdir, "unbound.log"), "w")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                if s.connect_ex((interface, self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise AssertionError("unbound did not start: see " + self.log.name)

    @property
    def forward(self):
        return f"{self.interface}@{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.servfail.stop()
