#!/usr/bin/env python3
"""Turns bench/run.sh results (tool, file, "wall user sys maxrss_kb") into a Markdown table.

usage: table.py RESULTS.tsv
MB = 10^6 bytes, MiB = 2^20 (peak RSS: GNU time %M is KiB). CPU = user + sys. MB/s and packets/s use the median CPU time.
"""
import os
import statistics
import sys


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

    print("| tool | file | packets | runs | wall s min / median / max | CPU s min / median / max "
          "| MB/s (CPU) | Mpackets/s (CPU) | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path, tool in order:
        runs = rows[(path, tool)]
        walls = sorted(r[0] for r in runs)
        cpus = sorted(r[1] for r in runs)
        rss_mib = max(r[2] for r in runs) / 1024
        size = os.path.getsize(path)
        packets = expected_packets(path)
        cpu_med = statistics.median(cpus)
        mbps = f"{size / 1e6 / cpu_med:,.0f}" if cpu_med > 0 else "n/a"
        pps = f"{packets / 1e6 / cpu_med:.2f}" if cpu_med > 0 and packets else "n/a"
        name = {
            "analyze": "`finscope analyze --format json`",
            "conns": "`finscope conns` (NDJSON)",
            "cat": "`cat` (floor)",
            "tshark": "`tshark -q -z conv,tcp`",
        }.get(tool, tool)
        print(
            f"| {name} | {size / 1e6:,.0f} MB | {packets / 1e6 if packets else 0:.2f} M | {len(runs)} "
            f"| {walls[0]:.2f} / {statistics.median(walls):.2f} / {walls[-1]:.2f} "
            f"| {cpus[0]:.2f} / {cpu_med:.2f} / {cpus[-1]:.2f} "
            f"| {mbps} | {pps} | {rss_mib:,.1f} |"
        )


if __name__ == "__main__":
    main()
