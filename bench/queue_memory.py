#!/usr/bin/env python3
"""queue_memory.py KURIER - memory per queued recipient (issue 3 goal: <= 300 bytes of RSS per deferred
recipient above the idle process).

Starts a tempfailing relay (answers 451 to every MAIL FROM), starts kurier with it as its only relay
(direct delivery off, first retry an hour away), injects MESSAGES messages of RCPTS recipients each
through the relay listener (pipelined), waits until every message had its first attempt, and reports
(RSS - idle RSS) / recipients."""
import asyncio, json, os, socket, subprocess, sys, tempfile, threading, time

KURIER = sys.argv[1] if len(sys.argv) > 1 else "build/kurier"
MESSAGES = int(os.environ.get("MESSAGES", "1000"))
RCPTS = int(os.environ.get("RCPTS", "1000"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tempfail:
    """SMTP server that defers every transaction at MAIL FROM; counts transactions."""
    def __init__(self, port):
        self.port, self.mails = port, 0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.start_server(self.handle, "127.0.0.1", self.port))
        self.loop.run_forever()

    async def handle(self, r, w):
        w.write(b"220 tempfail.test ESMTP\r\n")
        while True:
            line = await r.readline()
            if not line:
                break
            verb = line[:4].upper()
            if verb == b"EHLO":
                w.write(b"250-tempfail.test\r\n250 PIPELINING\r\n")
            elif verb == b"MAIL":
                self.mails += 1
                w.write(b"451 4.3.0 try again later\r\n")
            elif verb == b"QUIT":
                w.write(b"221 bye\r\n")
                await w.drain()
                break
            elif verb == b"RSET":
                w.write(b"250 ok\r\n")
            else:
                w.write(b"503 5.5.1 no transaction\r\n")
            await w.drain()
        w.close()


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def inject(port, n):
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        f = s.makefile("rb")
        f.readline()
        cmds = [b"EHLO bench.test", b"MAIL FROM:<bench@example.com>"]
        cmds += [b"RCPT TO:<user%d-%d@deferred.test>" % (i, j) for j in range(RCPTS)]
        cmds += [b"DATA"]
        s.sendall(b"\r\n".join(cmds) + b"\r\n")
        # EHLO is multi-line; read until the 354
        while not f.readline().startswith(b"354"):
            pass
        s.sendall(b"Subject: memory bench %d\r\n\r\n" % i + b"x" * 1000 + b"\r\n.\r\nQUIT\r\n")
        while True:
            l = f.readline()
            if not l or l.startswith(b"221"):
                break
        s.close()


def main():
    relay_port, listen_port = free_port(), free_port()
    sink = Tempfail(relay_port)
    d = tempfile.mkdtemp(prefix="kurier-mem.", dir="/var/tmp")
    subprocess.run([KURIER, "init", "--dir", d + "/k", "--json", "--set", "smtp.relay.enabled=true",
                    "--set", f"smtp.relay.listen=127.0.0.1:{listen_port}", "--set", "smtp.submission.enabled=false",
                    "--set", "smtp.submissions.enabled=false", "--set", "delivery.direct=false",
                    "--set", f'delivery.backup_relays=["smtp://127.0.0.1:{relay_port}"]',
                    "--set", "delivery.backup_check_interval=0", "--set", "queue.retry_initial=3600",
                    "--set", "log.level=warn", "--set", f"smtp.limits.max_recipients={RCPTS}"],
                   check=True, capture_output=True)
    p = subprocess.Popen([KURIER, "serve", "--config", d + "/k/kurier.toml"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", listen_port)).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1)
        idle = rss_kib(p.pid)
        t0 = time.time()
        inject(listen_port, MESSAGES)
        deadline = time.time() + 1800
        while sink.mails < MESSAGES and time.time() < deadline:
            time.sleep(0.5)
        time.sleep(3)  # let the last results be recorded
        loaded = rss_kib(p.pid)
        n = MESSAGES * RCPTS
        per = (loaded - idle) * 1024 / n
        print(f"RESULT queue memory: {n} deferred recipients ({MESSAGES} messages x {RCPTS}), idle RSS {idle} KiB, "
              f"loaded RSS {loaded} KiB, {per:.0f} bytes per queued recipient (goal <= 300), "
              f"first attempts done: {sink.mails}/{MESSAGES} in {time.time() - t0:.0f} s")
    finally:
        p.terminate()
        p.wait(30)
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
