#!/usr/bin/python3
"""breakglass lab stand-in for crictl. NOT crictl, and there is no container runtime behind it.

It follows crictl's documented command line (https://github.com/kubernetes-sigs/cri-tools,
cmd/crictl/sandbox.go) for the pod sandbox commands breakglass uses, over a state file
(/run/breakglass-lab/pods.json, the shape of `crictl pods -o json`) that the lab seeds:

    crictl pods [--id ID] [--name REGEX] [--namespace REGEX] [--label K=V]... [-s|--state ready|notready]
                [-q|--quiet] [-v|--verbose] [-o|--output json|yaml|table] [--no-trunc] [-l|--latest] [-n|--last N]
    crictl stopp POD-ID...           "Stopped sandbox ID"; the pod becomes NotReady
    crictl rmp [-f|--force] [-a|--all] POD-ID...
                                     "Removed sandbox ID"; a Ready pod without --force is an error
    crictl version
Global flags (-r/--runtime-endpoint, -i/--image-endpoint, -t/--timeout, -c/--config, -D/--debug)
are accepted and ignored. POD-ID may be a unique prefix, as containerd accepts. Like the real
crictl it fails (exit 1) when the runtime is down: here, when the containerd stand-in is not
running. Errors are printed the way crictl's logrus does (`level=fatal msg=...`).
"""
import fcntl
import json
import os
import re
import sys
import time

STATE_DIR = "/run/breakglass-lab"
PODS = STATE_DIR + "/pods.json"
LOCK = STATE_DIR + "/pods.lock"
ENDPOINT = "unix:///run/containerd/containerd.sock"


def fatal(msg):
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sys.stderr.write('time="%s" level=fatal msg=%s\n' % (ts, json.dumps(msg)))
    sys.exit(1)


def runtime_up():
    try:
        with open(STATE_DIR + "/containerd.pid") as f:
            pid = f.read().strip()
        with open("/proc/%s/comm" % pid) as f:
            return f.read().strip() == "containerd"
    except OSError:
        return False


def require_runtime():
    if not runtime_up():
        fatal(
            'validate service connection: validate CRI v1 runtime API for endpoint "%s": rpc error: '
            'code = Unavailable desc = connection error: desc = "transport: Error while dialing: '
            'dial unix /run/containerd/containerd.sock: connect: no such file or directory"' % ENDPOINT
        )


class State:
    """The pods file under an exclusive flock (shared with the lab's seeding)."""

    def __enter__(self):
        self.lock = open(LOCK, "a")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        try:
            with open(PODS) as f:
                self.items = json.load(f).get("items", [])
        except FileNotFoundError:
            self.items = []
        return self

    def save(self):
        tmp = PODS + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"items": self.items}, f, indent=2)
        os.replace(tmp, PODS)

    def __exit__(self, *exc):
        self.lock.close()

    def resolve(self, pod_id):
        matches = [p for p in self.items if p["id"].startswith(pod_id)] if pod_id else []
        exact = [p for p in matches if p["id"] == pod_id]
        if exact:
            return exact[0]
        if len(matches) == 1:
            return matches[0]
        return None


def parse(args, valued, flags):
    """urfave/cli-style flags: --name=V, --name V, -q, -qs ready (combined short options)."""
    opts, positional = {}, []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            positional.extend(args[i + 1:])
            break
        if arg.startswith("-") and arg != "-":
            name = arg.lstrip("-")
            value = None
            if "=" in name:
                name, value = name.split("=", 1)
            names = [name]
            if not arg.startswith("--") and len(name) > 1 and name not in valued and name not in flags:
                names = list(name)
            for j, n in enumerate(names):
                canon = valued.get(n) or flags.get(n)
                if canon is None:
                    fatal("flag provided but not defined: -%s" % n)
                if n in valued:
                    if value is None or j < len(names) - 1:
                        if j < len(names) - 1 or i + 1 >= len(args):
                            fatal("flag needs an argument: -%s" % n)
                        i += 1
                        value = args[i]
                    opts.setdefault(canon, []).append(value)
                else:
                    opts[canon] = True
        else:
            positional.append(arg)
        i += 1
    return opts, positional


GLOBAL_VALUED = {k: k for k in ("runtime-endpoint", "image-endpoint", "timeout", "config")}
GLOBAL_VALUED.update({"r": "runtime-endpoint", "i": "image-endpoint", "t": "timeout", "c": "config"})
GLOBAL_FLAGS = {"debug": "debug", "D": "debug"}


