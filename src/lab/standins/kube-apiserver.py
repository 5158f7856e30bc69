#!/usr/bin/python3
"""breakglass lab stand-in for kube-apiserver. NOT the Kubernetes API server.

It serves the few things breakglass and its tests touch, over HTTPS with the lab CA's
certificate, following the real server's documented flags
(https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/):
    --advertise-address  --bind-address (default 0.0.0.0)  --secure-port (default 6443)
    --tls-cert-file  --tls-private-key-file
    --max-requests-inflight (default 400)  --max-mutating-requests-inflight (default 200)
Other flags are accepted and ignored. Started without arguments (as the lab starts it) it takes
its command line from the static pod manifest /etc/kubernetes/manifests/kube-apiserver.yaml, as
the kubelet would, and it restarts itself (exec, same PID) when that file changes to another
valid manifest, as the kubelet restarts a static pod.

Endpoints:
    GET /readyz /livez /healthz   200 "ok" (with ?verbose, the check list)
    GET /version                  a version object
    any path under /api/v1/watch/ or /apis/.../watch/, or with watch=true or watch=1:
        200, chunked, one JSON watch event (a BOOKMARK) per second until the client goes away
    anything else                 404 as a Status object
Beyond --max-requests-inflight concurrent non-watch reads (or the mutating limit for writes) it
answers 429 with Retry-After: 1, as the real server does with
--enable-priority-and-fairness=false; watches are long-running requests and do not count.

Nagle's algorithm is left on for the watch stream on purpose: once the client's ACKs stop
arriving (a firewall dropping its packets) no further event leaves, so a cut connection goes
quiet at once instead of draining a congestion window of events.
"""
import http.server
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
from urllib.parse import parse_qs, urlparse

MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
DEFAULTS = {
    "bind-address": "0.0.0.0",
    "secure-port": "6443",
    "tls-cert-file": "/etc/kubernetes/pki/apiserver.crt",
    "tls-private-key-file": "/etc/kubernetes/pki/apiserver.key",
    "max-requests-inflight": "400",
    "max-mutating-requests-inflight": "200",
}


def log(msg):
    print(time.strftime("%Y-%m-%dT%H:%M:%S") + " kube-apiserver stand-in: " + msg, flush=True)


