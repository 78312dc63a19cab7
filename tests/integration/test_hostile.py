"""The hostile-host suite (issue 11): small hosts that break easy
assumptions (tests/targets/hostile.c), each run without and with libgmr.
The host's fate must be the same both ways: exit status, output, core;
and where libgmr should report, the report must be there and true."""

import glob
import json
import os
import resource
import shutil
import signal
import subprocess
import time
import unittest

from gmrtest import (REPORT_GLOB, SANITIZE, TARGETS, GmrTestCase, Target, base_env, functions, parse_text,
                     read, runtime_preload, wait_reports, wait_stderr_report)

HOSTILE = os.path.join(TARGETS, "hostile")


def bare_env(**extra):
    """Without libgmr; with the sanitizer runtime where libgmr has one."""
    env = {k: v for k, v in base_env(**extra).items() if k != "LD_PRELOAD"}
    runtime = runtime_preload().split(":")[:-1]
    if runtime:
        env["LD_PRELOAD"] = ":".join(runtime)
    return env


def run(args, env, cwd, timeout=60):
    """Runs hostile ARGS with cores allowed; returns (status, stdout, stderr)."""
    def allow_core():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    p = subprocess.Popen([HOSTILE] + list(args), env=env, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=allow_core)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def without_ready(out):
    """A host's output without its "ready <pid>" line (the pid differs)."""
    return "".join(l for l in out.splitlines(True) if not l.startswith("ready "))


def cores(directory):
    return sorted(f for f in os.listdir(directory) if f.startswith("core"))


def notes_of(doc):
    return [n for t in doc["threads"] for n in t.get("note", "").split("; ") if n]


class HostileCase(GmrTestCase):
    def both(self, args, timeout=60, **extra):
        """Runs args without, then with libgmr, each in a directory of its
        own; returns the two (status, stdout, stderr, dir)."""
        results = []
        for name, env in (("bare", bare_env(**extra)), ("gmr", base_env(**extra))):
            d = os.path.join(self.tmp, "%s-%d" % (name, len(os.listdir(self.tmp))))
            os.makedirs(d)
            results.append(run(args, env, d, timeout) + (d,))
        return results

    def assertSameFate(self, bare, gmr):
        self.assertEqual(gmr[0], bare[0], "exit status differs with libgmr; stderr:\n" + gmr[2][-3000:])
        self.assertEqual(without_ready(gmr[1]), without_ready(bare[1]), "output differs")
        self.assertEqual(len(cores(gmr[3])), len(cores(bare[3])), "core dump differs")


class Stacks(HostileCase):
    def test_heap_and_merged_stacks_survive_reports(self):
        # Case 1: stacks in [heap] while brk moves, and on half of a
        # mapping whose other half comes and goes. The copy must never
        # fault: 200 reports, and the host ends as it would.
        bare = Target([HOSTILE, "heap-stacks"], env=bare_env())
        bare.signal(signal.SIGTERM)
        bare_status = bare.proc.wait(timeout=20)
        bare.read_stdout(1)
        bare_out = without_ready(bare.out)
        bare.stop()
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        with Target([HOSTILE, "heap-stacks"], env=env) as t:
            for n in range(1, 201):
                t.signal()
                wait_reports(self.log_dir, n)
                self.assertTrue(t.alive(), "the host died after %d reports" % n)
            t.signal(signal.SIGTERM)
            status = t.proc.wait(timeout=20)
            t.read_stdout(1)
            self.assertEqual((status, without_ready(t.out)), (bare_status, bare_out))
            self.assertNotIn("crash", t.stderr())
        docs = [self.load_json(p) for p in glob.glob(os.path.join(self.log_dir, REPORT_GLOB))]
        self.assertTrue(all(d["header"]["trigger"] == "signal" for d in docs))
        captured = [t for d in docs for t in d["threads"] if "deep" in
                    [f.get("symbol") for f in t["frames"]]]
        self.assertTrue(captured, "the threads on odd stacks were never unwound")


