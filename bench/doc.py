#!/usr/bin/env python3
"""Writes one benchmark run's tables into a Markdown document, between markers.

usage: doc.py DOC KEY TABLE.md CHECKS.txt COMMAND

bench/run.sh passes, in the environment, what it saw when it started, since the run measured
that: BENCH_COMMIT (the checkout's commit, "+ uncommitted changes" if its code had some),
BENCH_DATE and BENCH_LOAD (the load average).

The run's part of DOC is everything between the lines `<!-- bench:KEY -->` and
`<!-- /bench:KEY -->`; it is replaced by a header (the command, date, commit, machine and load)
followed by TABLE.md (what table.py printed) and the correctness checks of CHECKS.txt. Text
outside the markers, written by hand, is kept. Without the markers in DOC, the part is appended
at its end, markers included, so the next run of the same KEY replaces it.
"""
import os
import sys


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.environ["BENCH_LOAD"]
    return f"{os.cpu_count()} CPUs ({model}), load average before the run {load}"


def part(key, table, checks, command):
    commit, now = os.environ["BENCH_COMMIT"], os.environ["BENCH_DATE"]
    lines = [
        f"<!-- bench:{key} -->",
        f"Written by `bench/run.sh` on {now}, commit `{commit}`, {machine()}:",
        "",
        f"    {command}",
        "",
        table.rstrip("\n"),
        "",
        "Correctness checks (finscope's totals against the generator's counts, and the output",
        "of every thread count against `--threads 1`"
        + (", and the lean design's counts against finscope's" if "lean design" in checks else "")
        + "):",
        "",
        "```text",
        checks.rstrip("\n") or "none run",
        "```",
        f"<!-- /bench:{key} -->",
    ]
    return "\n".join(lines) + "\n"


def splice(doc, key, new):
    begin, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    lines = doc.splitlines(keepends=True)
    starts = [i for i, l in enumerate(lines) if l.strip() == begin]
    ends = [i for i, l in enumerate(lines) if l.strip() == end]
    if not starts and not ends:
        sep = "" if doc.endswith("\n\n") or not doc else ("\n" if doc.endswith("\n") else "\n\n")
        return doc + sep + new
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        sys.exit(f"doc.py: the markers for {key} are not one {begin} ... {end} pair")
    return "".join(lines[: starts[0]]) + new + "".join(lines[ends[0] + 1 :])


def main():
    missing = [v for v in ("BENCH_COMMIT", "BENCH_DATE", "BENCH_LOAD") if v not in os.environ]
    if len(sys.argv) != 6 or missing:
        sys.exit(__doc__)
    doc_path, key, table_path, checks_path, command = sys.argv[1:]
    with open(table_path) as f:
        table = f.read()
    with open(checks_path) as f:
        checks = f.read()
    try:
        with open(doc_path) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = ""
    with open(doc_path, "w") as f:
        f.write(splice(doc, key, part(key, table, checks, command)))
    print(f"bench: tables written into {doc_path} ({key})", file=sys.stderr)


if __name__ == "__main__":
    main()