def human_duration(seconds):
    # github.com/docker/go-units HumanDuration, which crictl prints in CREATED.
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return "%d seconds" % s
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return "%d minutes" % m
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return "%d hours" % h
    return "%d days" % (h // 24)


def table(rows):
    # Go's tabwriter as crictl configures it: minwidth 10, padding 3.
    widths = [max(10, max(len(r[c]) for r in rows) + 3) for c in range(len(rows[0]))]
    for r in rows:
        print("".join(cell.ljust(widths[c]) if c < len(r) - 1 else cell for c, cell in enumerate(r)).rstrip())


def cmd_pods(args):
    valued = {"id": "id", "name": "name", "namespace": "namespace", "state": "state", "s": "state",
              "label": "label", "output": "output", "o": "output", "last": "last", "n": "last"}
    flags = {"verbose": "verbose", "v": "verbose", "quiet": "quiet", "q": "quiet",
             "latest": "latest", "l": "latest", "no-trunc": "no-trunc"}
    opts, _ = parse(args, valued, flags)
    one = lambda k: opts.get(k, [None])[-1]
    state = one("state")
    if state is not None and state.lower() not in ("ready", "notready"):
        fatal("--state should be ready or notready")
    labels = {}
    for l in opts.get("label", []):
        pair = l.split("=")
        if len(pair) != 2:
            fatal("incorrectly specified label: %s" % l)
        labels[pair[0]] = pair[1]
    require_runtime()
    with State() as st:
        items = list(st.items)
    out = []
    for p in items:
        if one("id") and not p["id"].startswith(one("id")):
            continue
        if state and p["state"] != ("SANDBOX_READY" if state.lower() == "ready" else "SANDBOX_NOTREADY"):
            continue
        if any(p.get("labels", {}).get(k) != v for k, v in labels.items()):
            continue
        if one("name") and not re.search(one("name"), p["metadata"]["name"]):
            continue
        if one("namespace") and not re.search(one("namespace"), p["metadata"]["namespace"]):
            continue
        out.append(p)
    out.sort(key=lambda p: int(p["createdAt"]), reverse=True)
    n = len(out)
    if opts.get("latest"):
        n = 1
    if one("last") and int(one("last")) > 0:
        n = int(one("last"))
    out = out[:n]
    fmt = one("output") or "table"
    if fmt == "json":
        print(json.dumps({"items": out}, indent=2))
        return
    if fmt == "yaml":
        fatal("unsupported output format \"yaml\" in the breakglass lab stand-in")
    if fmt != "table":
        fatal('listing pod sandboxes: unsupported output format "%s"' % fmt)
    if opts.get("quiet"):
        for p in out:
            print(p["id"])
        return
    now = time.time()
    rows = [["POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME"]]
    for p in out:
        pid = p["id"] if opts.get("no-trunc") else p["id"][:13]
        created = human_duration(now - int(p["createdAt"]) / 1e9) + " ago"
        rows.append([pid, created, "Ready" if p["state"] == "SANDBOX_READY" else "NotReady",
                     p["metadata"]["name"], p["metadata"]["namespace"],
                     str(p["metadata"].get("attempt", 0)), p.get("runtimeHandler") or "(default)"])
    table(rows)


def not_found(pod_id):
    return ('rpc error: code = NotFound desc = an error occurred when try to find sandbox "%s": not found'
            % pod_id)


def cmd_stopp(args):
    _, ids = parse(args, {}, {})
    if not ids:
        fatal("stopp: POD-ID [POD-ID...] required")
    require_runtime()
    with State() as st:
        for pod_id in ids:
            pod = st.resolve(pod_id)
            if pod is None:
                st.save()
                fatal('stopping the pod sandbox "%s": %s' % (pod_id, not_found(pod_id)))
            pod["state"] = "SANDBOX_NOTREADY"
            print("Stopped sandbox %s" % pod_id)
        st.save()


def cmd_rmp(args):
    opts, ids = parse(args, {}, {"force": "force", "f": "force", "all": "all", "a": "all"})
    require_runtime()
    with State() as st:
        if opts.get("all"):
            ids = [p["id"] for p in st.items]
            if not ids:
                return
        if not ids:
            fatal("rmp: POD-ID [POD-ID...] required")
        errors = []
        for pod_id in ids:
            pod = st.resolve(pod_id)
            if pod is None:
                errors.append('getting sandbox status of pod "%s": %s' % (pod_id, not_found(pod_id)))
                continue
            if pod["state"] == "SANDBOX_READY" and not opts.get("force"):
                errors.append('pod sandbox "%s" is running, please stop it first' % pod_id)
                continue
            st.items.remove(pod)
            print("Removed sandbox %s" % pod_id)
        st.save()
    if errors:
        fatal("[" + ", ".join(errors) + "]" if len(errors) > 1 else errors[0])


def main():
    args = sys.argv[1:]
    # Global flags come before the command.
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name = args[i].lstrip("-").split("=", 1)[0]
        if name in GLOBAL_VALUED and "=" not in args[i]:
            i += 1
        elif name not in GLOBAL_VALUED and name not in GLOBAL_FLAGS:
            fatal("flag provided but not defined: %s" % args[i])
        i += 1
    if i >= len(args):
        print("usage: crictl [global options] command [command options]  (breakglass lab stand-in)")
        return
    command, rest = args[i], args[i + 1:]
    if command == "pods":
        cmd_pods(rest)
    elif command == "stopp":
        cmd_stopp(rest)
    elif command == "rmp":
        cmd_rmp(rest)
    elif command == "version":
        print("Version:  0.1.0\nRuntimeName:  containerd\nRuntimeVersion:  breakglass-lab-standin\nRuntimeApiVersion:  v1")
    else:
        sys.stderr.write("No help topic for '%s'\n" % command)
        sys.exit(3)


if __name__ == "__main__":
    main()
