#!/usr/bin/env python3
"""make bench, part four: what the Waits analysis costs a report.

tests/targets/waits many N: N threads each reading a pipe of its own (whose
other end a child holds: each wait names it, which walks /proc), and N more
waiting in pairs on mutexes. A report asked for over the control channel,
10 times (warm, median); the report's header says how long the analysis
took (waits_us): the report without it is the rest.

Appends its table to bench/RESULTS.md.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (BUILD, LIB)
from python import ask  # noqa: E402  (one report over the control channel)

TARGET = os.path.join(run.BUILD, "targets", "waits")


def measure(args):
    env = dict(os.environ, LD_PRELOAD=run.LIB)
    p = subprocess.Popen([TARGET, "many", str(args.threads)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    try:
        assert p.stdout.readline().startswith("ready")
        time.sleep(0.2)  # past the watcher's first 50 ms
        ask(p.pid)  # warm: libraries loaded, symbols cached
        totals, waits, named = [], [], 0
        for _ in range(args.runs):
            elapsed, doc = ask(p.pid)
            totals.append(elapsed)
            waits.append(doc["header"]["waits_us"] / 1e6)
            named = sum(1 for t in doc["threads"] if t.get("wait", {}).get("holder")
                        or "its other end: process" in t.get("wait", {}).get("text", ""))
    finally:
        p.kill()
        p.wait()
    return totals, waits, named


def render(args, totals, waits, named):
    total, wait = statistics.median(totals), statistics.median(waits)
    return "\n".join([
        "\n## Waits (tests/targets/waits many %d: %d pipe readers, %d mutex waiters; warm, "
        "median of %d)\n" % (args.threads, args.threads, args.threads // 2, args.runs),
        "| report over the channel | of which the Waits analysis | without it | ratio "
        "| waits naming a holder or a pipe's other end |",
        "|---|---|---|---|---|",
        "| %.1f ms | %.1f ms | %.1f ms | %.2fx | %d |" % (
            total * 1000, wait * 1000, (total - wait) * 1000, total / (total - wait), named),
        "\nThe analysis is timed by the report itself (waits_us); the system calls read "
        "before each thread is signalled count in the capture, not here."])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=100)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--append", default=os.path.join(run.ROOT, "bench", "RESULTS.md"))
    args = p.parse_args()
    print("bench: Waits ...", file=sys.stderr)
    text = render(args, *measure(args))
    print(text)
    if args.append:
        with open(args.append, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
