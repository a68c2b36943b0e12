#!/usr/bin/env python3
"""Turns bench/run.sh results (tool, file, "wall user sys maxrss_kb") into Markdown tables.

usage: table.py RESULTS.tsv [PACKETS.tsv]
PACKETS.tsv has "file<TAB>packets" lines (bench/run.sh takes them from examples/pcapfloor);
without a line for a file, its packets come from FILE.expected (gencap's counts).

MB = 10^6 bytes, MiB = 2^20 (peak RSS: GNU time %M is KiB). CPU = user + sys.
- MB/s (wall): file size / median wall time: how long a user waits.
- MB/s per core (CPU): file size / median CPU time: what one core does; for a run on N
  threads this is the throughput per core used, for one thread it is close to MB/s (wall).
- cores: median CPU time / median wall time.
- Mpackets/s uses the median CPU time (per core).
Then, per file, the ratios of median CPU times (finscope against the floor and the other tools).
"""
import os
import statistics
import sys

NAMES = {
    "analyze": "`finscope analyze --format json --direct-io=off`",
    "conns": "`finscope conns --direct-io=off` (NDJSON)",
    "floor": "`pcapfloor` (pcap-parser, records only)",
    "fins": "`pcapfloor --fins` (records, FINs per 4-tuple)",
    "direct": "`finscope analyze --format json --direct-io`",
    "auto": "`finscope analyze --format json` (defaults: threads, --direct-io=auto)",
    "floordirect": "`pcapfloor --direct` (records, direct I/O)",
    "finsdirect": "`pcapfloor --fins --direct` (FINs per 4-tuple, direct I/O)",
    "lean": "`pcapfloor --lean` (the four answers, 48 bytes a connection, in the table)",
    "leandirect": "`pcapfloor --lean --direct` (the same, direct I/O)",
    "leanboxed": "`pcapfloor --lean --boxed` (the same facts in an 864-byte box)",
    "leansplit": "`pcapfloor --lean --split` (facts in the slot, the rest of the box read when the connection goes)",
    "leanearly": "`pcapfloor --lean --split --early` (the same, the box read and freed when the close completes)",
    "leanheads": "`pcapfloor --lean --heads` (and each HTTP head parsed)",
    "leanheadsdirect": "`pcapfloor --lean --heads --direct` (the same, direct I/O)",
    "cat": "`cat` (reading the file)",
    "tshark": "`tshark -q -z conv,tcp`",
    "tcptrace": "`tcptrace -n -l`",
}


def tool_name(tool):
    base, _, threads = tool.partition("-t")
    name = NAMES.get(base, base)
    if threads:
        command = "analyze" if base == "direct" else base
        name = name.replace(
            "`finscope " + command, f"`finscope {command} --threads {threads}", 1
        )
    return name


def expected_packets(path):
    try:
        with open(path + ".expected") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "packets":
                    return int(value)
    except OSError:
        pass
    return None


def read_packets(path):
    counts = {}
    if path:
        with open(path) as f:
            for line in f:
                file, _, n = line.rstrip("\n").partition("\t")
                if n.strip().isdigit():
                    counts[file] = int(n)
    return counts


def main():
    rows = {}
    order = []
    with open(sys.argv[1]) as f:
        for line in f:
            tool, path, measured = line.rstrip("\n").split("\t")
            wall, user, sys_s, rss = measured.split()
            key = (path, tool)
            if key not in rows:
                rows[key] = []
                order.append(key)
            rows[key].append((float(wall), float(user) + float(sys_s), int(rss)))
    packet_counts = read_packets(sys.argv[2] if len(sys.argv) > 2 else None)

    print(
        "| tool | file | packets | runs | wall s min / median / max | CPU s min / median / max "
        "| MB/s (wall) | MB/s per core (CPU) | cores | Mpackets/s (CPU) | peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    medians = {}
    for path, tool in order:
        runs = rows[(path, tool)]
        walls = sorted(r[0] for r in runs)
        cpus = sorted(r[1] for r in runs)
        rss_mib = max(r[2] for r in runs) / 1024
        size = os.path.getsize(path)
        packets = packet_counts.get(path) or expected_packets(path)
        wall_med = statistics.median(walls)
        cpu_med = statistics.median(cpus)
        medians[(path, tool)] = cpu_med
        per_wall = f"{size / 1e6 / wall_med:,.0f}" if wall_med > 0 else "n/a"
        per_core = f"{size / 1e6 / cpu_med:,.0f}" if cpu_med > 0 else "n/a"
        cores = f"{cpu_med / wall_med:.2f}" if wall_med > 0 else "n/a"
        pps = f"{packets / 1e6 / cpu_med:.2f}" if cpu_med > 0 and packets else "n/a"
        print(
            f"| {tool_name(tool)} | {os.path.basename(path)} ({size / 1e6:,.0f} MB) "
            f"| {packets / 1e6 if packets else 0:.2f} M | {len(runs)} "
            f"| {walls[0]:.2f} / {wall_med:.2f} / {walls[-1]:.2f} "
            f"| {cpus[0]:.2f} / {cpu_med:.2f} / {cpus[-1]:.2f} "
            f"| {per_wall} | {per_core} | {cores} | {pps} | {rss_mib:,.1f} |"
        )

    # Ratios of median CPU time, per file: how far finscope is from the floor, how far the
    # other tools are from finscope.
    lines = []
    for path in dict.fromkeys(p for p, _ in order):
        tools = {t: medians[(p, t)] for p, t in order if p == path}
        for ours in (t for t in tools if t.startswith(("analyze", "conns", "direct", "auto"))):
            mine = tools[ours]
            if mine <= 0:
                continue
            # Direct I/O (asked for, or as auto may choose) against both floors: the page
            # cache's and its own.
            for other in (
                "floor",
                "floordirect",
                "fins",
                "finsdirect",
                "lean",
                "leandirect",
                "leanheads",
                "leanheadsdirect",
                "cat",
            ):
                if other.startswith(("fins", "lean")) and ours.startswith("conns"):
                    continue
                if other.endswith("direct") and not ours.startswith(("direct", "auto")):
                    continue
                if tools.get(other, 0) > 0:
                    lines.append(
                        f"| {os.path.basename(path)} | {tool_name(ours)} / {tool_name(other)} "
                        f"| {mine / tools[other]:.1f}x |"
                    )
            if ours.startswith("conns"):
                continue
            for other in ("tshark", "tcptrace"):
                if other in tools:
                    lines.append(
                        f"| {os.path.basename(path)} | {tool_name(other)} / {tool_name(ours)} "
                        f"| {tools[other] / mine:.1f}x |"
                    )
        # The least per-connection work, and the lean design, against the floor and tshark: how
        # much of the targets' room they take.
        for least, floor in (
            ("fins", "floor"),
            ("finsdirect", "floordirect"),
            ("lean", "floor"),
            ("leandirect", "floordirect"),
            ("leanboxed", "lean"),
            ("leansplit", "lean"),
            ("leanearly", "lean"),
            ("leanheads", "floor"),
            ("leanheadsdirect", "floordirect"),
        ):
            if tools.get(least, 0) <= 0:
                continue
            for other in (floor, "tshark"):
                if tools.get(other, 0) > 0:
                    first, second = (least, other) if other == floor else (other, least)
                    lines.append(
                        f"| {os.path.basename(path)} | {tool_name(first)} / {tool_name(second)} "
                        f"| {tools[first] / tools[second]:.1f}x |"
                    )
    if lines:
        print()
        print("| file | median CPU time ratio | |")
        print("|---|---|---|")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
