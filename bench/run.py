#!/usr/bin/env python3
"""make bench: libgmr side by side with eu-stack and gdb, in one run.

Measures, on the same machine in the same run (ratios against baselines
taken alongside, medians over several runs):

  latency   trigger to the complete report file in place (GMR_LOG_DIR), for
            N threads 20 frames deep, first report of a fresh process (cold)
            and the following ones (warm); eu-stack -p and gdb -batch on
            the same process
  pause     the largest gap busy threads see in their own progress while a
            report is taken, against a window with no report; and libgmr's
            own count of time spent in its handler per thread
  idle      start-up time of /bin/true with and without libgmr, RSS before
            any report, the watcher's wake-ups over 10 idle seconds
  memory    RSS of a 1000-thread process before, during (peak) and after 5
            reports, and after the symbol cache is released

Prints one table and writes it to bench/RESULTS.md with the command used.
"""

import argparse
import ctypes
import json
import os
import platform
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
LIB = os.path.join(BUILD, "libgmr.so")
TARGET = os.path.join(BUILD, "bench", "target")
TRUE = os.path.join(BUILD, "bench", "true")
DEPTH = 20


# GMR_CAPTURE for every run, from --capture: the backends side by side.
CAPTURE = None


def env_with(preload=True, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMR_")}
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = LIB
    if preload and CAPTURE:
        env["GMR_CAPTURE"] = CAPTURE
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Target:
    def __init__(self, n, mode="parked", preload=True, shm=None, **gmr):
        argv = [TARGET, str(n), str(DEPTH), mode] + ([shm] if shm else [])
        self.proc = subprocess.Popen(argv, env=env_with(preload, **gmr), stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready"):
            raise SystemExit("bench: the target did not start")
        self.pid = self.proc.pid

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()

    def status(self, field):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def watcher(self):
        for tid in os.listdir("/proc/%d/task" % self.pid):
            with open("/proc/%d/task/%s/comm" % (self.pid, tid)) as f:
                if f.read().strip() == "gmr-watcher":
                    return int(tid)
        return None

    def wait_watcher_idle(self, timeout=10.0):
        """Waits until the watcher is back in ppoll: the report it renamed
        into place is also cleaned up after (memory given back)."""
        w = self.watcher()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with open("/proc/%d/task/%d/syscall" % (self.pid, w)) as f:
                if f.read().split()[0] == str(SYS_PPOLL):
                    return
            time.sleep(0.005)
        raise SystemExit("bench: the watcher did not go back to waiting")


LIBC = ctypes.CDLL(None, use_errno=True)
SYS_PPOLL = 271  # x86_64
IN_MOVED_TO = 0x80
IN_CREATE = 0x100


def take_report(t, log_dir, timeout=120):
    """Signals the target; returns (seconds until the report is in place, path).

    Waits on inotify for the link (or, where unnamed files are not
    supported, the rename) that puts the report in place, so the wait costs
    no CPU the report itself could use (2 cores)."""
    os.makedirs(log_dir, exist_ok=True)
    fd = LIBC.inotify_init1(os.O_CLOEXEC)
    if fd < 0 or LIBC.inotify_add_watch(fd, log_dir.encode(), IN_CREATE | IN_MOVED_TO) < 0:
        raise SystemExit("bench: inotify: %s" % os.strerror(ctypes.get_errno()))
    try:
        start = time.perf_counter()
        t.proc.send_signal(signal.SIGUSR2)
        while True:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise SystemExit("bench: no report within %d s" % timeout)
            data = os.read(fd, 4096)
            elapsed = time.perf_counter() - start
            off = 0
            while off < len(data):
                _, _, _, length = struct.unpack_from("iIII", data, off)
                name = data[off + 16:off + 16 + length].rstrip(b"\0").decode()
                off += 16 + length
                if "_gurumeditation_" in name:
                    return elapsed, os.path.join(log_dir, name)
    finally:
        os.close(fd)


def timed(argv, env=None):
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def median_spread(values, scale=1000.0, digits=0):
    fmt = "%%.%df" % digits
    m = fmt % (statistics.median(values) * scale)
    return "%s [%s-%s]" % (m, fmt % (min(values) * scale), fmt % (max(values) * scale))


def header(path):
    with open(path) as f:
        return json.load(f)["header"]


# ---- latency ----

def latency(n, args, tmp):
    row = {"threads": n}
    cold = []
    for i in range(args.cold_runs):
        log_dir = os.path.join(tmp, "cold-%d-%d" % (n, i))
        t = Target(n, GMR_LOG_DIR=log_dir, GMR_FORMAT="json", GMR_CAPTURE_TIMEOUT=10)
        time.sleep(0.5)
        cold.append(take_report(t, log_dir)[0])
        t.stop()
    log_dir = os.path.join(tmp, "warm-%d" % n)
    t = Target(n, GMR_LOG_DIR=log_dir, GMR_FORMAT="json", GMR_CAPTURE_TIMEOUT=10)
    time.sleep(0.5)
    take_report(t, log_dir)
    warm, pauses = [], []
    for _ in range(args.warm_runs):
        elapsed, path = take_report(t, log_dir)
        warm.append(elapsed)
        h = header(path)
        pauses.append((h["pause_median_ns"], h["pause_max_ns"], h["capture_us"]))
        time.sleep(0.05)
    eu = [timed(["eu-stack", "-p", str(t.pid)]) for _ in range(args.eu_runs)] \
        if shutil.which("eu-stack") else []
    gdb_runs = 1 if n >= 1000 else args.gdb_runs
    gdb = [timed(["gdb", "-batch", "-nx", "-ex", "thread apply all bt", "-p", str(t.pid)])
           for _ in range(gdb_runs)] if shutil.which("gdb") and args.gdb_runs else []
    t.stop()
    row.update(cold=cold, warm=warm, eu=eu, gdb=gdb, pauses=pauses)
    return row


# ---- pause per thread ----

def pause(args, tmp):
    """Busy threads' largest progress gap: no report, libgmr, eu-stack."""
    n = args.busy_threads
    shm = os.path.join(tmp, "shm")
    log_dir = os.path.join(tmp, "pause")
    t = Target(n, mode="busy", shm=shm, GMR_LOG_DIR=log_dir)
    time.sleep(0.5)
    take_report(t, log_dir)  # warm up
    fd = os.open(shm, os.O_RDWR)
    window = 0
    gaps = {"none": [], "libgmr": [], "eu-stack": []}

    def measure(kind, action):
        nonlocal window
        window += 1
        os.pwrite(fd, struct.pack("Q", window), 0)
        time.sleep(0.05)
        action()
        time.sleep(0.05)
        window += 1
        os.pwrite(fd, struct.pack("Q", window), 0)
        time.sleep(0.05)
        for i in range(n):
            seen, gap = struct.unpack("QQ", os.pread(fd, 16, 8 + 16 * i))
            if seen == window - 1:
                gaps[kind].append(gap / 1e9)

    for _ in range(args.pause_rounds):
        measure("none", lambda: time.sleep(0.2))
        measure("libgmr", lambda: take_report(t, log_dir))
        if shutil.which("eu-stack"):
            measure("eu-stack", lambda: timed(["eu-stack", "-p", str(t.pid)]))
    os.close(fd)
    t.stop()
    return gaps


# ---- idle cost ----

def startup(args):
    """Median wall time of `true` without and with libgmr (same wrapper)."""
    bare = env_with(preload=False)
    with_gmr = env_with(preload=True)
    if shutil.which("hyperfine"):
        out = os.path.join(tempfile.mkdtemp(), "h.json")
        subprocess.run(["hyperfine", "-N", "-w", "100", "-r", str(args.startup_runs),
                        "--export-json", out, "env LD_PRELOAD= " + TRUE,
                        "env LD_PRELOAD=%s %s" % (LIB, TRUE)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        with open(out) as f:
            times = [r["times"] for r in json.load(f)["results"]]
        return times[0], times[1], "hyperfine"
    a, b = [], []
    for _ in range(args.startup_runs):
        a.append(timed([TRUE], bare))
        b.append(timed([TRUE], with_gmr))
    return a, b, "subprocess"


def idle(args, tmp):
    result = {}
    bare_t, gmr_t, how = startup(args)
    result["startup"] = (statistics.median(bare_t), statistics.median(gmr_t), how, len(bare_t))
    rss = {}
    for preload in (False, True):
        t = Target(10, preload=preload)
        time.sleep(1.0)
        rss[preload] = t.status("VmRSS")
        t.stop()
    result["rss"] = rss
    trigger = os.path.join(tmp, "idle-trigger")
    t = Target(10, GMR_TRIGGER_FILE=trigger)
    time.sleep(0.5)
    w = t.watcher()

    def switches():
        total = 0
        with open("/proc/%d/task/%d/status" % (t.pid, w)) as f:
            for line in f:
                if "ctxt_switches" in line:
                    total += int(line.split()[1])
        return total

    before = switches()
    time.sleep(args.idle_seconds)
    result["wakeups"] = switches() - before
    t.stop()
    return result


# ---- memory ----

def memory(args, tmp):
    log_dir = os.path.join(tmp, "memory")
    t = Target(1000, GMR_LOG_DIR=log_dir, GMR_CAPTURE_TIMEOUT=10)
    time.sleep(1.0)
    before = t.status("VmRSS")
    with open("/proc/%d/clear_refs" % t.pid, "w") as f:
        f.write("5")  # reset VmHWM
    take_report(t, log_dir)
    peak = t.status("VmHWM")
    for _ in range(4):
        take_report(t, log_dir)
    t.wait_watcher_idle()
    after5 = t.status("VmRSS")
    released = None
    if not args.quick:
        time.sleep(65)  # the symbol cache goes after 60 idle seconds
        released = t.status("VmRSS")
    t.stop()
    return before, peak, after5, released


# ---- the table ----

def ratio(a, b):
    return "%.1fx" % (statistics.median(a) / statistics.median(b)) if a and b else "-"


def render(rows, gaps, idle_r, mem, args):
    ms = lambda v: median_spread(v, 1000.0, 1)
    out = []
    add = out.append
    add("## Latency: trigger to the complete report in place (ms, median [min-max])\n")
    add("| threads x 20 frames | libgmr cold | libgmr warm | eu-stack -p | gdb -batch "
        "| eu-stack / libgmr warm | eu-stack / libgmr cold | gdb / libgmr warm |")
    add("|---|---|---|---|---|---|---|---|")
    for r in rows:
        add("| %d | %s | %s | %s | %s | %s | %s | %s |" % (
            r["threads"], ms(r["cold"]), ms(r["warm"]), ms(r["eu"]) if r["eu"] else "-",
            ms(r["gdb"]) if r["gdb"] else "-", ratio(r["eu"], r["warm"]),
            ratio(r["eu"], r["cold"]), ratio(r["gdb"], r["warm"])))
    add("\nlibgmr's own count, warm reports: capture phase and time each thread spent in the "
        "capture handler (median over reports)\n")
    add("| threads | capture (ms) | handler pause per thread, median (us) | max (us) |")
    add("|---|---|---|---|")
    for r in rows:
        p = r["pauses"]
        add("| %d | %.1f | %.1f | %.1f |" % (
            r["threads"], statistics.median(x[2] for x in p) / 1000,
            statistics.median(x[0] for x in p) / 1000, statistics.median(x[1] for x in p) / 1000))
    add("\n## Pause seen by busy threads (largest gap in their own progress per window, ms)\n")
    add("%d busy threads on %d cores, %d windows each\n" % (
        args.busy_threads, os.cpu_count(), args.pause_rounds))
    add("| window | median | max |")
    add("|---|---|---|")
    for kind in ("none", "libgmr", "eu-stack"):
        if gaps[kind]:
            add("| %s | %.3f | %.3f |" % (kind, statistics.median(gaps[kind]) * 1000,
                                         max(gaps[kind]) * 1000))
    bare, gmr, how, runs = idle_r["startup"]
    add("\n## Idle cost\n")
    add("| what | without libgmr | with libgmr | difference |")
    add("|---|---|---|---|")
    add("| start-up of true (median of %d, %s) | %.3f ms | %.3f ms | %+.3f ms |" % (
        runs, how, bare * 1000, gmr * 1000, (gmr - bare) * 1000))
    add("| RSS of a 10-thread process before any report | %d KiB | %d KiB | %+d KiB |" % (
        idle_r["rss"][False], idle_r["rss"][True], idle_r["rss"][True] - idle_r["rss"][False]))
    add("| watcher wake-ups in %d idle s (trigger file set) | - | %d | |" % (
        args.idle_seconds, idle_r["wakeups"]))
    before, peak, after5, released = mem
    add("\n## Memory of a 1000-thread process (RSS, KiB)\n")
    add("| before the first report | peak during it | after 5 reports | after the cache release "
        "(60 s idle) |")
    add("|---|---|---|---|")
    add("| %d | %d (%+d) | %d (%+d) | %s |" % (
        before, peak, peak - before, after5, after5 - before,
        "%d (%+d)" % (released, released - before) if released else "not measured (--quick)"))
    return "\n".join(out)


def goals(rows, gaps, idle_r, mem):
    big = next(r for r in rows if r["threads"] == 1000)
    warm = statistics.median(big["warm"])
    cold = statistics.median(big["cold"])
    eu = statistics.median(big["eu"]) if big["eu"] else None
    pause_median = statistics.median(x[0] for x in big["pauses"]) / 1000
    bare, gmr, _, _ = idle_r["startup"]
    before, _, after5, released = mem
    lines = ["\n## Goals (1000 threads x 20 frames)\n", "| goal | measured | |", "|---|---|---|"]

    def goal(text, value, ok):
        lines.append("| %s | %s | %s |" % (text, value, "met" if ok else "**missed**"))

    if eu:
        goal("warm report 10x faster than eu-stack", "%.1fx" % (eu / warm), eu / warm >= 10)
        goal("first report 5x faster than eu-stack", "%.1fx" % (eu / cold), eu / cold >= 5)
    goal("memory kept after 5 reports under 8 MiB", "%+d KiB (%s after the cache release)" % (
        after5 - before, "%+d KiB" % (released - before) if released else "-"),
        after5 - before < 8192)
    goal("median thread paused at most 100 us", "%.1f us in the handler" % pause_median,
         pause_median <= 100)
    goal("start-up under 1 ms", "%+.3f ms" % ((gmr - bare) * 1000), gmr - bare < 0.001)
    goal("no wake-ups while idle", "%d in the idle window" % idle_r["wakeups"],
         idle_r["wakeups"] == 0)
    goal("under 2 MiB RSS before the first report",
         "%+d KiB" % (idle_r["rss"][True] - idle_r["rss"][False]),
         idle_r["rss"][True] - idle_r["rss"][False] < 2048)
    return "\n".join(lines)


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return "%d cores (%s), Linux %s" % (os.cpu_count(), model, platform.release())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", default="10,100,1000")
    p.add_argument("--cold-runs", type=int, default=3)
    p.add_argument("--warm-runs", type=int, default=7)
    p.add_argument("--eu-runs", type=int, default=5)
    p.add_argument("--gdb-runs", type=int, default=3)
    p.add_argument("--busy-threads", type=int, default=2)
    p.add_argument("--pause-rounds", type=int, default=10)
    p.add_argument("--startup-runs", type=int, default=1000)
    p.add_argument("--idle-seconds", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="skip the 65 s wait for the cache release")
    p.add_argument("--write", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    p.add_argument("--capture", choices=("auto", "ptrace", "signal"),
                   help="GMR_CAPTURE for every process (default: libgmr's own)")
    args = p.parse_args()
    global CAPTURE
    CAPTURE = args.capture
    for tool in ("eu-stack", "gdb"):
        if not shutil.which(tool):
            print("bench: %s is not installed (scripts/install-deps --tools); its column is "
                  "empty" % tool, file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="gmr-bench-")
    try:
        rows = []
        for n in [int(x) for x in args.threads.split(",")]:
            print("bench: %d threads ..." % n, file=sys.stderr)
            rows.append(latency(n, args, tmp))
        print("bench: pause ...", file=sys.stderr)
        gaps = pause(args, tmp)
        print("bench: idle ...", file=sys.stderr)
        idle_r = idle(args, tmp)
        print("bench: memory ...", file=sys.stderr)
        mem = memory(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    table = render(rows, gaps, idle_r, mem, args)
    if any(r["threads"] == 1000 for r in rows):
        table += "\n" + goals(rows, gaps, idle_r, mem)
    text = "# libgmr benchmark\n\nMeasured %s on %s with:\n\n    %s\n\n%s\n" % (
        time.strftime("%Y-%m-%d"), machine(), " ".join(["make bench"] + sys.argv[1:]), table)
    print(text)
    if args.write:
        with open(args.write, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
