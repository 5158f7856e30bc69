#!/usr/bin/python3
"""breakglass lab stand-in for the kubelet. NOT the kubelet.

It does the one thing of the kubelet's that matters to breakglass: it holds a long-lived watch
on the API server, the load that an incident's firewall block and node quiescing must shed.

Command line (the kubelet's documented flags; others are accepted and ignored):
    kubelet --kubeconfig=/etc/kubernetes/kubelet.conf [--hostname-override=NAME] ...
From the kubeconfig it reads `server:` and `certificate-authority:` (and `tls-server-name:`).

It connects over TLS (verifying the cluster CA), sends
    GET /api/v1/watch/pods?fieldSelector=spec.nodeName%3D<node>&watch=true
and reads the streamed events. Like the real kubelet's HTTP/2 health checks it gives the
connection up when nothing arrives for 5 seconds, then reconnects every second.
It records its state in /run/breakglass-lab/kubelet.watch:
    connected <server> <unix time of the last event>
    disconnected <server> <unix time> <reason>
"""
import os
import re
import socket
import ssl
import sys
import time

STATE = "/run/breakglass-lab/kubelet.watch"
IDLE_TIMEOUT = 5.0


def flag(args, name, default=None):
    for i, arg in enumerate(args):
        if arg == "--" + name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--" + name + "="):
            return arg.split("=", 1)[1]
    return default


def kubeconfig_field(text, key):
    m = re.search(r"^\s*" + re.escape(key) + r":\s*['\"]?([^'\"\s]+)", text, re.M)
    return m.group(1) if m else None


def record(line):
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        f.write(line + "\n")
    os.replace(tmp, STATE)


def log(msg):
    print(time.strftime("%Y-%m-%dT%H:%M:%S") + " kubelet stand-in: " + msg, flush=True)


def watch_once(host, port, ca, server_name, node, server):
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.create_connection((host, port), timeout=IDLE_TIMEOUT)
    sock = ctx.wrap_socket(raw, server_hostname=server_name)
    try:
        sock.settimeout(IDLE_TIMEOUT)
        path = "/api/v1/watch/pods?fieldSelector=spec.nodeName%3D" + node + "&watch=true"
        request = (
            "GET " + path + " HTTP/1.1\r\nHost: " + server_name + ":" + str(port) + "\r\n"
            "User-Agent: kubelet/v1.30.4 (linux/amd64) breakglass-lab-standin\r\n"
            "Accept: application/json\r\n\r\n"
        )
        sock.sendall(request.encode())
        buf = b""
        headers_done = False
        while True:
            data = sock.recv(4096)
            if not data:
                raise ConnectionError("server closed the watch")
            buf += data
            if not headers_done:
                if b"\r\n\r\n" not in buf:
                    continue
                head, buf = buf.split(b"\r\n\r\n", 1)
                status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                if " 200 " not in status + " ":
                    raise ConnectionError("watch refused: " + status)
                headers_done = True
                log("watch established to " + server)
            if b"\n" in buf:
                buf = buf.rsplit(b"\n", 1)[1]
                record("connected %s %.3f" % (server, time.time()))
    finally:
        sock.close()


def main():
    args = sys.argv[1:]
    kubeconfig = flag(args, "kubeconfig", "/etc/kubernetes/kubelet.conf")
    node = flag(args, "hostname-override") or socket.gethostname()
    with open(kubeconfig) as f:
        text = f.read()
    server = kubeconfig_field(text, "server")
    ca = kubeconfig_field(text, "certificate-authority")
    m = re.match(r"https://\[?([^\]/]+?)\]?:(\d+)", server or "")
    if not m or not ca:
        log("kubeconfig %s has no server or certificate-authority" % kubeconfig)
        sys.exit(1)
    host, port = m.group(1), int(m.group(2))
    server_name = kubeconfig_field(text, "tls-server-name") or host
    log("starting for node %s, API server %s" % (node, server))
    while True:
        try:
            watch_once(host, port, ca, server_name, node, server)
        except (OSError, ssl.SSLError, ConnectionError) as e:
            reason = str(e) or e.__class__.__name__
            record("disconnected %s %.3f %s" % (server, time.time(), reason.replace("\n", " ")))
            log("watch lost: " + reason)
        time.sleep(1)


if __name__ == "__main__":
    main()
