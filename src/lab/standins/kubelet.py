#!/usr/bin/python3
"""breakglass lab stand-in for the kubelet. NOT the kubelet.

It does the one thing of the kubelet's that matters to breakglass: it holds a long-lived watch
on the API server, the load that an incident's firewall block and node quiescing must shed.

Command line (the kubelet's documented flags; others are accepted and ignored):
    kubelet --kubeconfig=/etc/kubernetes/kubelet.conf [--config=FILE] [--hostname-override=NAME] ...
From the kubeconfig it reads `server:` and `certificate-authority:` (and `tls-server-name:`).
From the KubeletConfiguration file (--config; missing: defaults) it reads `syncFrequency:` (a
duration: 500ms, 10s, 1m; default 1s here, the real kubelet's is 1m), the period of the
DaemonSet loop below. The lab lengthens it for big labs, so that a thousand kubelets do not
spend the machine's two cores listing DaemonSets.

It connects over TLS (verifying the cluster CA), sends
    GET /api/v1/watch/pods?fieldSelector=spec.nodeName%3D<node>&watch=true
and reads the streamed events. Like the real kubelet's HTTP/2 health checks it gives the
connection up when nothing arrives for 5 seconds, then reconnects every second.
It records its state in /run/breakglass-lab/kubelet.watch:
    connected <server> <unix time of the last event>
    disconnected <server> <unix time> <reason>

It also plays the DaemonSet controller and the kubelet for DaemonSet pods on its own node, the
behaviour that makes killing pods on the nodes alone not hold
(https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/):
  - every syncFrequency it lists DaemonSets (GET /apis/apps/v1/daemonsets?limit=500, over one
    kept-alive connection as the real kubelet keeps one to its API server); one whose pod
    template's nodeSelector matches this node's labels is wanted here. The labels are the
    node's (/etc/kubernetes/node-labels, one key=value a line: the lab's --node-labels). On the
    first answer it registers its Node object (POST /api/v1/nodes, labels and InternalIP).
  - a wanted DaemonSet whose pod is missing or stopped in the runtime (crictl stopp/rmp) gets
    a new sandbox for that pod after RESTART_DELAY, as the kubelet restarts a pod's sandbox;
    only while containerd runs.
  - a pod of a DaemonSet the API no longer returns, or that no longer selects this node (paused
    with a nodeSelector no node has), is stopped and removed.
  - when the API cannot be reached (a firewall block, saturation, 429) it keeps acting on the
    last answer it had, as a kubelet keeps running its pods: only the API tells it to stop.
A DaemonSet's pods here are the runtime's pods in its namespace named "<name>-..." and carrying
its pod template's labels. The state of this loop is /run/breakglass-lab/kubelet.daemonsets.
"""
import fcntl
import http.client
import json
import os
import re
import secrets
import socket
import ssl
import sys
import threading
import time

STATE = "/run/breakglass-lab/kubelet.watch"
IDLE_TIMEOUT = 5.0
DS_STATE = "/run/breakglass-lab/kubelet.daemonsets"
PODS = "/run/breakglass-lab/pods.json"
PODS_LOCK = "/run/breakglass-lab/pods.lock"
NODE_LABELS = "/etc/kubernetes/node-labels"
RESYNC = 1.0
RESTART_DELAY = 2.0
REQUEST_TIMEOUT = 3.0
K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def flag(args, name, default=None):
    for i, arg in enumerate(args):
        if arg == "--" + name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--" + name + "="):
            return arg.split("=", 1)[1]
    return default


def duration(text):
    """Seconds in a Go duration of one unit (500ms, 10s, 1m, 1h); None when it is not one."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text.strip().strip("'\""))
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def sync_frequency(path):
    """KubeletConfiguration's syncFrequency from path, in seconds (RESYNC when unset)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return RESYNC
    m = re.search(r"^syncFrequency:\s*(\S+)", text, re.M)
    if not m:
        return RESYNC
    seconds = duration(m.group(1))
    if seconds is None or seconds <= 0:
        log("%s: syncFrequency %r is not a duration; using %ss" % (path, m.group(1), RESYNC))
        return RESYNC
    return seconds


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


