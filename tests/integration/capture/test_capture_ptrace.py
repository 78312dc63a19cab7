"""GMR_CAPTURE=ptrace (issue 16): threads captured by a tracer task of
libgmr's own, with no signal. tests/targets/sleepers.c says whether its
blocking calls were cut short; the same test with GMR_CAPTURE=signal shows
the cuts, so it can fail."""

import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from gmrtest import (BUILD, GmrTestCase, Target, base_env, functions, parse_text, read, runtime_preload,
                     wait_reports)

SLEEPERS = os.path.join(BUILD, "targets", "sleepers")
WAITS = os.path.join(BUILD, "targets", "waits")
STRACE = shutil.which("strace")
SANITIZED = bool(os.environ.get("GMR_TEST_SANITIZE"))


def ptrace_allowed():
    """Can a child trace its parent here (no Yama restriction beyond 1)?"""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read()) == 0
    except OSError:
        return True


def children(pid):
    found = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return found


def kill_new_child(pid, before, timeout=2.0):
    """SIGKILLs the first child of pid not in before; True if one was."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children(pid):
            if child not in before:
                try:
                    os.kill(child, 9)
                    return True
                except OSError:
                    return False
    return False


def task_state(pid, tid):
    try:
        with open("/proc/%d/task/%d/stat" % (pid, tid)) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


@unittest.skipUnless(ptrace_allowed(), "Yama's ptrace_scope forbids a child to trace its parent")
class PtraceCapture(GmrTestCase):
    def calls(self, capture, reports=20):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_CAPTURE=capture)
        with Target([SLEEPERS, "calls", "3"], env=env) as t:
            for i in range(reports):
                t.signal()
                wait_reports(self.log_dir, i + 1)
                time.sleep(0.05)
            t.proc.wait(timeout=30)
            t.read_stdout(1)
            out = dict(l.split() for l in t.out.splitlines() if not l.startswith("ready"))
        return out, [parse_text(read(p)) for p in wait_reports(self.log_dir, reports)]

    def test_no_call_is_cut_short(self):
        out, reports = self.calls("ptrace")
        self.assertEqual(set(out.values()), {"whole"}, out)
        self.assertEqual(len(out), 7, out)
        for report in reports:
            self.assertRegex(report["header"]["capture"], r"; \d+ by ptrace$")
            for t in report["threads"]:
                if t["name"] in out:
                    self.assertTrue(t["frames"], t)

    def test_signals_cut_them_short(self):
        # The same run with signals: sleeps end early, so the test above
        # would see it.
        out, _ = self.calls("signal", reports=5)
        self.assertIn("cut", [out["sleep"], out["nanosleep"], out["clock_nanosleep"]], out)

    def stacks_of_all_blocked(self, mode, capture):
        log_dir = os.path.join(self.log_dir, capture)
        env = base_env(GMR_LOG_DIR=log_dir, GMR_CAPTURE=capture)
        with Target([SLEEPERS, mode], env=env) as t:
            t.signal()
            report = parse_text(read(wait_reports(log_dir, 1)[-1]))
            self.assertTrue(t.alive())
        return report, next(th for th in report["threads"] if th["name"] == "all-blocked")

    def test_a_thread_that_blocks_every_signal_gets_its_stack(self):
        report, thread = self.stacks_of_all_blocked("blocked", "ptrace")
        self.assertTrue(any(f.get("function") == "all_blocked" for f in thread["frames"]), thread)
        _, by_signal = self.stacks_of_all_blocked("blocked", "signal")
        self.assertEqual(by_signal["frames"], [])
        self.assertTrue(any("blocks" in n for n in by_signal["notes"]), by_signal)

    def test_no_extra_child_for_waitpid(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_CAPTURE="ptrace")
        with Target([SLEEPERS, "children"], env=env) as t:
            for i in range(5):
                t.signal()
                wait_reports(self.log_dir, i + 1)
            t.proc.wait(timeout=30)
            t.read_stdout(1)
            self.assertIn("reaped 1", t.out)
            self.assertEqual(t.proc.returncode, 0)

    def test_a_tracer_killed_midway_lets_every_thread_go(self):
        # The tracer is a child of the process (a clone of the watcher):
        # killed while it holds a thread, the kernel must let that thread
        # go, and the threads it did not reach are captured by signal.
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_CAPTURE="ptrace")
        with Target([WAITS, "many", "200"], env=env) as t:  # 400 threads waiting
            for attempt in range(1, 6):
                before = set(children(t.pid))
                t.signal()
                killed = kill_new_child(t.pid, before)
                report = parse_text(read(wait_reports(self.log_dir, attempt)[-1]))
                if killed:
                    break
            self.assertTrue(killed, "the tracer was never seen in 5 reports")
            time.sleep(0.3)
            stopped = [tid for tid in t.tids() if task_state(t.pid, tid) in ("t", "T")]
            self.assertEqual(stopped, [], "threads left stopped")
            self.assertTrue(t.alive())
            listed = len(t.tids())
        self.assertIn("the tracer was killed", report["header"]["capture"])
        self.assertEqual(len(report["threads"]), listed, report["header"]["capture"])
        self.assertIn("Resource Usage", report["sections"])

    @unittest.skipIf(SANITIZED, "the sanitizer runtimes do not survive a seccomp filter on ptrace")
    def test_a_seccomp_filter_that_kills_ptrace_kills_only_the_tracer(self):
        report, thread = self.stacks_of_all_blocked("seccomp", "ptrace")
        self.assertRegex(report["header"]["capture"], r"; 0 by ptrace, the rest by signal: ")
        self.assertIn("Resource Usage", report["sections"])

    @unittest.skipIf(not STRACE, "strace is not installed")
    def test_under_strace_signals_do_it_and_say_why(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_CAPTURE="ptrace")
        with Target([STRACE, "-f", "-o", os.devnull, SLEEPERS, "blocked"], env=env) as t:
            pid = int(re.search(r"ready (\d+)", t.out).group(1))
            os.kill(pid, 12)
            report = parse_text(read(wait_reports(self.log_dir, 1)[-1]))
        self.assertRegex(report["header"]["capture"],
                         r"; 0 by ptrace, the rest by signal: ptrace was refused "
                         r"\(EPERM: the process is traced already\)")
        self.assertIn("Resource Usage", report["sections"])


def run_sleepers(mode, env, cwd, prefix=()):
    """Runs sleepers MODE to its end; returns (status, stdout without the
    ready line, stderr)."""
    p = subprocess.run(list(prefix) + [SLEEPERS, mode], env=env, cwd=cwd, capture_output=True,
                       text=True, timeout=60)
    out = "".join(l + "\n" for l in p.stdout.splitlines() if not l.startswith("ready"))
    return p.returncode, out, p.stderr


def without_libgmr():
    env = {k: v for k, v in base_env().items() if k != "LD_PRELOAD"}
    runtime = runtime_preload().split(":")[:-1]  # a sanitizer runtime stays
    if runtime:
        env["LD_PRELOAD"] = ":".join(runtime)
    return env


def thread_named(report, name):
    found = [t for t in report["threads"] if t["name"] == name]
    return found[0] if found else None


@unittest.skipUnless(ptrace_allowed(), "Yama's ptrace_scope forbids a child to trace its parent")
class CrashByPtrace(GmrTestCase):
    """A crash: the crashing thread freezes the others with the capture
    signal; those it cannot reach (they block every signal) the watcher's
    tracer captures and holds stopped, until the process dies or (a host
    that handles the crash itself) goes on."""

    HELD = r"held stopped while the crash is reported; "
    UNREACHED = r"1 by ptrace \(of the threads the signal could not reach\)$"

    def crash(self, mode, capture, prefix=()):
        bare = run_sleepers(mode, without_libgmr(), self.tmp, prefix)
        gmr = run_sleepers(mode, base_env(GMR_CAPTURE=capture), self.tmp, prefix)
        self.assertEqual(gmr[0], bare[0], "exit status differs with libgmr:\n" + gmr[2][-3000:])
        return bare, gmr, parse_text(gmr[2])

    def test_a_crash_holds_by_ptrace_the_threads_signals_cannot_reach(self):
        bare, gmr, report = self.crash("crash", "auto")
        self.assertEqual(bare[0], -signal.SIGSEGV)
        self.assertEqual(report["header"]["trigger"], "crash")
        self.assertRegex(report["header"]["capture"], self.HELD + self.UNREACHED)
        self.assertIn("all_blocked", functions(thread_named(report, "all-blocked")))
        self.assertIn("napper", functions(thread_named(report, "napper")))
        # The same crash with signals alone: the blocked thread is only named.
        _, _, frozen = self.crash("crash", "signal")
        blocked = thread_named(frozen, "all-blocked")
        self.assertNotIn("all_blocked", functions(blocked))
        self.assertIn("not captured: the thread blocks the capture signal", blocked["notes"])

    def test_a_host_that_handles_the_crash_gets_every_thread_back(self):
        # A handler installed behind libgmr's back chains to it, then
        # recovers: the frozen and the held threads must all run again.
        bare, gmr, report = self.crash("crash-goes-on", "auto")
        self.assertEqual(bare, (0, "recovered\nnapper cut 0\nnapper ran\nblocked ran\n", ""))
        for line in ("recovered\n", "napper ran\n", "blocked ran\n"):
            self.assertIn(line, gmr[1])
        self.assertEqual(report["header"]["trigger"], "crash")
        self.assertRegex(report["header"]["capture"], self.UNREACHED)
        self.assertIn("all_blocked", functions(thread_named(report, "all-blocked")))

    @unittest.skipIf(not STRACE, "strace is not installed")
    def test_under_strace_the_blocked_thread_is_named_with_the_reason(self):
        _, gmr, report = self.crash("crash", "auto", prefix=(STRACE, "-f", "-o", os.devnull))
        self.assertRegex(report["header"]["capture"],
                         r"; 0 by ptrace \(of the threads the signal could not reach\): ptrace "
                         r"was refused \(EPERM: the process is traced already\)")
        self.assertIn("napper", functions(thread_named(report, "napper")))
        self.assertIn("Resource Usage", report["sections"])


class SeccompAuto(GmrTestCase):
    @unittest.skipIf(SANITIZED, "the sanitizer runtimes do not survive a seccomp filter on ptrace")
    def test_auto_leaves_ptrace_alone_under_a_seccomp_filter(self):
        # A filter that kills a caller of ptrace would, through the tracer's
        # core dump, end the whole process on kernels before 5.16: auto
        # does not try (GMR_CAPTURE=ptrace insists, tested above).
        log_dir = os.path.join(self.log_dir, "auto")
        env = base_env(GMR_LOG_DIR=log_dir, GMR_CAPTURE="auto")
        with Target([SLEEPERS, "seccomp"], env=env) as t:
            before = children(t.proc.pid)
            t.signal()
            report = parse_text(read(wait_reports(log_dir, 1)[-1]))
            self.assertTrue(t.alive())
            self.assertEqual(children(t.proc.pid), before)
        self.assertRegex(report["header"]["capture"],
                         r"; 0 by ptrace, the rest by signal: a seccomp filter is installed")


if __name__ == "__main__":
    unittest.main()
