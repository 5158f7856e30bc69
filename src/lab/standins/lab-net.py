#!/usr/bin/python3
"""breakglass lab: the network probes the lab's test helpers run inside a node's namespaces
(or on the operator side). Not a stand-in for anything a node has.

    breakglass-lab-net probe HOST PORT TIMEOUT_SECONDS
        prints one of: connected | refused | timeout | unreachable <reason>
    breakglass-lab-net watch HOST PORT CAFILE SERVER_NAME [PATH]
        opens a TLS connection (verifying CAFILE and SERVER_NAME), sends GET PATH (default a
        pod watch), prints `connected` once the response starts, then `event` for each chunk of the
        stream received, and
        `closed <reason>` when the stream ends. The lab counts it alive while events arrive.
"""
import errno
import socket
import ssl
import sys


def probe(host, port, timeout):
    try:
        socket.create_connection((host, int(port)), timeout=float(timeout)).close()
        print("connected")
    except ConnectionRefusedError:
        print("refused")
    except (socket.timeout, TimeoutError):
        print("timeout")
    except OSError as e:
        if e.errno == errno.ETIMEDOUT:
            print("timeout")
        else:
            print("unreachable " + (e.strerror or str(e)))


def watch(host, port, ca, server_name, path="/api/v1/watch/pods?watch=true"):
    try:
        ctx = ssl.create_default_context(cafile=ca)
        raw = socket.create_connection((host, int(port)), timeout=5)
        sock = ctx.wrap_socket(raw, server_hostname=server_name)
        sock.settimeout(None)
        sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: breakglass-lab-net\r\n\r\n"
                      % (path, server_name)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(4096)
            if not data:
                print("closed by server before a response", flush=True)
                return
            head += data
        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if status.split(" ")[1:2] != ["200"]:
            print("closed " + status, flush=True)
            return
        print("connected", flush=True)
        while True:
            data = sock.recv(4096)
            if not data:
                print("closed by server", flush=True)
                return
            print("event", flush=True)
    except (OSError, ssl.SSLError) as e:
        print("closed " + (str(e) or e.__class__.__name__).replace("\n", " "), flush=True)


def main():
    args = sys.argv[1:]
    if len(args) == 4 and args[0] == "probe":
        probe(*args[1:])
    elif len(args) in (5, 6) and args[0] == "watch":
        watch(*args[1:])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