def manifest_command(text):
    """The first container's `command` list of a static pod manifest (YAML block list)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)(- )?command:\s*$", line)
        if not m:
            continue
        items = []
        for item in lines[i + 1:]:
            im = re.match(r"^\s*- (.*)$", item)
            if not im:
                break
            value = im.group(1).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            items.append(value)
        return items
    return None


def parse_flags(args):
    flags = dict(DEFAULTS)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            if "=" in arg:
                k, v = arg[2:].split("=", 1)
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                k, v = arg[2:], args[i + 1]
                i += 1
            else:
                k, v = arg[2:], "true"
            flags[k] = v
        i += 1
    return flags


def status(code, reason, message):
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class Limits:
    def __init__(self, reads, writes):
        self.lock = threading.Lock()
        self.limit = {"read": reads, "write": writes}
        self.inflight = {"read": 0, "write": 0}

    def acquire(self, kind):
        with self.lock:
            if self.inflight[kind] >= self.limit[kind]:
                return False
            self.inflight[kind] += 1
            return True

    def release(self, kind):
        with self.lock:
            self.inflight[kind] -= 1


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-breakglass-lab-standin"

    def setup(self):
        # The TLS handshake happens here, on the request's own thread, so a client that
        # connects and never speaks (a TCP probe) cannot stall the accept loop.
        self.request.settimeout(30)
        self.request.do_handshake()
        super().setup()

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, obj, extra=()):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_text(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def is_watch(self, url):
        query = parse_qs(url.query)
        if query.get("watch", [""])[0] in ("true", "1"):
            return True
        return url.path.startswith("/api/v1/watch/") or re.match(r"^/apis/[^/]+/[^/]+/watch/", url.path)

    def watch(self, url):
        resource = ([p for p in url.path.split("/") if p] or ["events"])[-1]
        kind = resource[:-1].capitalize() if resource.endswith("s") else resource.capitalize()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        rv = 1000
        try:
            while True:
                rv += 1
                event = {
                    "type": "BOOKMARK",
                    "object": {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)}},
                }
                data = (json.dumps(event) + "\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(1)
        except (OSError, ssl.SSLError):
            pass
        self.close_connection = True

    def handle_request(self, mutating):
        url = urlparse(self.path)
        if not mutating and self.is_watch(url):
            return self.watch(url)
        kind = "write" if mutating else "read"
        if not self.server.limits.acquire(kind):
            return self.send_json(
                429,
                status(429, "TooManyRequests", "Too many requests, please try again later."),
                [("Retry-After", "1")],
            )
        try:
            self.route(url, mutating)
        finally:
            self.server.limits.release(kind)

    def route(self, url, mutating):
        if not mutating and url.path in ("/readyz", "/livez", "/healthz"):
            if "verbose" in parse_qs(url.query, keep_blank_values=True):
                checks = ["ping", "log", "etcd"]
                text = "".join("[+]%s ok\n" % c for c in checks)
                return self.send_text(200, text + url.path[1:] + " check passed\n")
            return self.send_text(200, "ok")
        if not mutating and url.path == "/version":
            return self.send_json(200, {
                "major": "1", "minor": "30", "gitVersion": "v1.30.4-breakglass-lab-standin",
                "goVersion": "n/a", "compiler": "n/a", "platform": "linux/amd64",
            })
        return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))

    def do_GET(self):
        self.handle_request(False)

    def do_HEAD(self):
        self.handle_request(False)

    def do_POST(self):
        self.handle_request(True)

    def do_PUT(self):
        self.handle_request(True)

    def do_PATCH(self):
        self.handle_request(True)

    def do_DELETE(self):
        self.handle_request(True)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, ctx, limits):
        self.ctx = ctx
        self.limits = limits
        super().__init__(addr, Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        # Probes that connect and hang up, clients cut by a firewall: not worth a traceback.
        pass


def watch_manifest(initial):
    while True:
        time.sleep(1)
        try:
            with open(MANIFEST, "rb") as f:
                now = f.read()
        except OSError:
            continue
        if now == initial:
            continue
        command = manifest_command(now.decode(errors="replace"))
        if not command or os.path.basename(command[0]) != "kube-apiserver":
            log("manifest changed but has no kube-apiserver command; keeping the running flags")
            initial = now
            continue
        log("manifest changed; restarting with its flags (as the kubelet restarts a static pod)")
        os.execv(sys.argv[0], [sys.argv[0]])


def main():
    args = sys.argv[1:]
    manifest = None
    if not args and os.path.exists(MANIFEST):
        with open(MANIFEST, "rb") as f:
            manifest = f.read()
        command = manifest_command(manifest.decode(errors="replace"))
        if command and os.path.basename(command[0]) == "kube-apiserver":
            args = command[1:]
        else:
            log("%s has no kube-apiserver command; using defaults" % MANIFEST)
    flags = parse_flags(args)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(flags["tls-cert-file"], flags["tls-private-key-file"])
    limits = Limits(int(flags["max-requests-inflight"]), int(flags["max-mutating-requests-inflight"]))
    addr = (flags["bind-address"], int(flags["secure-port"]))
    server = None
    for _ in range(50):
        try:
            server = Server(addr, ctx, limits)
            break
        except OSError as e:
            # After a restart the old listener may linger a moment.
            last = e
            time.sleep(0.1)
    if server is None:
        log("cannot listen on %s:%d: %s" % (addr[0], addr[1], last))
        sys.exit(1)
    log(
        "serving on %s:%d (advertise %s) with --max-requests-inflight=%s --max-mutating-requests-inflight=%s"
        % (addr[0], addr[1], flags.get("advertise-address", "-"), flags["max-requests-inflight"],
           flags["max-mutating-requests-inflight"])
    )
    if manifest is not None:
        threading.Thread(target=watch_manifest, args=(manifest,), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
