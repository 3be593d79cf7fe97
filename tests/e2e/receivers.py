"""Scripted receiving MTAs for delivery tests (aiosmtpd), each on its own 127.0.0.x address and the
one port kurier delivers to (delivery.port)."""

import threading
import time

from aiosmtpd.controller import Controller


class Recorder:
    """An aiosmtpd handler that records what it accepts and can refuse by script.

    rcpt_replies: {address: reply} refuses those recipients at RCPT.
    data_replies: replies to use for the first DATA transactions, in order; then 250.
    """

    def __init__(self, rcpt_replies=None, data_replies=None):
        self.rcpt_replies = dict(rcpt_replies or {})
        self.data_replies = list(data_replies or [])
        self.received = []  # (mail_from, [rcpts], content bytes)
        self.attempts = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.attempts += 1
            if self.data_replies:
                return self.data_replies.pop(0)
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 accepted by test receiver"

    def wait(self, count, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"receiver got {len(self.received)} message(s), expected {count}")


class Receiver:
    def __init__(self, address, port, handler):
        self.handler = handler
        self.controller = Controller(handler, hostname=address, port=port, ready_timeout=10,
                                     decode_data=False, server_hostname=f"rx-{address}")
        self.controller.start()

    def stop(self):
        self.controller.stop()
