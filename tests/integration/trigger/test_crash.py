"""Crash and hang reports for CI (issue 5): a report on every fatal signal,
then the process dies exactly as it would have without libgmr."""

import os
import resource
import signal
import subprocess
import time

from gmrtest import (TARGETS, GmrTestCase, base_env, functions, ordered_subsequence, parse_text,
                     read, runtime_preload, wait_reports)

CRASH = os.path.join(TARGETS, "crash")
FATAL = {"segv": signal.SIGSEGV, "overflow": signal.SIGSEGV, "abort": signal.SIGABRT,
         "doublefree": signal.SIGABRT, "fpe": signal.SIGFPE, "ill": signal.SIGILL,
         "bus": signal.SIGBUS, "kill": signal.SIGSEGV}


def run(mode, env, cwd, timeout=60):
    """Runs crash MODE with cores allowed; returns (exit code, stdout, stderr)."""
    def allow_core():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    p = subprocess.Popen([CRASH, mode], env=env, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=allow_core)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def cores(directory):
    return sorted(f for f in os.listdir(directory) if f.startswith("core"))


class Crashes(GmrTestCase):
    def bare_env(self):
        """Without libgmr; with the sanitizer runtime where libgmr has one,
        so that both runs die under the same runtime."""
        env = {k: v for k, v in base_env().items() if k != "LD_PRELOAD"}
        runtime = runtime_preload().split(":")[:-1]
        if runtime:
            env["LD_PRELOAD"] = ":".join(runtime)
        return env

    def compare(self, mode):
        """Runs mode without and with libgmr; the deaths must match."""
        bare_dir = os.path.join(self.tmp, "bare-" + mode)
        gmr_dir = os.path.join(self.tmp, "gmr-" + mode)
        os.makedirs(bare_dir)
        os.makedirs(gmr_dir)
        rc_bare, _, _ = run(mode, self.bare_env(), bare_dir)
        rc, out, err = run(mode, base_env(), gmr_dir)
        self.assertEqual(rc, rc_bare, "exit status differs with libgmr")
        self.assertEqual(rc, -FATAL[mode])
        # Whether a core is written depends on the machine (core_pattern);
        # with libgmr it must be what it is without.
        self.assertEqual(len(cores(gmr_dir)), len(cores(bare_dir)), "core dump differs")
        return parse_text(err), err

    def check_report(self, report, mode, chain=("crash_leaf", "crash_middle", "crash_outer")):
        name = {signal.SIGSEGV: "SEGV", signal.SIGABRT: "ABRT", signal.SIGFPE: "FPE",
                signal.SIGILL: "ILL", signal.SIGBUS: "BUS"}[FATAL[mode]]
        self.assertEqual(report["header"]["trigger"], "crash")
        self.assertEqual(report["header"]["signal"], name)
        first = report["threads"][0]
        self.assertIn("crashed: SIG" + name, first["marks"])
        self.assertEqual(str(first["tid"]), report["header"]["crashed_thread"])
        self.assertTrue(ordered_subsequence(list(chain), functions(first)),
                        "%s: %s" % (mode, functions(first)))
        self.assertIn("rip", first["fields"])
        others = {t["name"] for t in report["threads"][1:]}
        self.assertTrue({"worker-a", "worker-b", "worker-c"} <= others, others)
        worker = next(t for t in report["threads"] if t["name"] == "worker-a")
        self.assertIn("worker", functions(worker))

    def test_segv(self):
        report, _ = self.compare("segv")
        self.check_report(report, "segv")
        self.assertEqual(report["header"]["code"], "SEGV_MAPERR: address not mapped to object")
        self.assertEqual(report["header"]["address"], "0")

    def test_stack_overflow(self):
        report, _ = self.compare("overflow")
        self.check_report(report, "overflow", chain=("recurse", "recurse"))
        notes = report["threads"][0]["notes"]
        self.assertTrue(any("more frames not shown" in n for n in notes), notes)

    def test_abort(self):
        report, _ = self.compare("abort")
        self.check_report(report, "abort", chain=("abort", "crash_middle", "crash_outer"))
        self.assertNotIn("address", report["header"])

    def test_corrupt_heap(self):
        report, _ = self.compare("doublefree")
        self.check_report(report, "doublefree", chain=("abort", "crash_middle", "crash_outer"))

    def test_fpe_ill_bus_and_kill(self):
        for mode, code in [("fpe", "FPE_INTDIV"), ("ill", "ILL_"), ("bus", "BUS_ADRERR"),
                           ("kill", "SI_USER")]:
            report, _ = self.compare(mode)
            self.check_report(report, mode,
                              chain=("crash_middle", "crash_outer") if mode != "kill" else
                              ("kill", "crash_middle"))
            self.assertTrue(report["header"]["code"].startswith(code), report["header"])

    def test_json_crash_report_to_log_dir(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        rc, _, err = run("segv", env, self.tmp)
        self.assertEqual(rc, -signal.SIGSEGV)
        (path,) = wait_reports(self.log_dir, 1, timeout=0)
        doc = self.load_json(path)
        self.assertEqual(doc["header"]["trigger"], "crash")
        self.assertEqual(doc["header"]["signal"], "SEGV")
        first = doc["threads"][0]
        self.assertIn("crashed: SIGSEGV", first["marks"])
        self.assertEqual(first["registers"]["rax"][:2], "0x")
        self.assertEqual(first["frames"][0]["symbol"], "crash_leaf")

    def test_two_threads_crash_at_once(self):
        start = time.monotonic()
        rc, _, err = run("two", base_env(), self.tmp, timeout=60)
        self.assertEqual(rc, -signal.SIGSEGV)
        self.assertLess(time.monotonic() - start, 30, "a second crash made the first wait")
        self.assertEqual(err.count("Guru Meditation"), 1)
        report = parse_text(err)
        crashed = [t for t in report["threads"] if "crashed" in t["marks"]]
        self.assertEqual(len(crashed), 1)

    def test_crash_inside_the_report_falls_back(self):
        rc, _, err = run("watcher", base_env(), self.tmp)
        self.assertEqual(rc, -signal.SIGSEGV)
        report = parse_text(err)
        self.assertEqual(report["header"]["note"], "libgmr's watcher crashed while writing the "
                         "report")
        first = report["threads"][0]
        self.assertIn("crashed", first["marks"])
        self.assertIn("rip", first["fields"])
        offsets = [f["module"] for f in first["frames"]]
        self.assertTrue(any(m.startswith(CRASH + "+0x") for m in offsets), offsets)

    def test_host_handler_wins(self):
        rc, out, err = run("own", base_env(), self.tmp)
        self.assertEqual(rc, 42)
        self.assertEqual(out.splitlines()[-1], "host handler")
        self.assertNotIn("Guru Meditation", err)

    def test_crash_reports_off(self):
        rc, _, err = run("segv", base_env(GMR_CRASH=0), self.tmp)
        self.assertEqual(rc, -signal.SIGSEGV)
        self.assertNotIn("Guru Meditation", err)


class OwnFaults(GmrTestCase):
    def test_a_fault_in_libgmr_does_not_end_the_host(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        p = subprocess.Popen([CRASH, "section"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            p.stdout.readline()
            time.sleep(0.5)
            p.send_signal(signal.SIGUSR2)
            time.sleep(1.0)
            self.assertIsNone(p.poll(), "the host died of libgmr's fault")
            p.send_signal(signal.SIGUSR2)
            time.sleep(0.5)
            self.assertIsNone(p.poll())
        finally:
            p.kill()
            _, err = p.communicate()
        err = err.decode()
        self.assertIn("gmr: libgmr's watcher thread crashed (SIGSEGV)", err)
        self.assertIn("gmr: no report: libgmr's watcher thread crashed earlier", err)


class Hangs(GmrTestCase):
    def test_timeout_writes_one_report(self):
        env = base_env(GMR_TIMEOUT="0.5", GMR_LOG_DIR=self.log_dir)
        p = subprocess.Popen([CRASH, "hang"], env=env, stdout=subprocess.DEVNULL)
        try:
            (path,) = wait_reports(self.log_dir, 1)
            time.sleep(1.5)
            self.assertEqual(len(os.listdir(self.log_dir)), 1, "the watchdog fired twice")
            self.assertIsNone(p.poll())
        finally:
            p.kill()
            p.wait()
        report = parse_text(read(path))
        self.assertEqual(report["header"]["trigger"], "timeout")
        self.assertIn("main", functions(report["threads"][0]))

    def test_timeout_abort_fails_the_step_with_the_stacks(self):
        env = base_env(GMR_TIMEOUT="0.5", GMR_TIMEOUT_ABORT=1)
        rc, _, err = run("hang", env, self.tmp)
        self.assertEqual(rc, -signal.SIGABRT)
        self.assertEqual(err.count("Guru Meditation"), 1)
        self.assertIn("trigger = timeout", err)
        self.assertIn("gmr: GMR_TIMEOUT: the process ran too long; aborting", err)
