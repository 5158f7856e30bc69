"""bench/fleet.py: the loopback sshd fleet and the per-run measurement that bench/fanout and
bench/runbook share (imported by both; not a program of its own).

The fleet: N addresses 127.0.1.1 .. 127.0.1.250, 127.0.2.1 .. (250 per /24), served by one
`sshd -D` per 16 ListenAddress (sshd's limit), all on one free port, all with one ed25519 host
key; a client key; a known_hosts file trusting every address; a breakglass inventory (TOML with
host-set ranges); a hosts file and an ssh_config for the OpenSSH-based tools. Each sshd runs in a
private mount namespace with an empty file bind-mounted over ~/.bashrc (see bench/fanout's
docstring for why). A subclass changes how each sshd is started (`sshd_argv`) and what its
config holds (`sshd_config`); bench/runbook does, to give every address its own root.

`measure` runs one command through GNU time and reports wall, client CPU (wait4 rusage of the
whole tree), RSS, the sshd fleet's CPU, the addresses sshd started a command session on, and the
machine's other load. Only processes started here are signalled (by PID / own process group).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")
ADDRS_PER_SSHD = 16
PER_OCTET = 250
KEX = "curve25519-sha256"
HOSTKEY_ALG = "ssh-ed25519"


def addr(i):
    """The i-th fleet address (0-based): 127.0.1.1 .. 127.0.1.250, 127.0.2.1 .."""
    return f"127.0.{1 + i // PER_OCTET}.{i % PER_OCTET + 1}"



# ---------------------------------------------------------------------------------------------
# The fleet


class Fleet:
    def __init__(self, n_max, workdir, prog="fanout"):
        self.prog = prog  # names the bench in messages and generated files
        self.n_max = n_max
        self.dir = workdir
        self.procs = []
        self.logs = []
        self.sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        self.addrs = [addr(i) for i in range(n_max)]
        self.user = subprocess.run(["id", "-un"], capture_output=True, text=True,
                                   check=True).stdout.strip()
        self.host_key = os.path.join(workdir, "host_ed25519")
        self.client_key = os.path.join(workdir, "client_ed25519")
        for path, comment in [(self.host_key, "bench host key"),
                              (self.client_key, "bench client key")]:
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                            "-f", path], check=True, stdin=subprocess.DEVNULL)
        self.authorized_keys = os.path.join(workdir, "authorized_keys")
        shutil.copy(self.client_key + ".pub", self.authorized_keys)
        self.port = free_port()
        self.known_hosts = os.path.join(workdir, "known_hosts")
        host_pub = " ".join(open(self.host_key + ".pub").read().split()[:2])
        with open(self.known_hosts, "w") as f:
            for a in self.addrs:
                f.write(f"[{a}]:{self.port} {host_pub}\n")
        self.ssh_config = os.path.join(workdir, "ssh_config")
        with open(self.ssh_config, "w") as f:
            f.write(f"""# bench/{self.prog}: the only config the OpenSSH-based tools read (-F)
Host *
  Port {self.port}
  User {self.user}
  IdentityFile {self.client_key}
  IdentitiesOnly yes
  IdentityAgent none
  KexAlgorithms {KEX}
  HostKeyAlgorithms {HOSTKEY_ALG}
  UserKnownHostsFile {self.known_hosts}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  BatchMode yes
  ControlMaster no
  ControlPath none
  LogLevel ERROR
