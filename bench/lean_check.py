#!/usr/bin/env python3
"""Compares `pcapfloor --lean`'s counts with `finscope analyze --format json`'s totals.

usage: lean_check.py LEAN.txt ANALYZE.json
LEAN.txt is what `pcapfloor --lean [--heads]` printed.
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
    http = [e["http"] for e in report["endpoints"] if e.get("http")]
    ours["requests"] = sum(h["requests"] for h in http)
    ours["requests_http10"] = sum(h["request_versions"].get("1.0", 0) for h in http)
    for key in ("connection_close_by_client", "connection_close_by_server"):
        ours[key] = sum(h[key] for h in http)
    flags = "--lean --heads" if "requests_http10" in lean else "--lean"
    print(f"  lean design (pcapfloor {flags}), skipped {lean.get('skipped')} frames:")
    heads = ("requests_http10", "connection_close_by_client", "connection_close_by_server")
    for key in COUNTS + ("requests",) + tuple(k for k in heads if k in lean):
        same = int(lean.get(key, -1)) == ours.get(key)
        print(
            f"  {'ok  ' if same else 'note'} {key}: lean {lean.get(key)}, finscope {ours.get(key)}"
        )


if __name__ == "__main__":
    main()
