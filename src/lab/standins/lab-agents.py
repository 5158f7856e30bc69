#!/usr/bin/python3
"""breakglass lab: the reference incident's telemetry agent, run as the containers of the
DaemonSet's pods. NOT a container runtime.

Started on every node by node-init.sh; it does nothing unless /etc/kubernetes/lab-agents exists
(the lab writes it for drills). Then, every POLL seconds, it counts this node's ready pods
labelled app=telemetry-agent in the runtime's state (/run/breakglass-lab/pods.json, what crictl
shows) and keeps LOOPS request loops running per such pod: each lists every Node
(GET /api/v1/nodes, unpaged, as the incident's agent listed objects whose number grows with the
cluster) from the node's API server (kubelet.conf's server, CA and TLS name), again and again,
with PAUSE between lists, retrying at once after a 429, as the misbehaving agent did. Killing the
pod (crictl stopp/rmp) stops its loops within POLL; the loops do not depend on the kubelet
(pods keep running when it stops) and stop when the node's API server cannot be reached (a
firewall block) only in the sense that their requests time out.

The file /etc/kubernetes/lab-agents may set LOOPS, PAUSE and POLL (key=value lines; defaults 3,
0.05 and 0.25: POLL is how often, in seconds, it reads the node's pods; the lab lengthens it on
big labs).
Counts go to /run/breakglass-lab/agents.state: `<unix time> <pods> <loops> <ok> <errors>`.
"""
import http.client
import json
import os
import re
import socket
import ssl
import threading
import time

CONFIG = "/etc/kubernetes/lab-agents"
KUBECONFIG = "/etc/kubernetes/kubelet.conf"
PODS = "/run/breakglass-lab/pods.json"
STATE = "/run/breakglass-lab/agents.state"
TIMEOUT = 5.0


def settings():
    conf = {"LOOPS": "3", "PAUSE": "0.05", "POLL": "0.25"}
    try:
        with open(CONFIG) as f:
            for line in f:
                k, sep, v = line.strip().partition("=")
                if sep:
                    conf[k.strip()] = v.strip()
    except OSError:
        return None
    return int(conf["LOOPS"]), float(conf["PAUSE"]), float(conf["POLL"])


def kubeconfig_field(text, key):
    m = re.search(r"^\s*" + re.escape(key) + r":\s*['\"]?([^'\"\s]+)", text, re.M)
    return m.group(1) if m else None


def agent_pods():
    try:
        with open(PODS) as f:
            items = json.load(f).get("items", [])
    except (OSError, ValueError):
        return 0
    return sum(1 for p in items
               if p.get("state") == "SANDBOX_READY" and (p.get("labels") or {}).get("app") == "telemetry-agent")


class Agents:
    def __init__(self, host, port, ca, server_name, pause):
        self.host, self.port, self.ca, self.server_name, self.pause = host, port, ca, server_name, pause
        self.lock = threading.Lock()
        self.wanted = 0
        self.running = 0
        self.ok = 0
        self.errors = 0

    def list_nodes(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        raw = socket.create_connection((self.host, self.port), timeout=TIMEOUT)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        conn.sock = ctx.wrap_socket(raw, server_hostname=self.server_name)
        try:
            conn.request("GET", "/api/v1/nodes", headers={"Accept": "application/json",
                                                           "User-Agent": "telemetry-agent/1.4.2"})
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def loop(self, index):
        while True:
            with self.lock:
                if index >= self.wanted:
                    self.running -= 1
                    return
            try:
                code = self.list_nodes()
                with self.lock:
                    if code == 200:
                        self.ok += 1
                    else:
                        self.errors += 1
                time.sleep(self.pause)
            except (OSError, ssl.SSLError, http.client.HTTPException):
                with self.lock:
                    self.errors += 1
                time.sleep(1.0)

    def set_wanted(self, n):
        with self.lock:
            self.wanted = n
            start = range(self.running, n)
            self.running = max(self.running, n)
        for i in start:
            threading.Thread(target=self.loop, args=(i,), daemon=True).start()


def main():
    conf = settings()
    if conf is None:
        return
    loops, pause, poll = conf
    with open(KUBECONFIG) as f:
        text = f.read()
    m = re.match(r"https://\[?([^\]/]+?)\]?:(\d+)", kubeconfig_field(text, "server") or "")
    ca = kubeconfig_field(text, "certificate-authority")
    if not m or not ca:
        return
    host, port = m.group(1), int(m.group(2))
    agents = Agents(host, port, ca, kubeconfig_field(text, "tls-server-name") or host, pause)
    while True:
        pods = agent_pods()
        agents.set_wanted(pods * loops)
        with agents.lock:
            line = "%.3f %d %d %d %d\n" % (time.time(), pods, agents.wanted, agents.ok, agents.errors)
        try:
            with open(STATE + ".tmp", "w") as f:
                f.write(line)
            os.replace(STATE + ".tmp", STATE)
        except OSError:
            pass
        time.sleep(poll)


if __name__ == "__main__":
    main()