class Crashes(HostileCase):
    def test_crash_wins_over_a_later_exit(self):
        # Case 2: a thread calls exit(0) 40 ms after another crashed. The
        # crash must win every time, as it does without libgmr.
        for _ in range(3):
            bare, gmr = self.both(["crash-exit"])
            self.assertEqual(bare[0], -signal.SIGSEGV)
            self.assertSameFate(bare, gmr)
            report = parse_text(gmr[2])
            self.assertEqual(report["header"]["trigger"], "crash")
            frozen = [t for t in report["threads"] if "exit_soon" in functions(t)]
            self.assertEqual(len(frozen), 1, "the exiting thread was not captured while held")

    def test_crash_during_a_report_wins_too(self):
        # Case 2, with the watcher busy writing a report of 200 threads
        # when the crash comes: the freeze is the crashing thread's own.
        trigger = os.path.join(self.tmp, "trigger")
        bare, gmr = self.both(["crash-busy", trigger], GMR_TRIGGER_FILE=trigger)
        self.assertEqual(bare[0], -signal.SIGSEGV)
        self.assertSameFate(bare, gmr)
        self.assertEqual(gmr[2].count("trigger = file"), 1, gmr[2][-3000:])
        self.assertEqual(gmr[2].count("trigger = crash"), 1)

    def test_asynchronous_bus_error_still_kills(self):
        # Case 7: SIGBUS with si_code BUS_MCEERR_AO is sent by the kernel,
        # yet is no fault of an instruction; it must still end the process.
        bare, gmr = self.both(["mce"])
        self.assertEqual(bare[0], -signal.SIGBUS)
        self.assertSameFate(bare, gmr)
        self.assertNotIn("still running", gmr[1])
        self.assertEqual(parse_text(gmr[2])["header"]["signal"], "BUS")

    def test_crash_while_the_watcher_starts_gets_a_full_report(self):
        # Case 8: a crash first thing in main, while the watcher loads its
        # libraries. The report waits for it; no false "watcher crashed".
        bare, gmr = self.both(["early-crash"])
        self.assertEqual(bare[0], -signal.SIGSEGV)
        self.assertSameFate(bare, gmr)
        self.assertNotIn("watcher crashed", gmr[2])
        report = parse_text(gmr[2])
        self.assertIn("main", functions(report["threads"][0]), gmr[2][-3000:])
        self.assertIn("Environment", report["sections"])

    def test_jvm_like_crash_handling_goes_on(self):
        # Case 11: a handler installed after start, as the JVM's, that
        # resumes past faults it expects and chains the others to whatever
        # was installed before it. It must see the default there, write its
        # own crash log and abort, as without libgmr.
        bare, gmr = self.both(["jvm-like"])
        self.assertEqual(bare[0], -signal.SIGABRT)
        self.assertEqual(bare[1], "null check ok\n")
        self.assertSameFate(bare, gmr)
        for result in (bare, gmr):
            self.assertTrue(os.path.exists(os.path.join(result[3], "crash-log.txt")))
        report = parse_text(gmr[2])
        self.assertEqual(report["header"]["signal"], "ABRT")
        self.assertTrue(any(f.startswith("jvm_handler") for f in functions(report["threads"][0])))

    def test_rust_like_overflow_handler_is_installed_and_runs(self):
        # Case 15: the runtime installs its handler only where the
        # disposition is still the default; it must see the default.
        bare, gmr = self.both(["rust-like"])
        self.assertEqual(bare[0], -signal.SIGABRT)
        self.assertIn("has overflowed its stack", bare[2])
        self.assertSameFate(bare, gmr)
        self.assertIn("has overflowed its stack", gmr[2])
        report = parse_text(gmr[2])
        self.assertEqual(report["header"]["signal"], "ABRT")
        self.assertTrue(any(f.startswith("overflow_handler")
                            for f in functions(report["threads"][0])))