""")
        self.plain_bashrc = None
        self.connect_timeout = "10s"

    def ssh_opts(self):
        """The options every OpenSSH-based tool gets on its ssh command line."""
        return ["-F", self.ssh_config, "-i", self.client_key, "-p", str(self.port),
                "-o", f"KexAlgorithms={KEX}", "-o", f"HostKeyAlgorithms={HOSTKEY_ALG}",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]

    def hosts_file(self, n):
        path = os.path.join(self.dir, f"hosts-{n}")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write("".join(a + "\n" for a in self.addrs[:n]))
        return path

    def inventory(self, n, cluster=None):
        """A breakglass inventory of the first n addresses, with host-set ranges per /24; with
        `cluster`, every host belongs to `[clusters.CLUSTER]` (runbook steps select by it)."""
        path = os.path.join(self.dir, f"inventory-{n}{'-' + cluster if cluster else ''}.toml")
        if os.path.exists(path):
            return path
        width = max(4, len(str(n)))
        text = (f'[defaults]\nuser = "{self.user}"\nport = {self.port}\n'
                f'identity_files = ["{self.client_key}"]\nknown_hosts = "{self.known_hosts}"\n'
                f'connect_timeout = "{self.connect_timeout}"\ncommand_timeout = "120s"\n\n')
        if cluster:
            text += f'[clusters.{cluster}]\n\n'
        for start in range(0, n, PER_OCTET):
            end = min(n, start + PER_OCTET)
            third = 1 + start // PER_OCTET
            text += (f'[[hosts]]\nname = "node[{start + 1:0{width}d}-{end:0{width}d}]"\n'
                     f'address = "127.0.{third}.[1-{end - start}]"\n')
            text += f'cluster = "{cluster}"\n\n' if cluster else "\n"
        with open(path, "w") as f:
            f.write(text)
        return path

    def sshd_config(self, group, n):
        lines = [f"Port {self.port}"] + [f"ListenAddress {a}" for a in group]
        lines += [
            f'HostKey "{self.host_key}"',
            f'PidFile "{os.path.join(self.dir, f"sshd-{n}.pid")}"',
            f'AuthorizedKeysFile "{self.authorized_keys}"',
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            f"KexAlgorithms {KEX}",
            f"HostKeyAlgorithms {HOSTKEY_ALG}",
            "MaxStartups 4000:30:8000",
            "MaxSessions 64",
            "AcceptEnv PSSH_*",
            "LogLevel VERBOSE",
        ]
        return "\n".join(lines) + "\n"

    def start(self, allow_user_bashrc):
        os.makedirs("/run/sshd", exist_ok=True)
        home = os.path.expanduser("~")
        bashrc = os.path.join(home, ".bashrc")
        wrap = False
        if os.path.isfile(bashrc):
            ok = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL).returncode == 0
            if ok:
                wrap = True
                self.plain_bashrc = os.path.join(self.dir, "bashrc")
                with open(self.plain_bashrc, "w") as f:
                    f.write(f"# bench/{self.prog}: stock shell startup for commands run "
                            "over SSH\n")
            elif not allow_user_bashrc:
                sys.exit(f"{self.prog}: `unshare --mount` does not work here, so sshd would run "
                         f"every command with {bashrc}; rerun as root or pass --allow-user-bashrc")
        for k, start in enumerate(range(0, self.n_max, ADDRS_PER_SSHD)):
            group = self.addrs[start:start + ADDRS_PER_SSHD]
            conf = os.path.join(self.dir, f"sshd-{k}.conf")
            logf = os.path.join(self.dir, f"sshd-{k}.log")
            with open(conf, "w") as f:
                f.write(self.sshd_config(group, k))
            if k == 0:
                t = subprocess.run([self.sshd, "-t", "-f", conf], capture_output=True, text=True)
                if t.returncode != 0:
                    sys.exit(f"{self.prog}: sshd rejected {conf}: {t.stderr.strip()}")
            argv = self.sshd_argv(group, conf, logf, wrap, bashrc)
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            self.procs.append(p)
            self.logs.append(logf)
        self.wait_ready()
        self.stock_startup = wrap

    def sshd_argv(self, group, conf, logf, wrap, bashrc):
        """How one sshd (serving `group`) is started."""
        if wrap:
            # unshare without --fork execs sh, which execs sshd: the PID is sshd's.
            return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    'mount --bind "$1" "$2" && exec "$3" -D -f "$4" -E "$5"', "sh",
                    self.plain_bashrc, bashrc, self.sshd, conf, logf]
        return [self.sshd, "-D", "-f", conf, "-E", logf]

    def wait_ready(self):
        deadline = time.monotonic() + 30
        for a in self.addrs:
            while True:
                try:
                    socket.create_connection((a, self.port), timeout=0.5).close()
                    break
                except OSError:
                    for p in self.procs:
                        if p.poll() is not None:
                            sys.exit(f"{self.prog}: an sshd exited ({p.returncode}) before "
                                     f"listening on {a}; see {self.dir}/sshd-*.log")
                    if time.monotonic() > deadline:
                        sys.exit(f"{self.prog}: sshd does not accept on {a}:{self.port}")
                    time.sleep(0.02)

    def check_shell(self):
        """Runs one command over ssh: proves auth, host key pinning and the plain .bashrc."""
        argv = ["ssh"] + self.ssh_opts() + [self.addrs[0],
                                            'echo "pyenv=${PYENV_ROOT:-unset}"; uname -r']
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            sys.exit(f"{self.prog}: ssh to the fleet failed ({r.returncode}): {r.stderr.strip()}")
        return r.stdout.strip().splitlines()

    def log_sizes(self):
        return [os.path.getsize(p) if os.path.exists(p) else 0 for p in self.logs]

    def accepted_since(self, sizes):
        """Distinct fleet addresses on which sshd started a command session since `sizes`
        (LogLevel VERBOSE: `Connection from SRC port P on DST`, then `Starting session: command
        for USER from SRC port P`; every client connects from 127.0.0.1, so the source port
        pairs the two, read in order per sshd log)."""
        seen = set()
        for path, off in zip(self.logs, sizes):
            dest = {}
            with open(path, "rb") as f:
                f.seek(off)
                for line in f.read().decode(errors="replace").splitlines():
                    m = re.match(r"Connection from \S+ port (\d+) on (\S+) port", line)
                    if m:
                        # Two connections to different addresses may share a source port.
                        dest.setdefault(m.group(1), []).append(m.group(2))
                        continue
                    m = re.match(r"Starting session: command for \S+ from \S+ port (\d+)",
                                 line)
                    if m and dest.get(m.group(1)):
                        seen.add(dest[m.group(1)].pop(0))
        return seen

    def logins_between(self, marks):
        """Logins per fleet address in each window between consecutive `marks` (log_sizes()
        lists, in time order): a list of {address: count}, one per window. A login is sshd's
        `Accepted publickey for USER from SRC port P` (LogLevel VERBOSE); its address is the
        `Connection from SRC port P on DST port` line before it, paired by source port as in
        accepted_since (every client connects from 127.0.0.1)."""
        return self.sessions_between(marks)[0]

    def sessions_between(self, marks):
        """As logins_between, and also the commands sshd started per address in each window
        (`Starting session: command for USER from SRC port P`: one per SSH channel that ran a
        command, paired with its connection's login by source port): (logins, commands).
        Two connections from one source port to two addresses of the same sshd can be logged in
        at once (Linux shares an ephemeral port between different destinations); a command
        started then cannot be told apart and is counted under the address None, so the total
        is exact and the per-address counts are a lower bound."""
        logins = [{} for _ in range(len(marks) - 1)]
        commands = [{} for _ in range(len(marks) - 1)]
        for i, path in enumerate(self.logs):
            bounds = [m[i] for m in marks]
            with open(path, "rb") as f:
                f.seek(bounds[0])
                data = f.read(bounds[-1] - bounds[0])
            dest = {}  # source port -> addresses of connections not yet logged in
            live = {}  # source port -> addresses of connections logged in and not yet closed
            pos = bounds[0]
            w = 0
            for raw in data.splitlines(keepends=True):
                start, pos = pos, pos + len(raw)
                while w + 1 < len(bounds) - 1 and start >= bounds[w + 1]:
                    w += 1
                line = raw.decode(errors="replace")
                m = re.match(r"Connection from \S+ port (\d+) on (\S+) port", line)
                if m:
                    dest.setdefault(m.group(1), []).append(m.group(2))
                    continue
                m = re.match(r"Accepted publickey for \S+ from \S+ port (\d+)", line)
                if m and dest.get(m.group(1)):
                    a = dest[m.group(1)].pop(0)
                    live.setdefault(m.group(1), []).append(a)
                    logins[w][a] = logins[w].get(a, 0) + 1
                    continue
                m = re.match(r"Starting session: command for \S+ from \S+ port (\d+)", line)
                if m and live.get(m.group(1)):
                    on = live[m.group(1)]
                    a = on[0] if len(on) == 1 else None
                    commands[w][a] = commands[w].get(a, 0) + 1
                    continue
                m = re.match(r"Disconnected from user \S+ \S+ port (\d+)", line)
                if m and live.get(m.group(1)):
                    live[m.group(1)].pop(0)
        return logins, commands

    def cpu_ticks(self):
        """CPU of the sshd fleet: the listeners' own time plus their reaped children's."""
        total = 0
        for p in self.procs:
            try:
                with open(f"/proc/{p.pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
            except OSError:
                pass
        return total

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.terminate()  # by PID: only the sshd this script started
                except OSError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.1.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port



# ---------------------------------------------------------------------------------------------
# Measuring one run


class TreeSampler(threading.Thread):
    """Every `interval` s: sum of RSS over the process tree rooted at `root` (and the largest
    single process, and how many processes), via /proc/PID/task/TID/children."""

    def __init__(self, root, interval):
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.stop_evt = threading.Event()
        self.peak_sum = 0
        self.peak_single = 0
        self.peak_procs = 0
        self.samples = 0
        self.cpu = 0.0

    def tree(self):
        """The PIDs below the root (the root is /usr/bin/time, not the tool)."""
        pids, stack = [], [self.root]
        while stack:
            pid = stack.pop()
            if pid != self.root:
                pids.append(pid)
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/children") as f:
                        stack.extend(int(c) for c in f.read().split())
                except OSError:
                    pass
        return pids

    def run(self):
        t0 = time.thread_time()
        while not self.stop_evt.is_set():
            total, single, count = 0, 0, 0
            for pid in self.tree():
                try:
                    with open(f"/proc/{pid}/statm") as f:
                        rss = int(f.read().split()[1]) * PAGE
                except (OSError, IndexError, ValueError):
                    continue
                total += rss
                single = max(single, rss)
                count += 1
            self.samples += 1
            self.peak_sum = max(self.peak_sum, total)
            self.peak_single = max(self.peak_single, single)
            self.peak_procs = max(self.peak_procs, count)
            self.stop_evt.wait(self.interval)
        self.cpu = time.thread_time() - t0


def busy_ticks():
    """CPU time the whole machine spent busy (all CPUs), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)


