#!/usr/bin/env python3
"""Cross-check for captures/README.md: per-connection teardown from tshark fields.

Not finscope: a deliberately simple reading of `tshark -T fields` output, used to
write down and re-check the expected verdicts. Usage: summarize.py FILE [-v] [--ss SS_TIME_WAIT_FILE]

Per tcp.stream: opener (sender of the bare SYN), first FIN or RST sender, whether
the peer's FIN acknowledged it (active/passive) or crossed it (simultaneous),
RSTs per side, HTTP requests (tshark's http.request; 0 on TLS), and the TIME-WAIT
holder: the active closer, once its ACK covers the peer's FIN (both sides for a
simultaneous close; nobody when the connection ended with RST).
"""
import collections
import subprocess
import sys

FIELDS = ["frame.number", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst",
          "ipv6.dst", "tcp.dstport", "tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tcp.len"]


def tshark(path, *args):
    # check=False: a truncated file makes tshark exit 2 after printing every complete packet.
    out = subprocess.run(["tshark", "-r", path, "-n", *args], check=False,
                         capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def ep(ip4, ip6, port):
    return "[%s]:%s" % (ip6, port) if ip6 and not ip4 else "%s:%s" % (ip4, port)


def main():
    path = sys.argv[1]
    verbose = "-v" in sys.argv
    rows = tshark(path, "-T", "fields", *sum((["-e", f] for f in FIELDS), []), "-Y", "tcp")
    # One frame can carry several requests (pipelining): count the methods, not the frames.
    reqs = collections.Counter()
    for r in tshark(path, "-T", "fields", "-e", "tcp.stream", "-e", "http.request.method",
                    "-Y", "http.request"):
        reqs[r[0]] += len(r[1].split(","))
    streams = collections.OrderedDict()
    for r in rows:
        frame, stream, s4, s6, sp, d4, d6, dp, flags, seq, ack, ln = r
        src, dst = ep(s4, s6, sp), ep(d4, d6, dp)
        st = streams.setdefault(stream, {"pkts": [], "client": None, "server": None})
        st["pkts"].append((int(frame), src, dst, int(flags, 16), int(seq), int(ack or 0), int(ln)))
    per_server = collections.OrderedDict()
    tw_hosts = collections.Counter()
    print("stream client -> server  reqs  first_close  how  rst  time_wait")
    for sid, st in streams.items():
        pk = st["pkts"]
        syn = next((p for p in pk if p[3] & 0x02 and not p[3] & 0x10), None)
        if syn:
            client, server = syn[1], syn[2]
        else:
            client, server = pk[0][1], pk[0][2]
        fins = collections.OrderedDict()  # side -> (frame, fin_seq_end)
        rst = collections.Counter()
        first = None
        for frame, src, dst, fl, seq, ack, ln in pk:
            side = "client" if src == client else "server"
            if fl & 0x04:
                rst[side] += 1
                if first is None:
                    first = (side, "rst", frame)
            if fl & 0x01 and side not in fins:
                fins[side] = (frame, seq + ln + 1)
                if first is None:
                    first = (side, "fin", frame)
        how = "-"
        tw = "none"
        if first and first[1] == "fin":
            a = first[0]
            p = "server" if a == "client" else "client"
            how = "active"
            if p in fins:
                pfr, pend = fins[p]
                # Did the passive side's FIN acknowledge the active FIN?
                pfin = next(x for x in pk if x[0] == pfr)
                if not (pfin[3] & 0x10 and pfin[5] == fins[a][1]):
                    how = "simultaneous"
                # The active side holds TIME-WAIT once it ACKs the peer's FIN and no RST ended it.
                acked = any((x[1] == (client if a == "client" else server)) and x[3] & 0x10
                            and x[5] == pend and x[0] > pfr for x in pk)
                if how == "simultaneous":
                    tw = "both"
                elif acked and not rst:
                    tw = a
                elif acked:
                    tw = a + "(rst-later)"
                else:
                    tw = a + "?(no final ack seen)"
            else:
                tw = a + "?(peer FIN not seen)"
        elif first and first[1] == "rst":
            how = "rst"
        name = {"client": client, "server": server}
        holder = tw
        if tw in ("client", "server"):
            holder = name[tw].rsplit(":", 1)[0]
            tw_hosts[holder] += 1
        elif tw == "both":
            tw_hosts[client.rsplit(":", 1)[0]] += 1
            tw_hosts[server.rsplit(":", 1)[0]] += 1
        agg = per_server.setdefault(server, collections.Counter())
        agg["connections"] += 1
        agg["first_close_" + (first[0] if first else "none") + ("_" + first[1] if first else "")] += 1
        if how == "simultaneous":
            agg["simultaneous"] += 1
        agg["rst_by_client"] += rst["client"] and 1
        agg["rst_by_server"] += rst["server"] and 1
        agg["requests"] += reqs.get(sid, 0)
        agg["reqs_per_conn=%d" % reqs.get(sid, 0)] += 1
        agg["tw_on_" + holder] += 1
        if verbose:
            print("%6s %s -> %s  %d  %s  %s  %s  %s" % (
                sid, client, server, reqs.get(sid, 0),
                "%s(%s@%d)" % first if first else "none", how,
                "c%d/s%d" % (rst["client"], rst["server"]), holder))
    print()
    for server, agg in per_server.items():
        print("server endpoint %s:" % server)
        for k in sorted(agg):
            print("    %s: %d" % (k, agg[k]))
    print("TIME-WAIT per host (after the capture):", dict(sorted(tw_hosts.items())))
    if "--ss" in sys.argv:
        # Independent check: the kernel's TIME-WAIT sockets (ss -Htan state time-wait,
        # taken right after the capture) whose 4-tuple is one of this capture's.
        pairs = {frozenset((st["pkts"][0][1], st["pkts"][0][2])) for st in streams.values()}
        seen = collections.Counter()
        for line in open(sys.argv[sys.argv.index("--ss") + 1]):
            cols = line.split()
            if len(cols) >= 4 and frozenset((cols[2], cols[3])) in pairs:
                seen[cols[2].rsplit(":", 1)[0].strip("[]")] += 1
        print("ss TIME-WAIT sockets on these 4-tuples, by local host:", dict(sorted(seen.items())))


if __name__ == "__main__":
    main()