class Api:
    """HTTPS requests to the API server over one kept-alive connection, verifying the cluster
    CA under server_name, as the real kubelet sends its requests over one long-lived
    connection. A request that fails closes the connection; the next one opens a new one."""

    def __init__(self, host, port, ca, server_name):
        self.host, self.port, self.server_name = host, port, server_name
        self.ctx = ssl.create_default_context(cafile=ca)
        self.conn = None

    def request(self, method, path, body=None):
        """(status, parsed JSON). A kept connection the server closed while it was idle (the
        API server restarted, or timed it out) is replaced once before any answer was read."""
        headers = {"Accept": "application/json", "User-Agent": "kubelet/v1.30.4 breakglass-lab-standin"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        while True:
            reused = self.conn is not None
            if not reused:
                raw = socket.create_connection((self.host, self.port), timeout=REQUEST_TIMEOUT)
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
                self.conn.sock = self.ctx.wrap_socket(raw, server_hostname=self.server_name)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if not reused:
                    raise
            except BaseException:
                self.close()
                raise
        if resp.will_close:
            self.close()
        try:
            return resp.status, json.loads(text or b"null")
        except ValueError:
            return resp.status, None

    def local_address(self):
        """This node's address as the API server sees it (a connection's source)."""
        sock = socket.create_connection((self.host, self.port), timeout=REQUEST_TIMEOUT)
        try:
            return sock.getsockname()[0]
        finally:
            sock.close()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def node_labels():
    labels = {}
    try:
        with open(NODE_LABELS) as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep:
                    labels[key] = value
    except OSError:
        pass
    return labels


def runtime_up():
    try:
        with open("/run/breakglass-lab/containerd.pid") as f:
            pid = f.read().strip()
        with open("/proc/%s/comm" % pid) as f:
            return f.read().strip() == "containerd"
    except OSError:
        return False


def wanted_daemonsets(items, labels):
    """(namespace, name) -> template labels of the DaemonSets that select this node."""
    wanted = {}
    for ds in items:
        meta = ds.get("metadata", {})
        template = ds.get("spec", {}).get("template", {})
        selector = template.get("spec", {}).get("nodeSelector") or {}
        if meta.get("deletionTimestamp"):
            continue
        if all(labels.get(k) == v for k, v in selector.items()):
            key = "%s/%s" % (meta.get("namespace", ""), meta.get("name", ""))
            wanted[key] = template.get("metadata", {}).get("labels") or {}
    return wanted


def owned_by(pod, key, template_labels):
    namespace, name = key.split("/", 1)
    meta = pod.get("metadata", {})
    if meta.get("namespace") != namespace or not meta.get("name", "").startswith(name + "-"):
        return False
    labels = pod.get("labels") or {}
    return all(labels.get(k) == v for k, v in template_labels.items())


def new_sandbox(key, template_labels, name=None, attempt=0):
    namespace, ds = key.split("/", 1)
    if name is None:
        name = ds + "-" + "".join(secrets.choice(K8S_ALPHABET) for _ in range(5))
    uid = "-".join(secrets.token_hex(n) for n in (4, 2, 2, 2, 6))
    labels = dict(template_labels)
    labels.setdefault("pod-template-generation", "1")
    return {
        "id": secrets.token_hex(32),
        "metadata": {"name": name, "uid": uid, "namespace": namespace, "attempt": attempt},
        "state": "SANDBOX_READY",
        "createdAt": str(time.time_ns()),
        "labels": labels,
        "annotations": {},
        "runtimeHandler": "",
    }


class DaemonSets:
    """What this node's DaemonSets should run, and the runtime made to match it."""

    def __init__(self, node):
        self.node = node
        self.wanted = None          # None until the API has answered once
        self.known = set()          # every DaemonSet the API has listed (any node)
        self.missing_since = {}     # key -> when its pod was first seen missing
        self.registered = False

    def refresh(self, api, labels):
        status, body = api.request("GET", "/apis/apps/v1/daemonsets?limit=500")
        if status != 200 or not isinstance(body, dict):
            raise ConnectionError("listing DaemonSets: HTTP %s" % status)
        items = body.get("items") or []
        self.wanted = wanted_daemonsets(items, labels)
        self.known |= {"%s/%s" % (d.get("metadata", {}).get("namespace", ""),
                                  d.get("metadata", {}).get("name", "")) for d in items}
        if not self.registered:
            self.register(api, labels)

    def register(self, api, labels):
        address = api.local_address()
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node, "labels": labels},
            "status": {"addresses": [{"type": "InternalIP", "address": address},
                                     {"type": "Hostname", "address": self.node}]},
        }
        status, _ = api.request("POST", "/api/v1/nodes", node)
        self.registered = status in (201, 409)

    def reconcile(self):
        if self.wanted is None:
            return []
        changes = []
        lock = open(PODS_LOCK, "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(PODS) as f:
                    items = json.load(f).get("items", [])
            except FileNotFoundError:
                items = []
            keep = []
            for pod in items:
                owner = self.owner(pod)
                if owner is False:
                    meta = pod["metadata"]
                    changes.append("removed %s/%s (its DaemonSet is gone or no longer selects this node)"
                                   % (meta["namespace"], meta["name"]))
                    continue
                keep.append(pod)
            now = time.monotonic()
            for key, template_labels in self.wanted.items():
                mine = [p for p in keep if owned_by(p, key, template_labels)]
                if any(p.get("state") == "SANDBOX_READY" for p in mine):
                    self.missing_since.pop(key, None)
                    continue
                since = self.missing_since.setdefault(key, now)
                if now - since < RESTART_DELAY or not runtime_up():
                    continue
                last = mine[-1]["metadata"] if mine else {}
                pod = new_sandbox(key, template_labels, last.get("name"), last.get("attempt", -1) + 1)
                keep.append(pod)
                self.missing_since.pop(key, None)
                changes.append("started %s/%s" % (pod["metadata"]["namespace"], pod["metadata"]["name"]))
            if changes:
                tmp = PODS + ".tmp"
                with open(tmp, "w") as f:
                    json.dump({"items": keep}, f, indent=2)
                os.replace(tmp, PODS)
        finally:
            lock.close()
        return changes

    def owner(self, pod):
        """The wanted DaemonSet owning pod; False when it looks like a DaemonSet pod whose
        DaemonSet is not wanted here any more; None when it is no DaemonSet's."""
        for key, template_labels in self.wanted.items():
            if owned_by(pod, key, template_labels):
                return key
        labels = pod.get("labels") or {}
        if "pod-template-generation" in labels and self.was_wanted(pod):
            return False
        return None

    def was_wanted(self, pod):
        meta = pod.get("metadata", {})
        return any(meta.get("namespace") == k.split("/", 1)[0]
                   and meta.get("name", "").startswith(k.split("/", 1)[1] + "-")
                   for k in self.known)

    def record(self, line):
        tmp = DS_STATE + ".tmp"
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.replace(tmp, DS_STATE)


def follow_daemonsets(host, port, ca, server_name, node, period):
    ds = DaemonSets(node)
    api = Api(host, port, ca, server_name)
    while True:
        labels = node_labels()
        try:
            ds.refresh(api, labels)
            source = "api"
        except (OSError, ssl.SSLError, ConnectionError, http.client.HTTPException) as e:
            source = "cached (%s)" % (str(e) or e.__class__.__name__).replace("\n", " ")
        try:
            for change in ds.reconcile():
                log(change)
            wanted = "none yet" if ds.wanted is None else " ".join(sorted(ds.wanted)) or "-"
            ds.record("%.3f %s wanted: %s" % (time.time(), source, wanted))
        except (OSError, ValueError) as e:
            log("reconciling DaemonSet pods: %s" % e)
        time.sleep(period)


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
    period = sync_frequency(flag(args, "config", ""))
    log("starting for node %s, API server %s, syncFrequency %ss" % (node, server, period))
    threading.Thread(target=follow_daemonsets, args=(host, port, ca, server_name, node, period),
                     daemon=True).start()
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