def measure(argv, env, outdir, tag, fleet, n, timeout, sample_interval):
    out_path = os.path.join(outdir, f"{tag}.out")
    err_path = os.path.join(outdir, f"{tag}.err")
    sizes = fleet.log_sizes()
    sshd_before = fleet.cpu_ticks()
    busy_before = busy_ticks()
    load_before = os.getloadavg()[0]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.monotonic()
        # Through GNU time: ru_maxrss of a process forked from this Python includes the ~15 MB
        # this interpreter had before exec; time's own child is forked from a 1 MB process.
        time_path = os.path.join(outdir, f"{tag}.time")
        p = subprocess.Popen(["/usr/bin/time", "-o", time_path, "-f", "%e %U %S %M"] + argv,
                             env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                             start_new_session=True)
        sampler = TreeSampler(p.pid, sample_interval) if sample_interval > 0 else None
        if sampler:
            sampler.start()
        killed = []

        def watchdog():
            killed.append(True)
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the tool's own process group, nothing else
            except OSError:
                pass

        timer = threading.Timer(timeout, watchdog)
        timer.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        busy = (busy_ticks() - busy_before) / CLK_TCK
        if sampler:
            sampler.stop_evt.set()
            sampler.join()
    time.sleep(0.5)  # let sshd finish logging/reaping the last sessions
    sshd_cpu = (fleet.cpu_ticks() - sshd_before) / CLK_TCK
    cpu = ru.ru_utime + ru.ru_stime
    # Whatever else ran on the machine meanwhile (other builds, tests): the noise indicator.
    other = max(0.0, busy - cpu - sshd_cpu - (sampler.cpu if sampler else 0.0))
    accepted = fleet.accepted_since(sizes)
    try:
        with open(time_path) as f:
            t_wall, t_user, t_sys, t_maxrss = f.read().split()[-4:]
        t_maxrss_mb = int(t_maxrss) / 1024
    except (OSError, ValueError):
        t_wall = t_user = t_sys = None
        t_maxrss_mb = None
    with open(out_path, "rb") as f:
        stdout = f.read().decode(errors="replace")
    with open(err_path, "rb") as f:
        stderr = f.read().decode(errors="replace")
    return {
        "wall_s": wall,
        "exit_code": p.returncode,
        "timed_out": bool(killed),
        "cpu_user_s": ru.ru_utime,
        "cpu_sys_s": ru.ru_stime,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "cpu_per_host_ms": (ru.ru_utime + ru.ru_stime) * 1000 / n,
        "max_rss_single_mb": t_maxrss_mb,
        "time_wall_user_sys": [t_wall, t_user, t_sys],
        "tree_rss_peak_mb": sampler.peak_sum / 2**20 if sampler else None,
        "tree_rss_largest_sampled_mb": sampler.peak_single / 2**20 if sampler else None,
        "tree_peak_procs": sampler.peak_procs if sampler else None,
        "rss_samples": sampler.samples if sampler else 0,
        "sampler_cpu_s": sampler.cpu if sampler else 0.0,
        "sshd_cpu_s": sshd_cpu,
        "sshd_cpu_per_host_ms": sshd_cpu * 1000 / n,
        "sshd_accepted_hosts": len(accepted),
        "machine_busy_s": busy,
        "other_cpu_s": other,
        "other_load_cores": other / wall if wall > 0 else None,
        "loadavg1_before": load_before,
        "stdout_path": out_path,
        "stderr_path": err_path,
    }, stdout, stderr

