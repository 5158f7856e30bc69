#!/usr/bin/python3
"""breakglass lab stand-in for kube-apiserver. NOT the Kubernetes API server.

It serves what breakglass and its tests touch, over HTTPS, and keeps its objects in a real etcd
the way a kube-apiserver run with --storage-media-type=application/json does. It follows the
real server's documented flags
(https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/):
    --advertise-address  --bind-address (default 0.0.0.0)  --secure-port (default 6443)
    --tls-cert-file  --tls-private-key-file
    --max-requests-inflight (default 400)  --max-mutating-requests-inflight (default 200)
    --etcd-servers (comma-separated https URLs)  --etcd-cafile  --etcd-certfile  --etcd-keyfile
    --request-timeout (default 1m0s; with the load model a request running past it answers 504)
    --storage-media-type (only application/json is written)
    --token-auth-file (CSV token,user,uid[,"group1,group2"])  --client-ca-file
Other flags are accepted and ignored. Started without arguments (as the lab starts it) it takes
its command line from the static pod manifest /etc/kubernetes/manifests/kube-apiserver.yaml, as
the kubelet would, and it restarts itself (exec, same PID) when that file changes to another
valid manifest, as the kubelet restarts a static pod.

The lab's own flags, which a real server does not have (test hooks, named --lab-*):
    --lab-throttle-file PATH  while PATH exists, every request but the health endpoints gets 429
                              TooManyRequests with Retry-After: <the file's content, default 1>
    --lab-stats-file PATH     per path: requests received and 429s answered, and over the last
                              second: latency p50/p99, errors, 429s, in flight; as JSON, rewritten
                              every 200 ms
  The load model (off unless --lab-list-cost is given; the drills' overload; with it, requests
from kubelets (User-Agent kubelet/...) skip the in-flight limit and its queue, as API Priority
and Fairness's `system-nodes` FlowSchema keeps node traffic out of the workload's queues):
    --lab-list-cost MS        each object a LIST returns costs MS ms of work, so a LIST's cost
                              grows with the cluster, as the reference incident's did
    --lab-cpus N              (default 2) requests whose work proceeds at full speed together:
                              with more in flight, each request's work stretches in proportion
                              (processor sharing, reckoned again every 100 ms)
    --lab-queue-wait S        (default 1) beyond --max-requests-inflight a request waits up to S
                              seconds for a slot, then gets 429 with Retry-After: 1
    --lab-ready-stretch N     (default 4) /readyz and /livez answer 500 while saturated, truthfully:
                              the last two seconds saw a 429 or a request queued for a slot, or
                              the CPU is oversubscribed N times or more (health requests skip the
                              in-flight limit, as the real server's exempt probes do, but share
                              the CPU). A slow LIST alone (a big cluster) is not saturation.

Endpoints:
    GET /readyz /livez /healthz   200 "ok" (with ?verbose, the check list); always open, as with
                                  the real server's anonymous health access. They do not check
                                  etcd: the lab's network-level tests run without one.
    GET /version                  a version object; always open
    watches (a path under /api/v1/watch/ or /apis/G/V/watch/, or watch=true|1):
        200, chunked, one BOOKMARK watch event per second until the client goes away
    objects, stored in etcd under /registry/ (https://kubernetes.io/docs/reference/kubernetes-api/):
        apps/v1    daemonsets deployments statefulsets   (/registry/<resource>/<ns>/<name>)
        batch/v1   jobs cronjobs                         (/registry/<resource>/<ns>/<name>)
        v1         pods (namespaced), nodes (cluster-scoped, /registry/minions/<name>)
      GET one, LIST (in a namespace or across all) with limit/continue, labelSelector and
      fieldSelector; POST; PUT; PATCH (application/merge-patch+json only); DELETE with
      DeleteOptions; the scale subresource of deployments and statefulsets.
    anything else                 404 as a Status object
Errors are Status objects (https://kubernetes.io/docs/reference/using-api/api-concepts/ and
https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/).

Storage follows kube-apiserver: the value is the object's JSON without metadata.resourceVersion;
an object's resourceVersion is its key's etcd mod_revision, a list's is the etcd revision it was
read at. etcd is reached through its v3 JSON gateway (POST /v3/kv/range, /v3/kv/txn) over HTTPS
with the client certificate; every write is a transaction guarded by the revision it was computed
from. Values in protobuf form (b"k8s\\0" + runtime.Unknown, as a server without
--storage-media-type=application/json writes them) are recognised: GET answers 500 (this
stand-in cannot decode protobuf objects), LIST shows their metadata only (with the annotation
lab.breakglass.dev/protobuf-value) and DELETE removes them.

Where it differs from the real server, on purpose and documented so that nobody tests against
the difference: watches carry BOOKMARK events only; Foreground propagation completes at once
(dependents and owner deleted in the request, as Background) instead of leaving the owner with
a deletionTimestamp; dryRun is refused (400) rather than ignored; there are no namespaces
objects, admission or authorization; JSON patch, strategic merge patch and apply answer 415.
List items carry no kind/apiVersion, exactly like the real server's typed lists.

Authentication: when --token-auth-file is given, a request needs `Authorization: Bearer <a
listed token>` or a TLS client certificate signed by --client-ca-file, else 401 Unauthorized
(https://kubernetes.io/docs/reference/access-authn-authz/authentication/). Without a token file
every request is let in (the lab's nodes talk to it anonymously). There is no authorization.

Beyond --max-requests-inflight concurrent non-watch reads (or the mutating limit for writes) it
answers 429 with Retry-After: 1, as the real server does with
--enable-priority-and-fairness=false
(https://kubernetes.io/docs/concepts/cluster-administration/flow-control/); watches are
long-running requests and do not count.

Nagle's algorithm is left on for the watch stream on purpose: once the client's ACKs stop
arriving (a firewall dropping its packets) no further event leaves, so a cut connection goes
quiet at once instead of draining a congestion window of events.
"""
import base64
import collections
import csv
import http.client
import http.server
import json
import os
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import uuid
from urllib.parse import parse_qs, urlparse

MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
DEFAULTS = {
    "bind-address": "0.0.0.0",
    "secure-port": "6443",
    "tls-cert-file": "/etc/kubernetes/pki/apiserver.crt",
    "tls-private-key-file": "/etc/kubernetes/pki/apiserver.key",
    "max-requests-inflight": "400",
    "max-mutating-requests-inflight": "200",
    "storage-media-type": "application/json",
}
HEALTH = ("/readyz", "/livez", "/healthz", "/version")
# The real server refuses request bodies over 3 MiB; etcd's own value limit is 1.5 MiB.
MAX_BODY = 3 * 1024 * 1024
# How long one etcd call may take before the request fails with 500 (the real server's
# storage calls time out and answer 500/504 likewise).
ETCD_TIMEOUT = 5
# Guarded writes that lose a race are retried from a fresh read, as the real server's
# GuaranteedUpdate does; a bounded number of times.
MAX_RETRIES = 5
# A filtered LIST reads etcd in pages of `limit` keys until it has `limit` matches; at most this
# many pages per request, then it answers with what it has and a continue token.
MAX_LIST_PAGES = 100
ANNOTATION_PROTOBUF = "lab.breakglass.dev/protobuf-value"


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


def parse_seconds(text):
    """A Go duration as kube-apiserver's flags take it (`1m0s`, `30s`, `500ms`) in seconds."""
    total = 0.0
    for value, unit in re.findall(r"([0-9.]+)(ms|h|m|s)", text):
        total += float(value) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total or 60.0


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


# Status objects: https://kubernetes.io/docs/reference/using-api/api-concepts/ (responses to
# failed requests) and https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/.
# `details.kind` is the resource (plural) and `details.group` its API group, as the real
# server's NewNotFound/NewConflict/NewAlreadyExists write them.
def status(code, reason, message, details=None):
    obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        obj["details"] = details
    return obj


class ApiError(Exception):
    """An answer that is a Failure Status; raised anywhere below a request handler."""

    def __init__(self, code, reason, message, details=None, headers=()):
        super().__init__(message)
        self.body = status(code, reason, message, details)
        self.code = code
        self.headers = headers


class Resource:
    """One kind the stand-in serves: where it lives in the URL space and in etcd."""

    def __init__(self, group, version, plural, kind, namespaced, registry=None, scale=False,
                 workload=False, return_deleted=False, default_policy="Background"):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.registry = "/registry/" + (registry or plural) + "/"
        self.scale = scale
        # apps and batch kinds: generation counts spec changes and status is the controller's
        # (their registry strategies reset it on create and keep it on update).
        self.workload = workload
        # The real registry returns the deleted object for pods (ReturnDeletedObject) and a
        # Success Status for the others.
        self.return_deleted = return_deleted
        # batch/v1 Jobs orphan their pods by default when deleted through the API, for
        # compatibility; everything else defaults to Background
        # (https://kubernetes.io/docs/concepts/architecture/garbage-collection/).
        self.default_policy = default_policy

    @property
    def api_version(self):
        return self.group + "/" + self.version if self.group else self.version

    @property
    def qualified(self):
        """`daemonsets.apps`, `pods`: how the real server names the resource in messages."""
        return self.plural + ("." + self.group if self.group else "")

    def details(self, name, **extra):
        d = {"name": name, "kind": self.plural}
        if self.group:
            d["group"] = self.group
        d.update(extra)
        return d

    def not_found(self, name):
        return ApiError(404, "NotFound", '%s "%s" not found' % (self.qualified, name),
                        self.details(name))

    def conflict(self, name, why):
        return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                        % (self.qualified, name, why), self.details(name))

    def invalid(self, name, field, why):
        # 422 with causes, as field validation errors come back from the real server.
        return ApiError(422, "Invalid", '%s.%s "%s" is invalid: %s: %s'
                        % (self.kind, self.group or "core", name, field, why),
                        {"name": name, "group": self.group, "kind": self.kind,
                         "causes": [{"reason": "FieldValueRequired", "message": why,
                                     "field": field}]})


# https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/ and
# .../cluster-resources/node-v1/ for the objects; the /registry/ keys are kube-apiserver's.
RESOURCES = [
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, workload=True),
    Resource("apps", "v1", "deployments", "Deployment", True, workload=True, scale=True),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, workload=True, scale=True),
    Resource("batch", "v1", "jobs", "Job", True, workload=True, default_policy="Orphan"),
    Resource("batch", "v1", "cronjobs", "CronJob", True, workload=True),
    Resource("", "v1", "pods", "Pod", True, return_deleted=True),
    Resource("", "v1", "nodes", "Node", False, registry="minions"),
]
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
# Kinds that can own others through metadata.ownerReferences, by what they may own here.
DEPENDENT_RESOURCES = [r for r in RESOURCES if r.plural in ("pods", "jobs")]


def parse_resource_path(path):
    """(Resource, namespace or None, name or None, subresource or None), or None when the path
    is not an object path this stand-in serves."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 2 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    res = BY_PATH.get((group, version, rest[0]))
    if res is None:
        return None
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else None
    if not res.namespaced and namespace is not None:
        return None
    if res.namespaced and namespace is None and name is not None:
        return None
    if sub is not None and not (sub == "scale" and res.scale):
        return None
    return res, namespace, name, sub


# --- etcd, through its v3 JSON gateway (grpc-gateway: base64 bytes, int64 as strings, zero
# values omitted) -------------------------------------------------------------------------

def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text or "")


def prefix_end(prefix):
    """etcd's range_end for "every key starting with prefix": its last byte plus one."""
    p = bytearray(prefix.encode() if isinstance(prefix, str) else prefix)
    p[-1] += 1
    return bytes(p)


