#!/usr/bin/env python3
"""Runs a command and reports its peak memory split by kind, which `time -v` cannot do. With TRACE=FILE it
also writes one line a second: seconds since start and resident kB.

    Benchmarks/peak_memory.py REPORT_FILE COMMAND [ARG...]

A memory-mapped index counts in the resident set while its pages are cached, but those pages are clean file
pages the kernel drops under pressure; anonymous memory is what the process really holds. The report file gets
one line: `peak_rss_mb=M peak_anon_mb=A peak_file_mb=F wall_s=S`. The command's output and exit status pass
through unchanged.
"""
import os
import subprocess
import sys
import time


def sample(pid):
    values = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    values[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return values


def descendants(root):
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                pass
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    report, command = sys.argv[1], sys.argv[2:]
    started = time.monotonic()
    process = subprocess.Popen(command)
    peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    trace = open(os.environ["TRACE"], "w") if os.environ.get("TRACE") else None
    last_trace = -1.0
    while process.poll() is None:
        if trace is not None and time.monotonic() - last_trace >= 1:
            # One line a second: seconds since start, resident kB of the largest process of the tree.
            last_trace = time.monotonic()
            largest = max((sample(pid).get("VmRSS", 0) for pid in [process.pid] + descendants(process.pid)), default=0)
            trace.write(f"{last_trace - started:.1f} {largest}\n")
            trace.flush()
        # The command may be a wrapper (`time`, a shell): the largest process in its tree is the one measured.
        for pid in [process.pid] + descendants(process.pid):
            for key, value in sample(pid).items():
                if key in peak:
                    peak[key] = max(peak[key], value)
        time.sleep(0.05)
    wall = time.monotonic() - started
    with open(report, "w") as out:
        out.write(f"peak_rss_mb={peak['VmRSS'] // 1024} peak_anon_mb={peak['RssAnon'] // 1024} "
                  f"peak_file_mb={peak['RssFile'] // 1024} wall_s={wall:.2f}\n")
    sys.exit(process.returncode)


if __name__ == "__main__":
    main()
