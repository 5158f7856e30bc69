# shellcheck shell=sh
# breakglass lab: the first program of every lab node (src/lab/netns/node.rs). It runs as PID 1 of
# the node's fresh UTS, mount and PID namespaces, inside the node's network namespace
# (`nsenter --net=/run/netns/NS unshare ...`), makes the node's private files visible at the
# paths a real node has them, starts the node's daemons, prints `ready`, and then execs the
# node's init (a reaper; when it dies the kernel kills every process of the node).
#
# Arguments: HOSTNAME SSHD ROLE [SOURCE TARGET]...  (bind mounts, applied in order; the
# caller puts /run last because the host-side lab paths live under the host's /run).
set -eu
hostname "$1"
sshd=$2
role=$3
shift 3
# The mount namespace was copied from the host, including the host's /run/netns bind mounts;
# drop them here so this node does not pin other labs' namespaces (the host is not affected:
# unshare made every mount private).
umount -l /run/netns 2>/dev/null || true
# What `ip netns exec` does: a sysfs that shows this namespace's interfaces (/sys/class/net).
umount -l /sys 2>/dev/null || true
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
while [ "$#" -ge 2 ]; do
    mount --bind "$1" "$2"
    shift 2
done
# From here on only node-view paths exist.
state=/run/breakglass-lab
"$sshd" -f "$state/sshd_config" -E "$state/sshd.log"
if [ -f /etc/kubernetes/etcd.conf.yml ]; then
    # kubeadm runs etcd as a static pod too; here the lab starts Debian's etcd once.
    # shellcheck disable=SC2016 # the inner sh expands $$, $0 and $1
    setsid sh -c 'echo $$ > "$0"; exec etcd --config-file "$1"' \
        "$state/etcd.pid" /etc/kubernetes/etcd.conf.yml </dev/null >>"$state/etcd.log" 2>&1 &
fi
if [ "$role" = control-plane ]; then
    # A static pod in a real cluster: the kubelet starts it from the manifest. Here the lab
    # starts the stand-in once; it restarts itself when the manifest changes.
    # shellcheck disable=SC2016 # the inner sh expands $$ and $0 (its pidfile argument)
    setsid sh -c 'echo $$ > "$0"; exec /usr/local/bin/kube-apiserver' \
        "$state/kube-apiserver.pid" </dev/null >>"$state/kube-apiserver.log" 2>&1 &
fi
# The containers of the telemetry-agent pods (standins/lab-agents.py): idle unless the lab
# writes /etc/kubernetes/lab-agents.
setsid /usr/local/bin/breakglass-lab-agents </dev/null >>"$state/agents.log" 2>&1 &
systemctl start containerd
if [ -z "${BREAKGLASS_LAB_NO_KUBELET:-}" ]; then
    systemctl start kubelet
fi
echo ready
exec /usr/local/bin/breakglass-lab-init </dev/null >>"$state/init.log" 2>&1
