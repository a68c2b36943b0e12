#!/usr/bin/env python3
"""Python clients for the finscope sample captures.

Each subcommand is one behaviour; all of them bind their source address so the
client host is recognisable in the capture.

  idle       HOST PORT N IDLE   N connections, one HTTP/1.1 GET each, then idle
                                IDLE seconds (server closes), then close
  linger0    HOST PORT N        N connections, one HTTP/1.1 GET each, close with
                                SO_LINGER {on, 0 s}: the kernel sends RST
  reuse      HOST PORT N SPORT  N sequential HTTP/1.0 GETs, all from the same
                                source port SPORT (SO_REUSEADDR); the server closes
  health     HOST PORT SECS INTERVAL SRC...
                                load-balancer style checks: from every SRC, one
                                connection per check, "HEAD / HTTP/1.0" without Host
  nopool     URL N              requests.get() N times: new connection per call
  pool       URL N IDLE         one requests.Session() for N calls, then IDLE s idle
  pipeline   HOST PORT N        N HTTP/1.1 GETs written in one send() on one connection
  eof        HOST PORT N        N connections, one HTTP/1.1 GET each, read until the
                                server closes (EOF), then close

The client source address is 127.0.0.10 unless CLIENT_ADDR says otherwise.
"""
import os
import socket
import struct
import sys
import threading
import time

import requests
from requests.adapters import HTTPAdapter

CLIENT_ADDR = os.environ.get("CLIENT_ADDR", "127.0.0.10")


def connect(host, port, src=CLIENT_ADDR, sport=0, reuse=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, sport))
    s.connect((host, port))
    return s


def read_response(sock, buf=b"", head_only=False):
    """Read one response with Content-Length; return the bytes left over."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed before response head")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if head_only:
        length = 0
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed inside response body")
        rest += chunk
    return rest[length:]


def get(host, port, path="/", version="1.1", extra=""):
    return ("GET %s HTTP/%s\r\nHost: %s:%d\r\nUser-Agent: finscope-clients\r\n%s\r\n"
            % (path, version, host, port, extra)).encode()


def cmd_idle(host, port, n, idle):
    socks = []
    for i in range(int(n)):
        s = connect(host, int(port))
        s.sendall(get(host, int(port), "/idle/%d" % i))
        read_response(s)
        socks.append(s)
    time.sleep(float(idle))
    for s in socks:
        s.close()


def cmd_linger0(host, port, n):
    for i in range(int(n)):
        s = connect(host, int(port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(get(host, int(port), "/linger0/%d" % i))
        read_response(s)
        s.close()
        time.sleep(0.05)


def cmd_reuse(host, port, n, sport):
    for i in range(int(n)):
        s = connect(host, int(port), sport=int(sport), reuse=True)
        s.sendall(get(host, int(port), "/reuse/%d" % i, version="1.0"))
        read_response(s)
        # Wait for the server's FIN, then close: we are the passive closer, so
        # the source port is free again as soon as our LAST-ACK is answered.
        while s.recv(65536):
            pass
        s.close()
        time.sleep(0.2)


def cmd_health(host, port, secs, interval, *srcs):
    deadline = time.monotonic() + float(secs)

    def checker(src, offset):
        time.sleep(offset)
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            s = connect(host, int(port), src=src)
            s.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            while s.recv(65536):  # HTTP/1.0: the server closes after the response
                pass
            s.close()
            time.sleep(max(0.0, float(interval) - (time.monotonic() - t0)))

    threads = [threading.Thread(target=checker, args=(src, i * float(interval) / len(srcs)))
               for i, src in enumerate(srcs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class SourceAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (CLIENT_ADDR, 0)
        super().init_poolmanager(*args, **kwargs)


def session():
    s = requests.Session()
    s.mount("http://", SourceAdapter())
    return s


def cmd_nopool(url, n):
    # What requests.get() does inside: a throw-away Session per call, closed on
    # return, so every call opens and (client side) closes its own connection.
    for i in range(int(n)):
        with session() as s:
            s.get("%s/nopool/%d" % (url, i)).raise_for_status()
        time.sleep(0.05)


def cmd_pool(url, n, idle):
    s = session()
    for i in range(int(n)):
        s.get("%s/pool/%d" % (url, i)).raise_for_status()
        time.sleep(0.05)
    time.sleep(float(idle))  # the server closes the idle pooled connection
    s.close()


def cmd_pipeline(host, port, n):
    s = connect(host, int(port))
    s.sendall(b"".join(get(host, int(port), "/pipelined/%d" % i) for i in range(int(n))))
    rest = b""
    for _ in range(int(n)):
        rest = read_response(s, rest)
    s.close()


def cmd_eof(host, port, n):
    for i in range(int(n)):
        s = connect(host, int(port))
        s.sendall(get(host, int(port), "/eof/%d" % i))
        while s.recv(65536):
            pass
        s.close()
        time.sleep(0.1)


def main():
    cmds = {"idle": cmd_idle, "linger0": cmd_linger0, "reuse": cmd_reuse, "health": cmd_health,
            "nopool": cmd_nopool, "pool": cmd_pool, "pipeline": cmd_pipeline,
            "eof": cmd_eof}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
