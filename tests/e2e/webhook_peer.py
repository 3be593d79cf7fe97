"""A webhook receiver for tests: an HTTPS (or plain HTTP) server on 127.0.0.1 whose certificate is
signed by a throw-away local CA (openssl CLI), answering by script and recording every request.
Also the receiver-side Standard Webhooks check, written independently of kurier with Python's hmac."""

import base64
import hashlib
import hmac
import http.server
import json
import ssl
import subprocess
import threading
import time
from pathlib import Path


def make_ca(directory, host_ip="127.0.0.1"):
    """A CA (ca.pem) and a server certificate for `host_ip` and localhost signed by it: returns
    (ca_path, cert_path, key_path)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca_pem = d / "ca.key", d / "ca.pem"
    key, csr, cert, ext = d / "server.key", d / "server.csr", d / "server.pem", d / "server.ext"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kurier test CA", "-days", "2",
        "-keyout", str(ca_key), "-out", str(ca_pem), "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr))
    ext.write_text(f"subjectAltName=IP:{host_ip},DNS:localhost\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "2", "-out", str(cert), "-extfile", str(ext))
    return str(ca_pem), str(cert), str(key)


class WebhookReceiver:
    """Records POSTs: each as {"path", "headers" (lower-case names), "body" (bytes), "time"}.

    statuses: answers for the first requests, in order; afterwards `default_status`."""

    def __init__(self, cert=None, key=None, statuses=(), default_status=200, host="127.0.0.1"):
        self.requests = []
        self.statuses = list(statuses)
        self.default_status = default_status
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append({"path": self.path, "body": body, "time": time.time(),
                                           "headers": {k.lower(): v for k, v in self.headers.items()}})
                    status = outer.statuses.pop(0) if outer.statuses else outer.default_status
                reply = b'{"ok":true}' if status < 300 else b'{"error":"scripted failure"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.scheme = "http"
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def wait_for(self, predicate, timeout=15, what="a webhook request"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                hits = [r for r in self.requests if predicate(r)]
            if hits:
                return hits
            time.sleep(0.05)
        with self.lock:
            seen = [(r["headers"].get("webhook-id"), r["body"][:200]) for r in self.requests]
        raise AssertionError(f"no {what} within {timeout} s; received: {seen}")

    def events(self):
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def verify(secret, headers, body, tolerance=300):
    """The receiver's Standard Webhooks check: true when one v1 signature of the header matches."""
    key = base64.b64decode(secret.split("_", 1)[1] if secret.startswith("whsec_") else secret)
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > tolerance:
        return False
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    for entry in headers["webhook-signature"].split(" "):
        version, _, sig = entry.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False
