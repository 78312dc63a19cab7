#!/usr/bin/env python3
"""make bench, part three: what Python frames cost a report.

A python3 process with 100 threads, each 30 Python frames deep, asleep; a
report asked for over the control channel, 10 times (warm, median). The
report's header says how long reading the Python stacks took
(python_read_us): the report without them is the rest. Also the time of
`py-spy dump` on the same process, where py-spy is installed, as an anchor.

Then the same for greenlets: a python3 process with 100 suspended
greenlets, each 30 frames deep, among a million other objects the garbage
collector tracks (libgmr walks its lists to find the greenlets).

Appends its table to bench/RESULTS.md.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (BUILD, LIB, env_with)

HOST = r'''
import os, sys, threading
ready = threading.Barrier(%(threads)d + 1)
stop = threading.Event()
def deep(n):
    if n > 1:
        return deep(n - 1)
    ready.wait()
    stop.wait()
for _ in range(%(threads)d):
    threading.Thread(target=deep, args=(%(depth)d,), daemon=True).start()
ready.wait()
print("ready", os.getpid(), flush=True)
sys.stdin.read()
'''

GREEN_HOST = r'''
import os, sys, greenlet
others = [[i] for i in range(%(objects)d)]
def deep(n):
    if n > 1:
        return deep(n - 1)
    greenlet.getcurrent().parent.switch()
suspended = [greenlet.greenlet(deep) for _ in range(%(threads)d)]
for g in suspended:
    g.switch(%(depth)d)
print("ready", os.getpid(), flush=True)
sys.stdin.read()
'''


def ask(pid):
    """(seconds from connect to the last byte, the report parsed)."""
    start = time.perf_counter()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\0gmr-%d" % pid)
    s.sendall(b"report json\n")
    chunks = []
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    s.close()
    elapsed = time.perf_counter() - start
    answer = b"".join(chunks)
    return elapsed, json.loads(answer.split(b"\n", 1)[1])


def measure(args, tmp, host):
    script = os.path.join(tmp, "host.py")
    with open(script, "w") as f:
        f.write(host % {"threads": args.threads, "depth": args.depth, "objects": args.objects})
    env = dict(os.environ, LD_PRELOAD=run.LIB)
    p = subprocess.Popen([args.python, script], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert p.stdout.readline().startswith("ready")
        time.sleep(0.2)  # past the watcher's first 50 ms
        ask(p.pid)  # warm: libraries loaded, symbols cached
        totals, reads, frames, walked = [], [], 0, 0
        for _ in range(args.runs):
            elapsed, doc = ask(p.pid)
            totals.append(elapsed)
            reads.append(doc["header"]["python_read_us"] / 1e6)
            frames = sum(f.get("kind") == "python" for t in doc["threads"] + doc["green_threads"]
                         for f in t["frames"])
            walked = doc["header"].get("gc_objects_walked", 0)
        spy = py_spy(p.pid, args.runs)
    finally:
        p.kill()
        p.wait()
    return totals, reads, frames, spy, walked


def py_spy(pid, runs):
    exe = shutil.which("py-spy")
    if not exe:
        return None
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([exe, "dump", "--pid", str(pid)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
        times.append(time.perf_counter() - start)
    return times


def render(args, what, result):
    totals, reads, frames, spy, walked = result
    total = statistics.median(totals)
    read = statistics.median(reads)
    out = ["\n## Python frames (python3, %s; warm, median of %d)\n" % (what, args.runs),
           "| report over the channel | of which reading the Python stacks | without them "
           "| ratio | Python frames shown | py-spy dump |",
           "|---|---|---|---|---|---|",
           "| %.1f ms | %.1f ms | %.1f ms | %.2fx | %d | %s |" % (
               total * 1000, read * 1000, (total - read) * 1000, total / (total - read), frames,
               "%.1f ms" % (statistics.median(spy) * 1000) if spy else "not installed")]
    if walked:
        out.append("\nTo find the greenlets, the report walked %d objects on the garbage "
                   "collector's lists: %.2f us each, at most, counting all of the reading." % (
                       walked, read * 1e6 / walked))
    else:
        out.append("\nGoal (issue 14): at most 1.5x the report without Python frames. Reading "
                   "is timed by the report itself (python_read_us); placing the frames and "
                   "writing them out is counted in the rest.")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--python", default="/usr/bin/python3" if os.path.exists("/usr/bin/python3")
                   else shutil.which("python3"))
    p.add_argument("--threads", type=int, default=100)
    p.add_argument("--depth", type=int, default=30)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--objects", type=int, default=1000000,
                   help="objects beside the greenlets, for the collector's lists")
    p.add_argument("--append", default=os.path.join(run.ROOT, "bench", "RESULTS.md"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("bench: Python frames ...", file=sys.stderr)
        text = render(args, "%d threads x %d frames, asleep" % (args.threads, args.depth),
                      measure(args, tmp, HOST))
        if subprocess.run([args.python, "-c", "import greenlet"],
                          stderr=subprocess.DEVNULL).returncode == 0:
            text += "\n" + render(args, "%d suspended greenlets x %d frames, %d other objects"
                                   % (args.threads, args.depth, args.objects),
                                   measure(args, tmp, GREEN_HOST))
        else:
            text += "\n\nGreenlets: not measured, greenlet is not installed (python3-greenlet)."
    print(text)
    if args.append:
        with open(args.append, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