class Signals(HostileCase):
    def test_sigwait_daemon_never_gets_our_signal(self):
        # Case 3: every signal blocked everywhere, taken by sigwaitinfo. No
        # signal the host did not ask for may reach it, the report comes
        # at once, and the host's own signals still reach it, all of them.
        outs = []
        trigger = os.path.join(self.tmp, "trigger")
        for env in (bare_env(), base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json",
                                         GMR_TRIGGER_FILE=trigger)):
            with Target([HOSTILE, "sigwait"], env=env) as t:
                if "GMR_TRIGGER_FILE" in env:
                    t.wait_watcher_idle()  # watching: a file there before is no trigger
                    for n in (1, 2):
                        open(trigger, "w").close()
                        os.utime(trigger)
                        (path,) = wait_reports(self.log_dir, n)[-1:]
                    doc = self.load_json(path)
                for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGTERM):
                    time.sleep(0.2)
                    t.signal(sig)
                self.assertEqual(t.proc.wait(timeout=20), 0)
                t.read_stdout(1)
                outs.append(without_ready(t.out))
        self.assertEqual(outs[1], outs[0])
        self.assertEqual(outs[0].count("got signal"), 4, outs[0])
        self.assertLess(doc["header"]["capture_us"], 500000)
        if doc["header"].get("threads_ptraced"):  # no signal at all: every thread whole
            self.assertEqual([th["tid"] for th in doc["threads"] if not th["frames"]
                              and th["name"] != "gmr-watcher"], [])
        else:
            self.assertTrue(any("sigwaitinfo" in n for n in notes_of(doc)), notes_of(doc))

    def test_silent_threads_do_not_end_the_round_early(self):
        # Case 4: threads blocking every signal in bursts, one in vfork.
        # Answers are counted thread by thread: no thread is given up on
        # as "no answer before the deadline" before the deadline.
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        with Target([HOSTILE, "vfork-round"], env=env) as t:
            docs = [self.json_report(t) for _ in range(5)]
            self.assertTrue(t.alive())
        for doc in docs:
            given_up = [th["tid"] for th in doc["threads"]
                        if "before the deadline" in th.get("note", "")]
            self.assertTrue(not given_up or doc["header"]["capture_us"] >= 1000000,
                            "threads %s given up on after %d us" % (given_up,
                                                                    doc["header"]["capture_us"]))
        for doc in docs:
            vfork = [th for th in doc["threads"] if "vfork" in th.get("note", "")]
            self.assertEqual(len(vfork), 1, notes_of(doc))

    def test_trigger_thread_is_interrupted_once(self):
        # Case 12: the thread that takes the trigger signal has its sleep
        # cut once, by that signal; the capture does not cut it again.
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target([HOSTILE, "sleeper"], env=env) as t:
            time.sleep(0.3)
            t.signal()
            (path,) = wait_reports(self.log_dir, 1)
            time.sleep(1)
            t.read_stdout(0.2)
            self.assertEqual(t.lines("cut"), ["cut"])
        report = parse_text(read(path))
        main = report["threads"][0]
        self.assertIn("received SIGUSR2", main["marks"])
        self.assertIn("sleeper", functions(main))

    def test_takeover_is_said_once_and_host_wins(self):
        # Case 13: a host that takes SIGUSR2 after start hears of it once;
        # with a trigger file set, the line would be noise.
        with Target([HOSTILE, "takeover"], env=base_env()) as t:
            t.signal()
            t.wait_line("usr2")
            t.signal()
            t.wait_line("usr2", count=2)
            lines = [l for l in t.stderr().splitlines() if l.startswith("gmr:")]
            self.assertEqual(lines, ["gmr: the program installed its own handler for SIGUSR2; "
                                     "the signal trigger is off (use gmr-report or GMR_TRIGGER_FILE)"])
            self.assertNotIn("Guru Meditation", t.stderr())
        trigger = os.path.join(self.tmp, "trigger")
        env = base_env(GMR_TRIGGER_FILE=trigger, GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        with Target([HOSTILE, "takeover"], env=env) as t:
            t.wait_watcher_idle()
            open(trigger, "w").close()
            (path,) = wait_reports(self.log_dir, 1)
            self.assertEqual([l for l in t.stderr().splitlines() if l.startswith("gmr:")], [])
        conf = self.load_json(path)["configuration"]
        self.assertIn("taken over by the program", conf["settings"]["GMR_SIGNAL"]["value"])

    def test_ignored_trigger_signal_is_quiet_with_a_trigger_file(self):
        # Case 13: haproxy's master ignores SIGUSR2 across its re-exec.
        with Target([HOSTILE, "ignore-usr2"], env=base_env()) as t:
            self.assertIn("SIGUSR2 already has a handler or is ignored", t.stderr())
        trigger = os.path.join(self.tmp, "trigger")
        with Target([HOSTILE, "ignore-usr2"], env=base_env(GMR_TRIGGER_FILE=trigger)) as t:
            time.sleep(0.2)
            self.assertEqual(t.stderr(), "")


@unittest.skipIf(os.geteuid() != 0, "changing uid and gid needs root")
class Credentials(HostileCase):
    # glibc makes every thread take a uid or gid change, and aborts the
    # process if one fails where the caller did not; libgmr's watcher must
    # follow a program whose threads' capabilities differ.
    def test_capabilities_in_one_thread_then_setresgid(self):
        bare, gmr = self.both(["drop-caps"])
        self.assertSameFate(bare, gmr)
        self.assertEqual((bare[0], bare[1]), (0, "dropped uid 65534 gid 65534\n"), bare[2])

    def test_setpriv_runs_the_same(self):
        setpriv = shutil.which("setpriv")
        if not setpriv:
            self.skipTest("setpriv (util-linux) is not installed")
        args = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "id"]
        runs = []
        for env in (bare_env(), base_env()):
            p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=self.tmp, timeout=60)
            runs.append((p.returncode, p.stdout.decode(), p.stderr.decode(errors="replace")))
        self.assertEqual(runs[1][:2], runs[0][:2], runs[1][2][-3000:])
        self.assertIn("uid=65534", runs[0][1])

    def test_reports_after_the_watcher_followed(self):
        with Target([HOSTILE, "drop-caps", "wait"], env=base_env()) as t:
            t.wait_line("ready")
            self.assertEqual(t.lines("dropped"), ["dropped uid 65534 gid 65534"])
            t.signal()
            report = parse_text(wait_stderr_report(t))
            tids = t.tids()
        self.assertEqual(report["header"]["trigger"], "signal")
        self.assertEqual(sorted(th["tid"] for th in report["threads"]), tids)


