"""A receiving MTA in a process of its own, for the tests that deliver thousands of messages (the
three-node cluster test): aiosmtpd on ADDRESS:PORT that accepts everything and writes one line per
accepted message to LOG before it answers 250:

    <CLOCK_MONOTONIC seconds>\t<the client's HELO name>\t<recipients, comma-separated>\t<marker>

where the marker is the first `SUBJECT_RE` match in the message (its Subject). Running apart from the
test's process, it does not compete for the test's interpreter lock with the threads that inject mail,
and CLOCK_MONOTONIC is the machine's, so its times compare with the test's time.monotonic().

    python3 marker_sink.py ADDRESS PORT LOG
"""
import re
import signal
import sys
import threading
import time

from aiosmtpd.controller import Controller

SUBJECT_RE = re.compile(rb"\r\nSubject: ([^\r\n]*)")


class Handler:
    def __init__(self, log):
        self.log = log
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        m = SUBJECT_RE.search(envelope.original_content)
        subject = m.group(1).decode("ascii", "replace") if m else ""
        line = f"{time.monotonic():.6f}\t{session.host_name}\t{','.join(envelope.rcpt_tos)}\t{subject}\n"
        with self.lock:
            self.log.write(line)
            self.log.flush()
        return "250 2.0.0 accepted by the marker sink"


def main():
    address, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(path, "a", encoding="utf-8") as log:
        controller = Controller(Handler(log), hostname=address, port=port, ready_timeout=10, decode_data=False,
                                server_hostname=f"sink-{address}", data_size_limit=10 * 1024 * 1024)
        controller.start()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print("ready", flush=True)
        while not stop.wait(0.5):
            pass
        controller.stop()


if __name__ == "__main__":
    main()
