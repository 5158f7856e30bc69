#!/bin/sh
# breakglass lab stand-in for containerd. NOT a container runtime: a process named `containerd`
# that the stand-in `systemctl` starts and stops, and whose presence the stand-in `crictl`
# checks (crictl fails when the runtime is down, as the real one does). Pods live in
# /run/breakglass-lab/pods.json.
trap 'kill "$child" 2>/dev/null; exit 0' TERM INT
echo "containerd stand-in running"
while :; do
    sleep 3600 &
    child=$!
    wait "$child"
done
