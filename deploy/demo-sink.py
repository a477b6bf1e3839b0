#!/usr/bin/env python3
"""Demo delivery sink: prints one line per delivery wharf makes to it and answers 200.

usage: demo-sink.py --port N [--host 127.0.0.1] [--secret-file FILE] [--pidfile FILE]

Each line: time, event type, webhook-id, connection and object, and, when
--secret-file names a file holding the subscription's whsec_ secret, whether the
Standard Webhooks signature verifies (read on every request, so the secret can be
written after the sink started: the subscription, and its secret, need the sink's
URL first). Standard library only, so a fresh Debian needs nothing but python3.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 4 << 20  # wharf's deliveries are small; refuse anything absurd


def verify(secret_file, headers, body):
    """'ok', 'BAD', or '' when there is no secret to check with."""
    if not secret_file:
        return ""
    try:
        with open(secret_file, encoding="ascii") as f:
            secret = f.read().strip()
    except OSError:
        return ""
    if not secret.startswith("whsec_"):
        return ""
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id = headers.get("webhook-id", "")
    ts = headers.get("webhook-timestamp", "")
    signed = msg_id.encode() + b"." + ts.encode() + b"." + body
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # several signatures are sent side by side during a secret rotation
    for sig in headers.get("webhook-signature", "").split():
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, want):
            return "ok"
    return "BAD"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wharf's HTTP client expects
    secret_file = None

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        if length < 0 or length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length)
        etype, detail = "?", ""
        try:
            doc = json.loads(body)
            etype = doc.get("type", "?")
            data = doc.get("data") or {}
            parts = []
            for k in ("connectionId", "objectType", "objectId", "action", "status"):
                if data.get(k) is not None:
                    parts.append(f"{k}={data[k]}")
            if data.get("changedFields"):
                parts.append("changed=" + ",".join(map(str, data["changedFields"])))
            detail = " ".join(parts)
        except (ValueError, AttributeError):
            detail = f"(not JSON, {length} bytes)"
        sig = verify(self.secret_file, self.headers, body)
        line = "{}  {:<36} webhook-id={}{}  {}".format(
            time.strftime("%H:%M:%S"),
            etype,
            self.headers.get("webhook-id", "-"),
            f"  signature={sig}" if sig else "",
            detail,
        )
        print(line, flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def do_GET(self):
        # lets the demo script probe readiness without faking a delivery
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        pass  # one line per delivery is printed by do_POST; no access log


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret-file")
    ap.add_argument("--pidfile")
    args = ap.parse_args()
    Handler.secret_file = args.secret_file
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    if args.pidfile:
        with open(args.pidfile, "w", encoding="ascii") as f:
            f.write(f"{os.getpid()}\n")
    print(f"demo sink listening on http://{args.host}:{args.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