class Processes(HostileCase):
    @unittest.skipIf("address" in SANITIZE, "GCC 12's ASan runtime does not hold its allocator's "
                     "locks across fork: a child forked while any other thread allocates can hang "
                     "in malloc, with or without libgmr")
    def test_children_forked_at_start_have_watchers(self):
        # Case 6: 40 children forked while the watcher loads its libraries;
        # each loads a library itself (the loader must be whole there), asks
        # for a report on itself, and each must get one.
        env = base_env(GMR_LOG_DIR=self.log_dir)
        status, out, err = run(["fork-early"], env, self.tmp)
        self.assertEqual((status, out), (0, "children 40\n"), err)
        self.assertNotIn("no report", err)
        pids = {int(os.path.basename(p).split("_")[-1])
                for p in glob.glob(os.path.join(self.log_dir, REPORT_GLOB))}
        self.assertEqual(len(pids), 40, err)

    def test_report_at_emfile_lists_every_thread(self):
        # Case 10: a process out of descriptors still gets a full report.
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        with Target([HOSTILE, "emfile"], env=env) as t:
            self.assertTrue(t.lines("opened"))
            doc = self.json_report(t)
            tids = t.tids()
        listed = sorted(th["tid"] for th in doc["threads"])
        self.assertEqual(listed, tids)
        parked = [th for th in doc["threads"] if "parked" in [f.get("symbol") for f in th["frames"]]]
        self.assertEqual(len(parked), 4, notes_of(doc))
        self.assertIn("file descriptor", doc["header"].get("note", ""))

    def test_randomized_capture_stress(self):
        # Threads switching alternate stacks, masks, vfork, exiting, on heap
        # and mmap'd stacks, while reports are asked for in a loop.
        seconds = 8 if os.environ.get("GMR_STRESS") == "full" else 4
        bare = run(["churn", str(seconds)], bare_env(), self.tmp)
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target([HOSTILE, "churn", seconds], env=env) as t:
            while t.alive():
                t.signal()
                time.sleep(0.05)
            status = t.proc.wait(timeout=20)
            t.read_stdout(1)
            self.assertEqual((status, without_ready(t.out)), (bare[0], without_ready(bare[1])))
            self.assertNotIn("crash", t.stderr())
        # Reports went on throughout (how many: the machine's load decides).
        self.assertGreaterEqual(len(glob.glob(os.path.join(self.log_dir, REPORT_GLOB))), 3)
