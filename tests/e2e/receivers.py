"""Scripted receiving MTAs for delivery tests (aiosmtpd), each on its own 127.0.0.x address and the
one port kurier delivers to (delivery.port)."""

import asyncio
import contextlib
import socket
import struct
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


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

    def wait_for(self, marker, timeout=30):
        """The last received (mail_from, rcpts, content) whose content holds `marker`."""
        needle = marker.encode() if isinstance(marker, str) else marker
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                got = [m for m in self.received if needle in m[2]]
            if got:
                return got[-1]
            time.sleep(0.05)
        raise AssertionError(f"no message containing {marker!r} arrived within {timeout} s")

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


# --------------------------------------------------------------------------
# receivers that misbehave on purpose (added for the test_delivery_*.py scenarios)
# --------------------------------------------------------------------------

class _FactoryController(Controller):
    """A Controller whose protocol class is chosen by the caller."""

    def __init__(self, handler, smtp_class, **kwargs):
        self.smtp_class = smtp_class
        super().__init__(handler, **kwargs)

    def factory(self):
        return self.smtp_class(self.handler, **self.SMTP_kwargs)


class CustomReceiver(Receiver):
    """Like Receiver, with a protocol class of one's own (smtp_class) and extra aiosmtpd.SMTP
    arguments (e.g. tls_context=..., require_starttls=False)."""

    def __init__(self, address, port, handler, smtp_class=SMTP, **smtp_kwargs):
        self.handler = handler
        self.controller = _FactoryController(handler, smtp_class, hostname=address, port=port,
                                             ready_timeout=10, decode_data=False,
                                             server_hostname=f"rx-{address}", **smtp_kwargs)
        self.controller.start()


class DropDuringData(SMTP):
    """Hangs up in the middle of DATA when its handler says so.

    The handler's drop_plan() returns None (go on normally) or (nbytes, how): after the 354 reply,
    read exactly nbytes of the message, then close the connection ("fin": orderly close, "rst":
    abort, i.e. a TCP reset). The handler's dropped list gets the bytes read before each hang-up."""

    async def smtp_DATA(self, arg):
        plan = self.event_handler.drop_plan() if self.envelope.rcpt_tos and not arg else None
        if plan is None:
            return await super().smtp_DATA(arg)
        nbytes, how = plan
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        got = await self._reader.readexactly(nbytes)
        self.event_handler.dropped.append(got)
        # What was read past nbytes must not be taken for commands before the connection is gone.
        self._reader._buffer.clear()
        if how == "rst":
            # SO_LINGER 0: close() sends a TCP reset even when nothing unread is left in the kernel.
            sock = self.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
        else:
            self.transport.close()
        await asyncio.sleep(5)  # connection_lost() cancels this handler well before that


class DroppingRecorder(Recorder):
    """A Recorder for DropDuringData: the first len(plans) DATA commands hang up as planned."""

    def __init__(self, plans, **kw):
        super().__init__(**kw)
        self.plans = list(plans)
        self.dropped = []

    def drop_plan(self):
        with self.lock:
            return self.plans.pop(0) if self.plans else None


class SlowRecorder(Recorder):
    """A Recorder that waits delays[i] seconds before answering the i-th end of data (then 0).
    A wait cut short because the client went away is counted in `abandoned`, and the message is
    then not recorded as received."""

    def __init__(self, delays, **kw):
        super().__init__(**kw)
        self.delays = list(delays)
        self.abandoned = 0
        self.reply_delays = []  # the delay each answered end of data waited

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            delay = self.delays.pop(0) if self.delays else 0
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            with self.lock:
                self.abandoned += 1
            raise
        with self.lock:
            self.reply_delays.append(delay)
        return await super().handle_DATA(server, session, envelope)


class GateRecorder(Recorder):
    """A Recorder that answers every end of data with `refusal` until open() is called, and
    counts MAIL commands (sessions that got as far as a transaction)."""

    def __init__(self, refusal="451 4.3.0 not now, try again later", **kw):
        super().__init__(**kw)
        self.refusal = refusal
        self.is_open = False
        self.refused = 0
        self.mails = 0

    def open(self):
        with self.lock:
            self.is_open = True

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.mails += 1
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if not self.is_open:
                self.attempts += 1
                self.refused += 1
                return self.refusal
        return await super().handle_DATA(server, session, envelope)


# --------------------------------------------------------------------------
# the kurier side of a delivery test
# --------------------------------------------------------------------------

DELIVERY_EVENT_TYPES = ("delivered", "deferred", "bounced")


def wait_until(predicate, timeout, what, interval=0.1):
    """Polls predicate() until it returns something truthy, which is returned; fails after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def submit_via_relay(k, mail_from, rcpts, message, host="127.0.0.1"):
    """Submits message (bytes) through kurier's relay listener; returns the queue id."""
    import smtplib
    with smtplib.SMTP(host, k.relay_port, timeout=15) as s:
        s.ehlo("client.test")
        s.mail(mail_from)
        for r in rcpts:
            code, resp = s.rcpt(r)
            assert code == 250, (r, code, resp)
        code, resp = s.data(message)
        assert code == 250, (code, resp)
    text = resp.decode("utf-8", "replace")
    return text.rsplit(" ", 1)[-1] if "queued as" in text else None


def delivery_events(k, recipient, types=DELIVERY_EVENT_TYPES):
    """kurier's delivered/deferred/bounced events for one recipient, in the order logged."""
    return [e for e in k.events() if e["type"] in types and e["data"].get("recipient") == recipient]


def wait_delivery_events(k, recipient, until, timeout, types=DELIVERY_EVENT_TYPES):
    """Polls the event log until until(events) is true for the recipient's events; returns them.
    On timeout the assertion shows the events seen so far."""
    deadline = time.monotonic() + timeout
    while True:
        evs = delivery_events(k, recipient, types)
        if until(evs):
            return evs
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for the events of {recipient}; "
                                 f"seen: {evs}")
        time.sleep(0.1)


def final_event(evs):
    """until= predicate: the recipient got a delivered or bounced event."""
    return any(e["type"] in ("delivered", "bounced") for e in evs)


def self_signed_server_context(directory, common_name):
    """A TLS server context with a fresh self-signed certificate for `common_name` (openssl CLI)."""
    import ssl
    import subprocess
    cert, key = f"{directory}/cert.pem", f"{directory}/key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={common_name}",
                    "-days", "1", "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


@contextlib.contextmanager
def mx_world(workdir, domain, address):
    """A local DNS serving `domain` MX -> mx.`domain` A `address`, and a recording receiver there on a
    free port: yields (dns, port, recorder)."""
    from conftest import free_port
    from dns_peer import Unbound
    dns = Unbound(workdir, [f"{domain}. 300 IN MX 10 mx.{domain}.", f"mx.{domain}. 300 IN A {address}"])
    port = free_port()
    rec = Recorder()
    rx = Receiver(address, port, rec)
    try:
        yield dns, port, rec
    finally:
        rx.stop()
        dns.stop()
