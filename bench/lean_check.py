#!/usr/bin/env python3
"""Compares `pcapfloor --lean`'s counts with `finscope analyze --format json`'s totals.

usage: lean_check.py LEAN.txt ANALYZE.json
Prints one line per compared count: whether the lean design (examples/pcapfloor/lean.rs) gave
finscope's answers on this capture, which is what makes its time a fair lower bound. A
difference is a note, not a failure: the lean design leaves out what finscope does for the
hard cases, and reads only Ethernet/IPv4 frames of legacy pcap (`skipped` says how many it
did not read).
"""
import json
import sys

COUNTS = (
    "connections",
    "closed_by_client",
    "closed_by_server",
    "closed_simultaneously",
    "time_wait_on_client",
    "time_wait_on_server",
)


def main():
    lean = {}
    with open(sys.argv[1]) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            lean[key] = value
    with open(sys.argv[2]) as f:
        report = json.load(f)
    ours = dict(report["totals"])
    ours["requests"] = sum(e.get("http", {}).get("requests", 0) for e in report["endpoints"])
    print(f"  lean design (pcapfloor --lean), skipped {lean.get('skipped')} frames:")
    for key in COUNTS + ("requests",):
        same = int(lean.get(key, -1)) == ours.get(key)
        print(
            f"  {'ok  ' if same else 'note'} {key}: lean {lean.get(key)}, finscope {ours.get(key)}"
        )


if __name__ == "__main__":
    main()
