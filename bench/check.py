#!/usr/bin/env python3
"""Compares `finscope analyze --format json` totals with gencap's expected counts.

usage: check.py FILE.expected ANALYZE.json
Prints one line per compared count; exits 1 on any mismatch.
"""
import json
import sys


def main():
    expected_path, json_path = sys.argv[1], sys.argv[2]
    expected = {}
    with open(expected_path) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            expected[key] = value
    with open(json_path) as f:
        report = json.load(f)
    totals = report["totals"]
    dq = report["data_quality"]

    bad = []
    print(f"{expected['file']}:")
    for key, value in expected.items():
        if not key.startswith("expect_"):
            continue
        field = key[len("expect_"):]
        got = totals.get(field)
        ok = got == int(value)
        print(f"  {'ok  ' if ok else 'FAIL'} {field}: expected {value}, finscope {got}")
        if not ok:
            bad.append(field)
    # Every packet written is TCP and must be decoded as such.
    for field, want in (("packets", int(expected["packets"])), ("tcp_segments", int(expected["packets"]))):
        ok = dq.get(field) == want
        print(f"  {'ok  ' if ok else 'FAIL'} data_quality.{field}: expected {want}, finscope {dq.get(field)}")
        if not ok:
            bad.append(field)
    if dq.get("anomalies"):
        print(f"  FAIL data_quality.anomalies: expected none, finscope {dq['anomalies']}")
        bad.append("anomalies")
    print(
        f"  info: tuple_reuses {dq.get('tuple_reuses')} (generator: {expected.get('tuple_repeats')} "
        "4-tuple repeats; finscope counts only those that come back while the old connection "
        "is still held), peak_tracked_connections "
        f"{dq.get('peak_tracked_connections')} (generator: {expected.get('peak_open_connections')} "
        "open at once; finscope also holds closed ones for the 5 s linger)"
    )
    if bad:
        print(f"  MISMATCH: {', '.join(bad)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
