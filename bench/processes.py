#!/usr/bin/env python3
"""make bench, part two: what libgmr costs processes that come and go, and
what asking over the control channel costs.

Measures, on the same machine in the same run (ratios against baselines
taken alongside, medians over several runs):

  spawn     a shell loop that runs /bin/true N times, without libgmr and
            with libgmr inherited by every process (hyperfine); and, as
            the floors of any preloaded library, with an empty one and
            with one that starts a sleeping thread (libgmr's watcher is
            one); and the page faults of one /bin/true each way
  build     make -j2 of libgmr's own sources (a copy of src/ compiled to
            objects), without and with libgmr inherited by make, the shell,
            gcc and its helpers
  rss       RSS of a 10-thread process before any report
  channel   a report asked for over the control channel (connect, request,
            read to the end) against the same report asked for by signal
            and waited for as a file (inotify), on a 10-thread process; and
            the wall time of gmr-report, a process of its own

Appends its tables to bench/RESULTS.md (run.py writes the rest).
"""

import argparse
import glob
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
import run  # noqa: E402  (the shared Target, env_with and take_report)

GMR_REPORT = os.path.join(run.BUILD, "gmr-report")
SPAWN_SH = "i=0; while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done"


def hyperfine(commands, runs, warmup=1):
    """Median seconds of each command, in order."""
    out = os.path.join(tempfile.mkdtemp(), "h.json")
    subprocess.run(["hyperfine", "-N", "-w", str(warmup), "-r", str(runs), "--export-json", out]
                   + commands, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    with open(out) as f:
        return [r["median"] for r in json.load(f)["results"]]


THREAD_LIB = r'''
#include <poll.h>
#include <pthread.h>
static void *sleep_forever(void *arg) { for (;;) poll(0, 0, -1); return arg; }
__attribute__((constructor)) static void start(void)
{
    pthread_t t;
    pthread_create(&t, 0, sleep_forever, 0);
}
'''


def library(tmp, name, text):
    src = os.path.join(tmp, name + ".c")
    lib = os.path.join(tmp, "lib%s.so" % name)
    with open(src, "w") as f:
        f.write(text)
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-pthread", "-o", lib, src], check=True)
    return lib


def true_faults(preload, runs=50):
    """Median minor page faults of one /bin/true, with `preload` (or none)."""
    env = {"PATH": "/usr/bin:/bin"}
    if preload:
        env["LD_PRELOAD"] = preload
    faults = []
    for _ in range(runs):
        pid = os.posix_spawn("/bin/true", ["true"], env)
        faults.append(os.wait4(pid, 0)[2].ru_minflt)
    return statistics.median(faults)


def spawn(args, tmp):
    script = os.path.join(tmp, "spawn.sh")
    with open(script, "w") as f:
        f.write(SPAWN_SH % args.spawns + "\n")
    empty = library(tmp, "empty", "void gmr_bench_empty(void) {}\n")
    thread = library(tmp, "thread", THREAD_LIB)
    times = hyperfine(["sh " + script,
                       "env LD_PRELOAD=%s sh %s" % (run.LIB, script),
                       "env LD_PRELOAD=%s sh %s" % (empty, script),
                       "env LD_PRELOAD=%s sh %s" % (thread, script)], args.spawn_runs)
    return times + [true_faults(None), true_faults(run.LIB), true_faults(empty),
                    true_faults(thread)]


def build(args, tmp):
    """make -j2 of a copy of src/: every object, from scratch, each run."""
    tree = os.path.join(tmp, "build-tree")
    shutil.copytree(os.path.join(run.ROOT, "src"), os.path.join(tree, "src"))
    shutil.copytree(os.path.join(run.ROOT, "include"), os.path.join(tree, "include"))
    with open(os.path.join(tree, "Makefile"), "w") as f:
        f.write("SRCS := $(wildcard src/*.c src/*/*.c src/report/sections/*.c)\n"
                "OBJS := $(SRCS:%%.c=o/%%.o)\n"
                "CFLAGS := -std=gnu11 -O2 -fPIC -D_GNU_SOURCE -Iinclude -Isrc %s\n"
                "all: $(OBJS)\n"
                "o/%%.o: %%.c\n\t@mkdir -p $(dir $@)\n\t@$(CC) $(CFLAGS) -c $< -o $@\n"
                % subprocess.run(["pkg-config", "--cflags", "libunwind-generic", "libdw"],
                                 capture_output=True, text=True).stdout.strip())
    make = "sh -c 'rm -rf %s/o && make -s -j2 -C %s'" % (tree, tree)
    return hyperfine([make, "env LD_PRELOAD=%s %s" % (run.LIB, make)], args.build_runs)


def rss():
    values = {}
    for preload in (False, True):
        t = run.Target(10, preload=preload)
        time.sleep(1.0)
        values[preload] = t.status("VmRSS")
        t.stop()
    return values


def ask(pid, request="report json"):
    """Seconds from connect to the last byte of the answer."""
    start = time.perf_counter()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\0gmr-%d" % pid)
    s.sendall(request.encode() + b"\n")
    while s.recv(1 << 20):
        pass
    s.close()
    return time.perf_counter() - start


def channel(args, tmp):
    log_dir = os.path.join(tmp, "channel")
    t = run.Target(10, GMR_LOG_DIR=log_dir, GMR_FORMAT="json")
    time.sleep(0.5)
    run.take_report(t, log_dir)  # warm: libraries loaded, symbols cached
    ask(t.pid)
    by_signal, by_channel, by_tool = [], [], []
    for _ in range(args.channel_runs):  # interleaved: the same conditions for both
        by_signal.append(run.take_report(t, log_dir)[0])
        time.sleep(0.05)
        by_channel.append(ask(t.pid))
        time.sleep(0.05)
        by_tool.append(run.timed([GMR_REPORT, "--json", str(t.pid)]))
        time.sleep(0.05)
    t.stop()
    return by_signal, by_channel, by_tool


def render(spawn_t, build_t, rss_v, chan, args):
    out = []
    add = out.append
    plain, gmr, empty, thread, f_plain, f_gmr, f_empty, f_thread = spawn_t
    add("\n## Processes that come and go (median of hyperfine runs)\n")
    add("| what | without libgmr | with libgmr inherited | ratio | an empty preloaded "
        "library | one that starts a sleeping thread |")
    add("|---|---|---|---|---|---|")
    add("| sh loop running /bin/true %d times (%d runs) | %.0f ms | %.0f ms | %.2fx | "
        "%.0f ms (%.2fx) | %.0f ms (%.2fx) |" % (
            args.spawns, args.spawn_runs, plain * 1000, gmr * 1000, gmr / plain,
            empty * 1000, empty / plain, thread * 1000, thread / plain))
    add("| page faults of one /bin/true (median of 50) | %d | %d | %+d | %+d | %+d |" % (
        f_plain, f_gmr, f_gmr - f_plain, f_empty - f_plain, f_thread - f_plain))
    add("| make -j2 of src/ (%d objects, %d runs) | %.2f s | %.2f s | %.3fx | - | - |" % (
        build_t[2], args.build_runs, build_t[0], build_t[1], build_t[1] / build_t[0]))
    add("| RSS of a 10-thread process before any report | %d KiB | %d KiB | %+d KiB | - | - |" % (
        rss_v[False], rss_v[True], rss_v[True] - rss_v[False]))
    sig, chn, tool = chan
    add("\n## Asking over the control channel (10 threads, JSON, warm; ms, median [min-max] of "
        "%d)\n" % args.channel_runs)
    add("| by signal, to the log dir (inotify) | over the channel (connect to last byte) "
        "| difference | gmr-report, a process of its own |")
    add("|---|---|---|---|")
    ms = lambda v: run.median_spread(v, 1000.0, 2)
    add("| %s | %s | %+.2f | %s |" % (ms(sig), ms(chn), (statistics.median(chn)
                                                          - statistics.median(sig)) * 1000,
                                       ms(tool)))
    add("\nGoals (issue 13): the spawn loop at most 1.2x, make -j2 at most 1.03x, RSS before "
        "the first report at most +512 KiB, the channel at most 1 ms more than a report by "
        "signal.")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--spawns", type=int, default=1000)
    p.add_argument("--spawn-runs", type=int, default=10)
    p.add_argument("--build-runs", type=int, default=3)
    p.add_argument("--channel-runs", type=int, default=20)
    p.add_argument("--append", default=os.path.join(run.ROOT, "bench", "RESULTS.md"))
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="gmr-bench-processes-")
    try:
        print("bench: spawn loop ...", file=sys.stderr)
        spawn_t = spawn(args, tmp)
        print("bench: make -j2 ...", file=sys.stderr)
        b = build(args, tmp)
        objects = len(glob.glob(os.path.join(run.ROOT, "src", "**", "*.c"), recursive=True))
        print("bench: RSS and the channel ...", file=sys.stderr)
        rss_v = rss()
        chan = channel(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = render(spawn_t, b + [objects], rss_v, chan, args)
    print(text)
    if args.append:
        with open(args.append, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
