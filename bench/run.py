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
  floor     what a ptrace capture costs on this machine with nothing of
            libgmr's around it (bench/ptrace_floor.c)

Each libgmr figure is taken with both capture backends (GMR_CAPTURE=signal
and ptrace) unless --capture names one. Prints one table and writes it to
bench/RESULTS.md with the command used.
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
FLOOR = os.path.join(BUILD, "bench", "ptrace_floor")
DEPTH = 20


def env_with(preload=True, capture=None, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMR_")}
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = LIB
    if preload and capture:
        env["GMR_CAPTURE"] = capture
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Target:
    def __init__(self, n, mode="parked", preload=True, shm=None, capture=None, **gmr):
        argv = [TARGET, str(n), str(DEPTH), mode] + ([shm] if shm else [])
        self.proc = subprocess.Popen(argv, env=env_with(preload, capture, **gmr),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
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

def latency(n, capture, args, tmp, baselines):
    """One backend's cold and warm reports of n threads; with `baselines`,
    eu-stack and gdb on the same process."""
    row = {"threads": n, "capture": capture}
    cold = []
    for i in range(args.cold_runs):
        log_dir = os.path.join(tmp, "cold-%s-%d-%d" % (capture, n, i))
        t = Target(n, capture=capture, GMR_LOG_DIR=log_dir, GMR_FORMAT="json",
                   GMR_CAPTURE_TIMEOUT=10)
        time.sleep(0.5)
        cold.append(take_report(t, log_dir)[0])
        t.stop()
    log_dir = os.path.join(tmp, "warm-%s-%d" % (capture, n))
    t = Target(n, capture=capture, GMR_LOG_DIR=log_dir, GMR_FORMAT="json", GMR_CAPTURE_TIMEOUT=10)
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
        if shutil.which("eu-stack") and baselines else []
    gdb_runs = 1 if n >= 1000 else args.gdb_runs
    gdb = [timed(["gdb", "-batch", "-nx", "-ex", "thread apply all bt", "-p", str(t.pid)])
           for _ in range(gdb_runs)] if shutil.which("gdb") and args.gdb_runs and baselines else []
    t.stop()
    row.update(cold=cold, warm=warm, eu=eu, gdb=gdb, pauses=pauses)
    return row


# ---- pause per thread ----

def pause(args, tmp, backends):
    """Busy threads' largest progress gap: no report, libgmr with each
    backend, eu-stack."""
    n = args.busy_threads
    gaps = {"none": [], "eu-stack": []}
    gaps.update({"libgmr " + b: [] for b in backends})
    for first, capture in zip([True] + [False] * len(backends), backends):
        shm = os.path.join(tmp, "shm-" + capture)
        log_dir = os.path.join(tmp, "pause-" + capture)
        t = Target(n, mode="busy", shm=shm, capture=capture, GMR_LOG_DIR=log_dir)
        time.sleep(0.5)
        take_report(t, log_dir)  # warm up
        fd = os.open(shm, os.O_RDWR)
        window = 0

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
            if first:
                measure("none", lambda: time.sleep(0.2))
            measure("libgmr " + capture, lambda: take_report(t, log_dir))
            if first and shutil.which("eu-stack"):
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

def memory(args, tmp, backends):
    """RSS of a 1000-thread process per backend: before, peak, after 5
    reports, after the cache release (both processes wait at once)."""
    found = {}
    targets = []
    for capture in backends:
        log_dir = os.path.join(tmp, "memory-" + capture)
        t = Target(1000, capture=capture, GMR_LOG_DIR=log_dir, GMR_CAPTURE_TIMEOUT=10)
        time.sleep(1.0)
        before = t.status("VmRSS")
        with open("/proc/%d/clear_refs" % t.pid, "w") as f:
            f.write("5")  # reset VmHWM
        take_report(t, log_dir)
        peak = t.status("VmHWM")
        for _ in range(4):
            take_report(t, log_dir)
        t.wait_watcher_idle()
        found[capture] = [before, peak, t.status("VmRSS"), None]
        targets.append((capture, t))
    if not args.quick:
        time.sleep(65)  # the symbol cache goes after 60 idle seconds
        for capture, t in targets:
            found[capture][3] = t.status("VmRSS")
    for _, t in targets:
        t.stop()
    return found


# ---- the floor of a ptrace capture ----

def floor(args):
    """Median over 3 runs of bench/ptrace_floor with 1000 threads."""
    if not os.path.exists(FLOOR):
        return None
    runs = []
    for _ in range(3):
        out = subprocess.run([FLOOR, "1000", "4096"], capture_output=True, text=True)
        if out.returncode != 0:
            return None
        words = out.stdout.split()
        runs.append({words[i]: float(words[i + 1]) for i in range(0, len(words) - 1, 2)})
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


# ---- the table ----

def ratio(a, b):
    return "%.1fx" % (statistics.median(a) / statistics.median(b)) if a and b else "-"


def baseline(rows, r, key):
    """eu-stack's or gdb's times for r's thread count (taken once)."""
    return next((x[key] for x in rows if x["threads"] == r["threads"] and x[key]), [])


def render(rows, gaps, idle_r, mem, fl, args):
    ms = lambda v: median_spread(v, 1000.0, 1)
    out = []
    add = out.append
    add("## Latency: trigger to the complete report in place (ms, median [min-max])\n")
    add("eu-stack and gdb ran once per thread count, on the first backend's process.\n")
    add("| threads x 20 frames | backend | libgmr cold | libgmr warm | eu-stack -p | gdb -batch "
        "| libgmr warm / eu-stack | libgmr cold / eu-stack | gdb / libgmr warm |")
    add("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        eu, gdb = baseline(rows, r, "eu"), baseline(rows, r, "gdb")
        add("| %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["threads"], r["capture"], ms(r["cold"]), ms(r["warm"]), ms(eu) if eu else "-",
            ms(gdb) if gdb else "-", fraction(r["warm"], eu), fraction(r["cold"], eu),
            ratio(gdb, r["warm"])))
    add("\nlibgmr's own count, warm reports (median over reports): the capture phase, and how "
        "long each thread was paused: in the capture handler (signal), or held stopped from "
        "its stop to the call that lets it go (ptrace)\n")
    add("| threads | backend | capture (ms) | pause per thread, median (us) | max (us) |")
    add("|---|---|---|---|---|")
    for r in rows:
        p = r["pauses"]
        add("| %d | %s | %.1f | %.1f | %.1f |" % (
            r["threads"], r["capture"], statistics.median(x[2] for x in p) / 1000,
            statistics.median(x[0] for x in p) / 1000, statistics.median(x[1] for x in p) / 1000))
    if fl:
        add("\nThe floor of a ptrace capture here (bench/ptrace_floor, 1000 sleeping threads, "
            "4 KiB copied each, median of 3): %.1f ms in all; per thread, seize and interrupt "
            "%.1f us, until stopped %.1f us, registers %.1f us, stack copy %.1f us, detach "
            "%.1f us." % (fl["total_ms"], fl["ask"], fl["stop"], fl["regs"], fl["copy"],
                          fl["detach"]))
    add("\n## Pause seen by busy threads (largest gap in their own progress per window, ms)\n")
    add("%d busy threads on %d cores, %d windows each\n" % (
        args.busy_threads, os.cpu_count(), args.pause_rounds))
    add("| window | median | max |")
    add("|---|---|---|")
    for kind in gaps:
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
    add("\n## Memory of a 1000-thread process (RSS, KiB)\n")
    add("| backend | before the first report | peak during it | after 5 reports | after the "
        "cache release (60 s idle) |")
    add("|---|---|---|---|---|")
    for capture, (before, peak, after5, released) in mem.items():
        add("| %s | %d | %d (%+d) | %d (%+d) | %s |" % (
            capture, before, peak, peak - before, after5, after5 - before,
            "%d (%+d)" % (released, released - before) if released else "not measured (--quick)"))
    return "\n".join(out)


def fraction(a, b):
    return "%.2fx" % (statistics.median(a) / statistics.median(b)) if a and b else "-"


def goals(rows, gaps, idle_r, mem, capture):
    """The goals, for one backend's figures (the default's)."""
    big = next(r for r in rows if r["threads"] == 1000 and r["capture"] == capture)
    warm = statistics.median(big["warm"])
    cold = statistics.median(big["cold"])
    eu_times = baseline(rows, big, "eu")
    eu = statistics.median(eu_times) if eu_times else None
    pause_median = statistics.median(x[0] for x in big["pauses"]) / 1000
    pause_max = statistics.median(x[1] for x in big["pauses"]) / 1000
    bare, gmr, _, _ = idle_r["startup"]
    before, _, after5, released = mem[capture]
    lines = ["\n## Goals (1000 threads x 20 frames; backend %s)\n" % capture,
             "| goal | measured | |", "|---|---|---|"]

    def goal(text, value, ok):
        lines.append("| %s | %s | %s |" % (text, value, "met" if ok else "**missed**"))

    if eu:
        goal("warm report at most 0.05x eu-stack's time", "%.2fx" % (warm / eu), warm / eu <= 0.05)
        goal("first report at most 0.10x eu-stack's time", "%.2fx" % (cold / eu),
             cold / eu <= 0.10)
    goal("median thread paused at most 20 us", "%.1f us" % pause_median, pause_median <= 20)
    goal("longest pause at most 1 ms", "%.1f us (median over reports)" % pause_max,
         pause_max <= 1000)
    goal("memory kept after 5 reports under 8 MiB", "%+d KiB (%s after the cache release)" % (
        after5 - before, "%+d KiB" % (released - before) if released else "-"),
        after5 - before < 8192)
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
    p.add_argument("--capture", choices=("both", "auto", "ptrace", "signal"), default="both",
                   help="GMR_CAPTURE for every process; both: signal and ptrace side by side")
    args = p.parse_args()
    backends = ["signal", "ptrace"] if args.capture == "both" else [args.capture]
    for tool in ("eu-stack", "gdb"):
        if not shutil.which(tool):
            print("bench: %s is not installed (scripts/install-deps --tools); its column is "
                  "empty" % tool, file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="gmr-bench-")
    try:
        rows = []
        for n in [int(x) for x in args.threads.split(",")]:
            for i, capture in enumerate(backends):
                print("bench: %d threads, %s ..." % (n, capture), file=sys.stderr)
                rows.append(latency(n, capture, args, tmp, baselines=i == 0))
        print("bench: pause ...", file=sys.stderr)
        gaps = pause(args, tmp, backends)
        print("bench: idle ...", file=sys.stderr)
        idle_r = idle(args, tmp)
        print("bench: memory ...", file=sys.stderr)
        mem = memory(args, tmp, backends)
        print("bench: the floor of a ptrace capture ...", file=sys.stderr)
        fl = floor(args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    table = render(rows, gaps, idle_r, mem, fl, args)
    if any(r["threads"] == 1000 for r in rows):
        table += "\n" + goals(rows, gaps, idle_r, mem, backends[-1])
    text = "# libgmr benchmark\n\nMeasured %s on %s with:\n\n    %s\n\n%s\n" % (
        time.strftime("%Y-%m-%d"), machine(), " ".join(["make bench"] + sys.argv[1:]), table)
    print(text)
    if args.write:
        with open(args.write, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