class Etcd:
    """etcd's v3 JSON gateway over HTTPS with the client certificate. Connections are kept
    alive and reused (a pool of idle ones per server), as the real server holds its gRPC
    connection to etcd: a new TLS handshake per request would cost etcd and this server more
    CPU than the request, and the lab's thousand kubelets would spend the machine on it."""

    POOL = 32

    def __init__(self, servers, cafile, certfile, keyfile):
        self.servers = [s.strip().rstrip("/") for s in servers.split(",") if s.strip()]
        self.cafile, self.certfile, self.keyfile = cafile, certfile, keyfile
        self.ctx = None
        self.lock = threading.Lock()
        self.idle = collections.defaultdict(list)

    def context(self):
        # Built on first use: a lab node may start the API server before its etcd files exist.
        with self.lock:
            if self.ctx is None:
                ctx = ssl.create_default_context(cafile=self.cafile)
                if self.certfile:
                    ctx.load_cert_chain(self.certfile, self.keyfile)
                self.ctx = ctx
            return self.ctx

    def connection(self, server, ctx):
        """An idle connection to server (reused: True) or a new one (False)."""
        with self.lock:
            if self.idle[server]:
                return self.idle[server].pop(), True
        url = urlparse(server)
        return http.client.HTTPSConnection(url.hostname, url.port or 2379, context=ctx,
                                           timeout=ETCD_TIMEOUT), False

    def release(self, server, conn):
        with self.lock:
            if len(self.idle[server]) < self.POOL:
                self.idle[server].append(conn)
                return
        conn.close()

    def post(self, server, ctx, method, data):
        """(status, body) of one POST; a reused connection the server had closed while idle
        is replaced once, before any answer was read (etcd's transactions are guarded by
        revisions, so even a resent one cannot apply twice)."""
        while True:
            conn, reused = self.connection(server, ctx)
            try:
                conn.request("POST", "/v3/kv/" + method, body=data,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                body = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if reused:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if resp.will_close:
                conn.close()
            else:
                self.release(server, conn)
            return resp.status, body

    def call(self, method, body):
        try:
            ctx = self.context()
        except (OSError, ssl.SSLError) as e:
            raise ApiError(500, "InternalError", "cannot load the etcd client files: %s" % e)
        data = json.dumps(body).encode()
        last = "no --etcd-servers"
        for server in self.servers:
            try:
                status, text = self.post(server, ctx, method, data)
            except (OSError, http.client.HTTPException) as e:
                last = "etcd %s: %s" % (server, e)
                continue
            if status != 200:
                text = text.decode(errors="replace")
                if "compacted" in text:
                    # https://kubernetes.io/docs/reference/using-api/api-concepts/ ("410 Gone"
                    # for a continue token whose revision was compacted).
                    raise ApiError(410, "Expired", "The provided continue parameter is too old "
                                   "to display a consistent list result. You can start a new "
                                   "list without the continue parameter.")
                raise ApiError(500, "InternalError", "etcd %s: %s" % (server, text.strip()))
            try:
                return json.loads(text)
            except ValueError as e:
                last = "etcd %s: %s" % (server, e)
        raise ApiError(500, "InternalError", last)

    def range(self, key, end=None, limit=0, revision=0):
        body = {"key": b64(key)}
        if end is not None:
            body["range_end"] = b64(end)
        if limit:
            body["limit"] = str(limit)
        if revision:
            body["revision"] = str(revision)
        out = self.call("range", body)
        kvs = [KV(kv) for kv in out.get("kvs", [])]
        return kvs, int(out.get("header", {}).get("revision", "0")), bool(out.get("more"))

    def get(self, key):
        kvs, _, _ = self.range(key)
        return kvs[0] if kvs else None

    def txn(self, compare, success):
        """(succeeded, header revision, responses)."""
        out = self.call("txn", {"compare": compare, "success": success})
        return (bool(out.get("succeeded")), int(out.get("header", {}).get("revision", "0")),
                out.get("responses", []))

    def put_if(self, key, value, mod_revision):
        """Writes key guarded by its mod_revision (0: only if absent); the new revision or None."""
        if mod_revision:
            cmp = {"key": b64(key), "target": "MOD", "result": "EQUAL",
                   "mod_revision": str(mod_revision)}
        else:
            cmp = {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
        ok, rev, _ = self.txn([cmp], [{"request_put": {"key": b64(key), "value": b64(value)}}])
        return rev if ok else None

    def delete_if(self, key, mod_revision):
        cmp = {"key": b64(key), "target": "MOD", "result": "EQUAL",
               "mod_revision": str(mod_revision)}
        ok, rev, _ = self.txn([cmp], [{"request_delete_range": {"key": b64(key)}}])
        return rev if ok else None


class KV:
    def __init__(self, kv):
        self.key = unb64(kv.get("key")).decode(errors="replace")
        self.value = unb64(kv.get("value"))
        self.mod_revision = int(kv.get("mod_revision", "0"))


# --- values: JSON as this stand-in writes them, or the protobuf envelope a real server writes --

PROTOBUF_MAGIC = b"k8s\x00"


def pb_varint(buf, i):
    value, shift = 0, 0
    for _ in range(10):
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7
    raise ValueError("varint too long")


def pb_fields(buf):
    """The (field number, value) pairs of one protobuf message: bytes for length-delimited
    fields, ints for varints. Each step consumes input, so it ends."""
    out, i = [], 0
    while i < len(buf):
        key, i = pb_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = pb_varint(buf, i)
        elif wire == 2:
            n, i = pb_varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field %d" % field)
            value, i = buf[i:i + n], i + n
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        out.append((field, value))
    return out


def pb_metadata(value):
    """What can be read of a protobuf value without the Kubernetes schemas: runtime.Unknown's
    TypeMeta (1: apiVersion, 2: kind) and, from its raw object (field 2), ObjectMeta (the
    object's field 1: 1 name, 3 namespace, 5 uid, 7 generation, 11 labels, 13 ownerReferences
    with 1 kind, 3 name, 4 uid, 5 apiVersion) and a pod's spec.nodeName (spec = 2, nodeName = 10).
    Field numbers from k8s.io/api's generated.proto."""
    text = lambda b: b.decode(errors="replace") if isinstance(b, bytes) else ""
    obj = {"metadata": {}}
    raw = b""
    for f, v in pb_fields(value[len(PROTOBUF_MAGIC):]):
        if f == 1 and isinstance(v, bytes):
            for tf, tv in pb_fields(v):
                if tf == 1:
                    obj["apiVersion"] = text(tv)
                elif tf == 2:
                    obj["kind"] = text(tv)
        elif f == 2 and isinstance(v, bytes):
            raw = v
    meta = obj["metadata"]
    for f, v in pb_fields(raw):
        if f == 1 and isinstance(v, bytes):
            for mf, mv in pb_fields(v):
                if mf == 1:
                    meta["name"] = text(mv)
                elif mf == 3:
                    meta["namespace"] = text(mv)
                elif mf == 5:
                    meta["uid"] = text(mv)
                elif mf == 7 and isinstance(mv, int):
                    meta["generation"] = mv
                elif mf == 11 and isinstance(mv, bytes):
                    entry = dict(pb_fields(mv))
                    meta.setdefault("labels", {})[text(entry.get(1, b""))] = text(entry.get(2, b""))
                elif mf == 13 and isinstance(mv, bytes):
                    ref = dict(pb_fields(mv))
                    meta.setdefault("ownerReferences", []).append({
                        "apiVersion": text(ref.get(5, b"")), "kind": text(ref.get(1, b"")),
                        "name": text(ref.get(3, b"")), "uid": text(ref.get(4, b""))})
        elif f == 2 and isinstance(v, bytes) and obj.get("kind") == "Pod":
            for sf, sv in pb_fields(v):
                if sf == 10:
                    obj["spec"] = {"nodeName": text(sv)}
    return obj


class Stored:
    """One object read from etcd: its key, revision, and the object (None for protobuf)."""

    def __init__(self, res, kv):
        self.res = res
        self.key = kv.key
        self.raw = kv.value
        self.mod_revision = kv.mod_revision
        self.protobuf = kv.value.startswith(PROTOBUF_MAGIC)
        self.obj = None
        self.summary = None
        if self.protobuf:
            try:
                self.summary = pb_metadata(kv.value)
            except ValueError as e:
                self.summary = {"metadata": {"name": kv.key.rsplit("/", 1)[-1]}}
                log("%s: unreadable protobuf value: %s" % (kv.key, e))
            ann = self.summary["metadata"].setdefault("annotations", {})
            ann[ANNOTATION_PROTOBUF] = ("%d bytes; this stand-in decodes only the metadata of "
                                        "protobuf values" % len(kv.value))
        else:
            try:
                self.obj = json.loads(kv.value)
                if not isinstance(self.obj, dict):
                    raise ValueError("not an object")
            except ValueError as e:
                raise ApiError(500, "InternalError", "%s: stored value is neither JSON nor "
                               "protobuf: %s" % (kv.key, e))

    def view(self):
        """The object as answered: metadata.resourceVersion is the key's mod_revision."""
        obj = json.loads(json.dumps(self.obj if self.obj is not None else self.summary))
        obj.setdefault("apiVersion", self.res.api_version)
        obj.setdefault("kind", self.res.kind)
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(self.mod_revision)
        return obj

    def decoded(self):
        """The whole object, for the requests that need all of it (GET, PUT, PATCH, scale)."""
        if self.obj is None:
            # What a JSON-only decoder says about a protobuf value; a real server decodes both.
            raise ApiError(500, "InternalError", "%s: cannot decode the stored protobuf value "
                           "(%d bytes): this stand-in decodes only JSON" % (self.key, len(self.raw)))
        return self.view()

    def meta(self):
        return (self.obj if self.obj is not None else self.summary).get("metadata") or {}


def stored_value(obj):
    """The bytes kube-apiserver with --storage-media-type=application/json writes: the object
    without its resourceVersion (that is the key's revision)."""
    obj = json.loads(json.dumps(obj))
    obj.get("metadata", {}).pop("resourceVersion", None)
    obj.get("metadata", {}).pop("selfLink", None)
    return json.dumps(obj, separators=(",", ":")).encode()


# --- selectors: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/ and
# .../field-selectors/ -----------------------------------------------------------------------

def split_selector(text):
    """Splits on commas outside parentheses (set-based `in (a,b)` keeps its list)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def label_matcher(text):
    tests = []
    for term in split_selector(text or ""):
        m = re.match(r"^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$", term)
        if m:
            key, op, value = m.groups()
            if op == "!=":
                tests.append(lambda l, k=key, v=value: l.get(k) != v)
            else:
                tests.append(lambda l, k=key, v=value: l.get(k) == v)
            continue
        m = re.match(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$", term)
        if m:
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in":
                tests.append(lambda l, k=key, vs=values: l.get(k) in vs)
            else:
                tests.append(lambda l, k=key, vs=values: l.get(k) not in vs)
            continue
        m = re.match(r"^(!?)\s*([\w./-]+)$", term)
        if m:
            neg, key = m.groups()
            tests.append(lambda l, k=key, n=bool(neg): (k in l) != n)
            continue
        raise ApiError(400, "BadRequest", "unable to parse requirement: %r" % term)
    return lambda labels: all(t(labels) for t in tests)


FIELDS = {
    "metadata.name": lambda o: o.get("metadata", {}).get("name", ""),
    "metadata.namespace": lambda o: o.get("metadata", {}).get("namespace", ""),
}
POD_FIELDS = {"spec.nodeName": lambda o: (o.get("spec") or {}).get("nodeName", "")}


def field_matcher(res, text):
    known = dict(FIELDS, **(POD_FIELDS if res.plural == "pods" else {}))
    tests = []
    for term in split_selector(text or ""):
        m = re.match(r"^([\w.]+)\s*(==|=|!=)\s*(.*)$", term)
        if not m:
            raise ApiError(400, "BadRequest", "invalid field selector: %r" % term)
        field, op, value = m.groups()
        get = known.get(field)
        if get is None:
            raise ApiError(400, "BadRequest", 'field label not supported: %s' % field)
        if op == "!=":
            tests.append(lambda o, g=get, v=value: g(o) != v)
        else:
            tests.append(lambda o, g=get, v=value: g(o) == v)
    return lambda obj: all(t(obj) for t in tests)


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: objects merge key by key, null removes, anything else
    replaces (lists included)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- the API: https://kubernetes.io/docs/reference/using-api/api-concepts/ ------------------

NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"
POLICIES = ("Foreground", "Background", "Orphan")


def bad_request(message):
    return ApiError(400, "BadRequest", message)


class Api:
    def __init__(self, etcd):
        self.etcd = etcd

    def key(self, res, ns, name):
        return res.registry + (ns + "/" if res.namespaced else "") + name

    def read(self, res, ns, name):
        kv = self.etcd.get(self.key(res, ns, name))
        if kv is None:
            raise res.not_found(name)
        return Stored(res, kv)

    def get(self, res, ns, name):
        return 200, self.read(res, ns, name).decoded()

    # LIST in chunks: https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks
    # The continue token is, as the real server's, base64 of {"v":"meta.k8s.io/v1","rv":R,
    # "start":K}: every page is read at the first page's etcd revision R (a compacted R answers
    # 410 Expired), from key K (relative to the resource's /registry/ prefix). Items carry no
    # kind/apiVersion, as the real server's typed lists (the list itself does).
    def list(self, res, ns, query):
        prefix = res.registry + (ns + "/" if ns else "")
        end = prefix_end(prefix)
        try:
            limit = int(query.get("limit", ["0"])[0] or "0")
        except ValueError:
            raise bad_request("invalid limit: %r" % query["limit"][0])
        limit = max(limit, 0)
        labels = label_matcher(query.get("labelSelector", [""])[0])
        fields = field_matcher(res, query.get("fieldSelector", [""])[0])
        start, rev = prefix, 0
        token = query.get("continue", [""])[0]
        if token:
            try:
                c = json.loads(base64.b64decode(token, validate=True))
                start, rev = res.registry + c["start"], int(c["rv"])
                if c.get("v") != "meta.k8s.io/v1" or not start.startswith(prefix) or rev <= 0:
                    raise ValueError("not this list's token")
            except (ValueError, KeyError, TypeError) as e:
                raise bad_request("continue key is not valid: %s" % e)
        items, next_start = [], None
        for _ in range(MAX_LIST_PAGES):
            kvs, header_rev, more = self.etcd.range(start, end, limit=limit, revision=rev)
            rev = rev or header_rev
            for i, kv in enumerate(kvs):
                s = Stored(res, kv)
                view = s.view()
                if not labels(view["metadata"].get("labels") or {}) or not fields(view):
                    continue
                view.pop("kind", None)
                view.pop("apiVersion", None)
                items.append(view)
                if limit and len(items) >= limit and (more or i + 1 < len(kvs)):
                    next_start = kv.key + "\x00"
                    break
            if next_start or not more or not kvs:
                break
            start = kvs[-1].key + "\x00"
        else:
            next_start = start
        meta = {"resourceVersion": str(rev)}
        if next_start:
            meta["continue"] = base64.b64encode(json.dumps({
                "v": "meta.k8s.io/v1", "rv": rev, "start": next_start[len(res.registry):],
            }).encode()).decode()
        return 200, {"kind": res.kind + "List", "apiVersion": res.api_version, "metadata": meta,
                     "items": items}

    def check_type(self, res, obj):
        if not isinstance(obj, dict):
            raise bad_request("the request body must be a JSON object")
        if obj.get("kind", res.kind) != res.kind or obj.get("apiVersion", res.api_version) != res.api_version:
            raise bad_request("the body is %s %s; this endpoint takes %s %s" % (
                obj.get("apiVersion"), obj.get("kind"), res.api_version, res.kind))
        obj["kind"], obj["apiVersion"] = res.kind, res.api_version
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        return meta

    def check_namespace(self, res, ns, meta):
        if not res.namespaced:
            meta.pop("namespace", None)
            return
        if meta.get("namespace") and meta["namespace"] != ns:
            raise bad_request("the namespace of the provided object does not match the namespace "
                              "sent on the request")
        meta["namespace"] = ns

    # POST: https://kubernetes.io/docs/reference/using-api/api-concepts/ (create); 409
    # AlreadyExists when the key exists, decided by etcd (create_revision == 0 in the txn).
    def create(self, res, ns, obj):
        meta = self.check_type(res, obj)
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = meta["generateName"] + secrets.token_hex(3)[:5]
        if not name:
            raise res.invalid("", "metadata.name", "Required value: name or generateName is required")
        if not NAME.match(name):
            raise res.invalid(name, "metadata.name", "Invalid value: %r: a lowercase RFC 1123 subdomain" % name)
        meta["name"] = name
        self.check_namespace(res, ns, meta)
        for server_set in ("resourceVersion", "selfLink", "deletionTimestamp", "managedFields"):
            meta.pop(server_set, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if res.workload:
            meta["generation"] = 1
            obj["status"] = {}
        rev = self.etcd.put_if(self.key(res, ns, name), stored_value(obj), 0)
        if rev is None:
            raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (res.qualified, name),
                           res.details(name))
        meta["resourceVersion"] = str(rev)
        return 201, obj

    def updated(self, res, old, new):
        """`new` as the registry stores it over `old`: server-set metadata kept, and for apps and
        batch kinds the status kept and generation bumped on a spec change."""
        meta, old_meta = new["metadata"], old["metadata"]
        if meta.get("uid") and meta["uid"] != old_meta.get("uid"):
            raise res.conflict(old_meta.get("name"), "Precondition failed: UID in precondition: %s, "
                               "UID in object meta: %s" % (meta["uid"], old_meta.get("uid")))
        for kept in ("uid", "creationTimestamp", "generation"):
            if kept in old_meta:
                meta[kept] = old_meta[kept]
            else:
                meta.pop(kept, None)
        if res.workload:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
            if new.get("spec") != old.get("spec"):
                meta["generation"] = int(old_meta.get("generation", 0)) + 1
        return new

    def write(self, res, ns, name, compute, want_rv=None):
        """Read, compute the new object, write it guarded by the revision read; a lost race is
        retried (unless the client named a resourceVersion: then it is its 409 Conflict)."""
        for _ in range(MAX_RETRIES):
            cur = self.read(res, ns, name)
            old = cur.decoded()
            if want_rv and want_rv != str(cur.mod_revision):
                raise res.conflict(name, MODIFIED)
            new = compute(old)
            rev = self.etcd.put_if(cur.key, stored_value(new), cur.mod_revision)
            if rev is not None:
                new["metadata"]["resourceVersion"] = str(rev)
                return new
            if want_rv:
                break
        raise res.conflict(name, MODIFIED)

    # PUT: replace; metadata.resourceVersion, when given, must be the current one
    # (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions).
    def replace(self, res, ns, name, obj):
        meta = self.check_type(res, obj)
        if meta.get("name", name) != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (meta.get("name"), name))
        meta["name"] = name
        self.check_namespace(res, ns, meta)
        want = meta.pop("resourceVersion", None)
        return 200, self.write(res, ns, name, lambda old: self.updated(res, old, json.loads(json.dumps(obj))), want)

    # PATCH with application/merge-patch+json (RFC 7386), computed on the object read and
    # written guarded by its revision
    # (https://kubernetes.io/docs/reference/using-api/api-concepts/ for PATCH, RFC 7386 for the
    # format, https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/
    # for its use with Kubernetes objects).
    def patch(self, res, ns, name, patch):
        if not isinstance(patch, dict):
            raise bad_request("a merge patch for an object must be a JSON object")
        want = str((patch.get("metadata") or {}).get("resourceVersion") or "") or None

        def compute(old):
            new = merge_patch(old, patch)
            meta = self.check_type(res, new)
            if meta.get("name") != name or (res.namespaced and meta.get("namespace") != ns):
                raise bad_request("a patch cannot change the object's name or namespace")
            meta.pop("resourceVersion", None)
            return self.updated(res, old, new)
        return 200, self.write(res, ns, name, compute, want)

    # The scale subresource: https://kubernetes.io/docs/reference/kubernetes-api/autoscaling/v1/scale-v1/
    # (kubectl scale sends PATCH .../scale with {"spec":{"replicas":N}} as a merge patch).
    def scale_view(self, obj):
        meta = obj["metadata"]
        selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                              "creationTimestamp") if k in meta},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": ",".join("%s=%s" % kv for kv in sorted(selector.items()))},
        }

    def scale_get(self, res, ns, name):
        return 200, self.scale_view(self.read(res, ns, name).decoded())

    def scale_write(self, res, ns, name, body, is_patch):
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        want = str((body.get("metadata") or {}).get("resourceVersion") or "") or None

        def compute(old):
            scale = self.scale_view(old)
            new_scale = merge_patch(scale, body) if is_patch else body
            replicas = (new_scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise res.invalid(name, "spec.replicas", "Invalid value: %r: must be greater than "
                                  "or equal to 0" % (replicas,))
            new = json.loads(json.dumps(old))
            new.setdefault("spec", {})["replicas"] = replicas
            new["metadata"].pop("resourceVersion", None)
            return self.updated(res, old, new)
        return 200, self.scale_view(self.write(res, ns, name, compute, want))

    # DELETE with DeleteOptions (body or query): preconditions.uid and
    # preconditions.resourceVersion checked against the object read, the delete guarded by its
    # revision (https://kubernetes.io/docs/reference/using-api/api-concepts/ and
    # https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/delete-options/);
    # propagationPolicy as the garbage collector applies it
    # (https://kubernetes.io/docs/concepts/architecture/garbage-collection/), but at once:
    # Background and Foreground delete the dependents (pods and jobs whose ownerReferences name
    # the uid, and theirs) right after the owner, Orphan removes the owner from their
    # ownerReferences. The answer is the deleted pod for pods (the real registry's
    # ReturnDeletedObject), a Success Status naming the uid for the other kinds.
    def delete(self, res, ns, name, opts):
        policy = opts.get("propagationPolicy")
        if policy is None and "orphanDependents" in opts:
            policy = "Orphan" if opts["orphanDependents"] else "Background"
        policy = policy or res.default_policy
        if policy not in POLICIES:
            raise res.invalid(name, "propagationPolicy", "Unsupported value: %r: supported values: "
                              '"Foreground", "Background", "Orphan"' % policy)
        pre = opts.get("preconditions") or {}
        for _ in range(MAX_RETRIES):
            cur = self.read(res, ns, name)
            meta = cur.meta()
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise res.conflict(name, "Precondition failed: UID in precondition: %s, UID in "
                                   "object meta: %s" % (pre["uid"], meta.get("uid", "")))
            if pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(cur.mod_revision):
                raise res.conflict(name, "Precondition failed: ResourceVersion in precondition: "
                                   "%s, ResourceVersion in object meta: %s"
                                   % (pre["resourceVersion"], cur.mod_revision))
            if self.etcd.delete_if(cur.key, cur.mod_revision) is None:
                if pre.get("resourceVersion"):
                    break
                continue
            uid = meta.get("uid")
            if uid and ns:
                self.dependents(ns, uid, policy, 3)
            if res.return_deleted:
                return 200, cur.view()
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                         "status": "Success", "details": res.details(name, uid=uid or "")}
        raise res.conflict(name, MODIFIED)

    def dependents(self, ns, uid, policy, depth):
        for dres in DEPENDENT_RESOURCES:
            prefix = dres.registry + ns + "/"
            kvs, _, _ = self.etcd.range(prefix, prefix_end(prefix))
            for kv in kvs:
                try:
                    dep = Stored(dres, kv)
                except ApiError:
                    continue
                refs = dep.meta().get("ownerReferences") or []
                if not any(isinstance(r, dict) and r.get("uid") == uid for r in refs):
                    continue
                if policy == "Orphan":
                    if dep.obj is not None:
                        dep.obj["metadata"]["ownerReferences"] = [
                            r for r in refs if not (isinstance(r, dict) and r.get("uid") == uid)]
                        if not dep.obj["metadata"]["ownerReferences"]:
                            del dep.obj["metadata"]["ownerReferences"]
                        self.etcd.put_if(kv.key, stored_value(dep.obj), kv.mod_revision)
                    continue
                if self.etcd.delete_if(kv.key, kv.mod_revision) is not None and depth > 1:
                    child = dep.meta().get("uid")
                    if child:
                        self.dependents(ns, child, policy, depth - 1)


class Limits:
    """--max-requests-inflight and --max-mutating-requests-inflight; with the load model a
    request over the limit waits up to `queue_wait` seconds for a slot."""

    def __init__(self, reads, writes, queue_wait=0.0):
        self.cond = threading.Condition()
        self.limit = {"read": reads, "write": writes}
        self.inflight = {"read": 0, "write": 0}
        self.queue_wait = queue_wait
        # When a request last had to wait for a slot (monotonic), for readiness.
        self.last_queued = None

    def acquire(self, kind):
        deadline = time.monotonic() + self.queue_wait
        with self.cond:
            if self.inflight[kind] >= self.limit[kind]:
                self.last_queued = time.monotonic()
            while self.inflight[kind] >= self.limit[kind]:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            self.inflight[kind] += 1
            return True

    def release(self, kind):
        with self.cond:
            self.inflight[kind] -= 1
            self.cond.notify()

    def total(self):
        with self.cond:
            return self.inflight["read"] + self.inflight["write"]


class Cpu:
    """The load model's CPU: `cpus` requests' work at full speed; with more in progress each
    gets its share. Sleeping stands for the work, so the model costs this machine little."""

    # Wall time between re-reckonings of a request's share of the CPUs.
    SLICE = 0.1

    def __init__(self, cpus, list_cost_ms):
        self.cpus = max(1, cpus)
        self.list_cost = list_cost_ms / 1000.0
        self.lock = threading.Lock()
        self.busy = 0

    def oversubscribed(self):
        """How many times over its CPUs the work in progress is."""
        with self.lock:
            return self.busy / self.cpus

    def work(self, seconds, alive=None):
        """Takes `seconds` of CPU work: in slices of at most SLICE of wall time, each at the
        share of the CPUs the work in progress leaves (processor sharing), so a request that
        started in a storm speeds up as soon as the storm ends. Between slices `alive()` is
        asked whether the client still waits: the real server cancels a request whose client
        went away, and ends one that outlives --request-timeout; either raises ApiError 504."""
        if seconds <= 0:
            return
        with self.lock:
            self.busy += 1
        try:
            left = seconds
            while left > 1e-6:
                if alive is not None and not alive():
                    raise ApiError(504, "Timeout", "the request was cancelled or timed out")
                with self.lock:
                    rate = min(1.0, self.cpus / self.busy)
                wall = min(self.SLICE, left / rate)
                time.sleep(wall)
                left -= wall * rate
        finally:
            with self.lock:
                self.busy -= 1


class Stats:
    """The lab's request counts (--lab-stats-file): {"requests": N, "throttled": M, "paths":
    {PATH: {"requests": n, "throttled": m, "methods": {"GET": k}}}, "user_agents": {"kubelet":
    n, "breakglass": m, ...}, "recent": {...}, "inflight": k}. `requests` counts every
    request received (those answered 429 included), `throttled` the 429s. The file is replaced
    atomically, at most every 200 ms, so it may lag the last request by that much."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.data = {"requests": 0, "throttled": 0, "paths": {}}
        self.dirty = True
        # (monotonic end, seconds taken, code) of recent non-health answers, and of 429s.
        self.recent = collections.deque()
        self.limits = None

    def answered(self, started, code, health):
        now = time.monotonic()
        with self.lock:
            if not health or code == 429:
                self.recent.append((now, now - started, code))
            while self.recent and self.recent[0][0] < now - 2.0:
                self.recent.popleft()

    def window(self, seconds=1.0):
        """Over the last `seconds`: answers, p50 and p99 (ms, None without answers), errors
        (5xx and 429), 429s."""
        now = time.monotonic()
        with self.lock:
            items = [r for r in self.recent if r[0] >= now - seconds]
        took = sorted(r[1] for r in items)
        pick = lambda q: round(took[min(len(took) - 1, int(q * len(took)))] * 1000, 1) if took else None
        return {
            "answers": len(items),
            "p50_ms": pick(0.5),
            "p99_ms": pick(0.99),
            "errors": sum(1 for r in items if r[2] >= 500 or r[2] == 429),
            "throttled": sum(1 for r in items if r[2] == 429),
            "window_s": seconds,
        }

    def entry(self, path):
        return self.data["paths"].setdefault(path, {"requests": 0, "throttled": 0, "methods": {}})

    def request(self, method, path, user_agent=""):
        with self.lock:
            e = self.entry(path)
            e["requests"] += 1
            e["methods"][method] = e["methods"].get(method, 0) + 1
            self.data["requests"] += 1
            # Requests by client (the User-Agent's product token: `breakglass`, `kubelet`, ...).
            agent = (user_agent or "-").split("/", 1)[0] or "-"
            agents = self.data.setdefault("user_agents", {})
            agents[agent] = agents.get(agent, 0) + 1
            self.dirty = True

    def throttled(self, path):
        with self.lock:
            self.entry(path)["throttled"] += 1
            self.data["throttled"] += 1
            self.dirty = True

    def flush(self):
        if not self.path:
            return
        recent = self.window()
        inflight = self.limits.total() if self.limits else 0
        with self.lock:
            data = dict(self.data, recent=recent, inflight=inflight)
            text = json.dumps(data, sort_keys=True)
            self.dirty = False
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                f.write(text + "\n")
            os.replace(tmp, self.path)
        except OSError as e:
            log("cannot write %s: %s" % (self.path, e))

    def run(self):
        while True:
            self.flush()
            time.sleep(0.2)


def load_tokens(path):
    """--token-auth-file: CSV lines `token,user,uid[,"group1,group2"]`
    (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#static-token-file)."""
    tokens = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 3 and row[0].strip():
                tokens[row[0].strip()] = row[1].strip()
    if not tokens:
        raise ValueError("%s lists no token" % path)
    return tokens


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
        self.answer_code = code
        if code == 429:
            self.server.stats.throttled(urlparse(self.path).path)
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_text(self, code, text):
        self.answer_code = code
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

    def authenticated(self):
        """https://kubernetes.io/docs/reference/access-authn-authz/authentication/: a bearer
        token from --token-auth-file, or a client certificate --client-ca-file verified."""
        tokens = self.server.tokens
        if tokens is None:
            return True
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and auth[len("Bearer "):].strip() in tokens:
            return True
        try:
            return bool(self.request.getpeercert())
        except (ValueError, ssl.SSLError):
            return False

    def throttle(self):
        """The lab's throttle (--lab-throttle-file): a 429 as API Priority and Fairness answers
        it (https://kubernetes.io/docs/concepts/cluster-administration/flow-control/), with
        Retry-After from the file."""
        path = self.server.throttle_file
        if not path:
            return None
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            return None
        return text if text.isdigit() and int(text) > 0 else "1"

    def handle_request(self, mutating):
        started = time.monotonic()
        self.started = started
        self.answer_code = 0
        self.long_running = False
        url = urlparse(self.path)
        health = url.path in HEALTH or any(url.path.startswith(h + "/") for h in HEALTH[:3])
        try:
            self.handle_request_inner(url, mutating, health)
        finally:
            # Watches are long-running: their duration is no request latency.
            if not self.long_running:
                self.server.stats.answered(started, self.answer_code, health)

    def handle_request_inner(self, url, mutating, health):
        self.body_read = False
        self.server.stats.request(self.command, url.path, self.headers.get("User-Agent", ""))
        if not health:
            if not self.authenticated():
                self.drain_body()
                return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            retry = self.throttle()
            if retry is not None:
                self.drain_body()
                return self.send_json(
                    429,
                    status(429, "TooManyRequests", "Too many requests, please try again later.",
                           {"retryAfterSeconds": int(retry)}),
                    [("Retry-After", retry)],
                )
        if not mutating and self.is_watch(url):
            self.long_running = True
            return self.watch(url)
        if health and self.server.cpu is not None:
            # Exempt from the in-flight limit, but not from a busy CPU.
            self.server.cpu.work(0.002)
            return self.route(url, mutating)
        if self.server.cpu is not None and self.headers.get("User-Agent", "").startswith("kubelet/"):
            # API Priority and Fairness, reduced to what matters here: the kubelets' requests
            # (the `system-nodes` FlowSchema, priority level `system`) do not wait behind the
            # workload's (`workload-low`); they still share the CPU.
            return self.route(url, mutating)
        kind = "write" if mutating else "read"
        if not self.server.limits.acquire(kind):
            self.drain_body()
            return self.send_json(
                429,
                status(429, "TooManyRequests", "Too many requests, please try again later.",
                       {"retryAfterSeconds": 1}),
                [("Retry-After", "1")],
            )
        try:
            self.route(url, mutating)
        finally:
            self.server.limits.release(kind)

    def drain_body(self):
        """Reads the request body unless it is too big to bother, so the connection can serve
        the next request."""
        if self.body_read:
            return
        self.body_read = True
        n = int(self.headers.get("Content-Length") or 0)
        if 0 < n <= MAX_BODY:
            self.rfile.read(n)
        elif n:
            self.close_connection = True

    def body(self, required):
        self.body_read = True
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge", "the request body is over %d bytes" % MAX_BODY)
        data = self.rfile.read(n) if n > 0 else b""
        if not data.strip():
            if required:
                raise bad_request("the request needs a JSON body")
            return None
        try:
            return json.loads(data)
        except ValueError as e:
            raise bad_request("the request body is not JSON: %s" % e)

    def route(self, url, mutating):
        if not mutating and url.path in ("/readyz", "/livez", "/healthz"):
            saturated = self.saturated()
            if saturated:
                return self.send_text(500, "[-]saturated failed: %s\n%s check failed\n"
                                      % (saturated, url.path[1:]))
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
        parsed = parse_resource_path(url.path)
        api = self.server.api
        if parsed is None or api is None:
            self.drain_body()
            return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
        try:
            code, obj = self.serve_object(api, url, *parsed)
        except ApiError as e:
            self.drain_body()
            return self.send_json(e.code, e.body, e.headers)
        return self.send_json(code, obj)

    def client_waits(self):
        """False once the client has closed its end (a FIN read ahead of any data) or the
        request has run past --request-timeout."""
        if time.monotonic() - self.started > self.server.request_timeout:
            return False
        try:
            raw = socket.socket(fileno=os.dup(self.connection.fileno()))
        except OSError:
            return False
        try:
            return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            raw.close()

    def saturated(self):
        """With the load model: why this server is saturated, or None (see --lab-ready-stretch)."""
        cpu = self.server.cpu
        if cpu is None:
            return None
        w = self.server.stats.window(2.0)
        if w["throttled"]:
            return "%d requests rejected (429) in the last 2s" % w["throttled"]
        queued = self.server.limits.last_queued
        if queued is not None and time.monotonic() - queued < 2.0:
            return "requests queued for an in-flight slot in the last 2s"
        over = cpu.oversubscribed()
        if over >= self.server.ready_stretch:
            return "CPU oversubscribed %.1f times" % over
        return None

    def serve_object(self, api, url, res, ns, name, sub):
        query = parse_qs(url.query)
        method = self.command
        if "dryRun" in query:
            raise bad_request("dryRun is not supported by this stand-in")
        if method in ("GET", "HEAD"):
            if name is None:
                code, obj = api.list(res, ns, query)
                cpu = self.server.cpu
                if cpu is not None:
                    cpu.work(cpu.list_cost * len(obj.get("items") or []), self.client_waits)
                return code, obj
            return api.scale_get(res, ns, name) if sub else api.get(res, ns, name)
        if method == "POST" and name is None and (ns is not None or not res.namespaced):
            return api.create(res, ns, self.body(True))
        if method == "PUT" and name is not None:
            body = self.body(True)
            return api.scale_write(res, ns, name, body, False) if sub else api.replace(res, ns, name, body)
        if method == "PATCH" and name is not None:
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
            if ctype != "application/merge-patch+json":
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an "
                               "unknown format - accepted media types include: "
                               "application/merge-patch+json (this stand-in's only patch type)")
            body = self.body(True)
            return api.scale_write(res, ns, name, body, True) if sub else api.patch(res, ns, name, body)
        if method == "DELETE" and name is not None and sub is None:
            opts = self.body(False) or {}
            if not isinstance(opts, dict):
                raise bad_request("DeleteOptions must be a JSON object")
            if "propagationPolicy" in query:
                opts.setdefault("propagationPolicy", query["propagationPolicy"][0])
            return api.delete(res, ns, name, opts)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                       "requested resource")

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

    def __init__(self, addr, ctx, limits, api, tokens, throttle_file, stats, cpu=None,
                 ready_stretch=4.0):
        self.cpu = cpu
        self.ready_stretch = ready_stretch
        self.request_timeout = 60.0
        self.ctx = ctx
        self.limits = limits
        self.api = api
        self.tokens = tokens
        self.throttle_file = throttle_file
        self.stats = stats
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
    if flags["storage-media-type"] != "application/json":
        # Reading protobuf is partial (metadata only); writing it is not done at all.
        log("--storage-media-type=%s: this stand-in writes application/json only"
            % flags["storage-media-type"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(flags["tls-cert-file"], flags["tls-private-key-file"])
    client_ca = flags.get("client-ca-file")
    if client_ca:
        try:
            ctx.load_verify_locations(client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        except (OSError, ssl.SSLError) as e:
            log("--client-ca-file %s: %s; client certificates are not accepted" % (client_ca, e))
    tokens = None
    if flags.get("token-auth-file"):
        try:
            tokens = load_tokens(flags["token-auth-file"])
        except (OSError, ValueError, csv.Error) as e:
            log("--token-auth-file: %s" % e)
            sys.exit(1)
    api = None
    if flags.get("etcd-servers"):
        api = Api(Etcd(flags["etcd-servers"], flags.get("etcd-cafile"), flags.get("etcd-certfile"),
                       flags.get("etcd-keyfile")))
    stats = Stats(flags.get("lab-stats-file"))
    cpu = None
    queue_wait = 0.0
    if flags.get("lab-list-cost"):
        cpu = Cpu(int(flags.get("lab-cpus", "2")), float(flags["lab-list-cost"]))
        queue_wait = float(flags.get("lab-queue-wait", "1"))
    limits = Limits(int(flags["max-requests-inflight"]), int(flags["max-mutating-requests-inflight"]),
                    queue_wait)
    stats.limits = limits
    request_timeout = parse_seconds(flags.get("request-timeout", "1m0s"))
    addr = (flags["bind-address"], int(flags["secure-port"]))
    server = None
    for _ in range(50):
        try:
            server = Server(addr, ctx, limits, api, tokens, flags.get("lab-throttle-file"), stats,
                            cpu, float(flags.get("lab-ready-stretch", "4")))
            break
        except OSError as e:
            # After a restart the old listener may linger a moment.
            last = e
            time.sleep(0.1)
    if server is not None:
        server.request_timeout = request_timeout
    if server is None:
        log("cannot listen on %s:%d: %s" % (addr[0], addr[1], last))
        sys.exit(1)
    log(
        "serving on %s:%d (advertise %s) with --max-requests-inflight=%s --max-mutating-requests-inflight=%s, "
        "etcd %s, %s"
        % (addr[0], addr[1], flags.get("advertise-address", "-"), flags["max-requests-inflight"],
           flags["max-mutating-requests-inflight"], flags.get("etcd-servers", "none (no objects)"),
           "token or client certificate required" if tokens else "no authentication")
    )
    if manifest is not None:
        threading.Thread(target=watch_manifest, args=(manifest,), daemon=True).start()
    if stats.path:
        threading.Thread(target=stats.run, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
