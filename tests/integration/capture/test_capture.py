"""SIGUSR2 gives a true report of every thread (issue 2)."""

import os
import re
import signal
import stat
import time

from gmrtest import (SECTIONS, GmrTestCase, Target, base_env, functions, parse_text, read, testd,
                     wait_reports, wait_stderr_report)

CHAINS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
          "juliet"]


def progress(path):
    with open(path) as f:
        text = f.read().strip()
    return int(text) if text else 0


class EveryThread(GmrTestCase):
    def test_every_thread_with_its_own_chain(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 10), env=env) as t:
            tids = set(t.tids())
            t.signal()
            report = parse_text(read(wait_reports(self.log_dir, 1)[0]))
            listed = {th["tid"] for th in report["threads"]}
            # Every thread of the process (the watcher included, marked),
            # and nothing else: testd starts no thread after "ready".
            self.assertEqual(listed, tids)
            self.assertEqual(len(listed), len(report["threads"]), "a thread is listed twice")
            by_name = {th["name"]: th for th in report["threads"]}
            for name in CHAINS:
                self.assertIn(name, by_name)
                self.assertChain(by_name[name], name)
                self.assertEqual(by_name[name]["notes"], [])
            main = next(th for th in report["threads"] if th["tid"] == t.pid)
            self.assertIn("main thread", main["marks"])
            self.assertIn("main", functions(main))
            watcher = by_name["gmr-watcher"]
            self.assertIn("libgmr watcher", watcher["marks"])

    def test_frames_carry_module_offset_and_source_line(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 3), env=env) as t:
            t.signal()
            report = parse_text(read(wait_reports(self.log_dir, 1)[0]))
        charlie = next(th for th in report["threads"] if th["name"] == "charlie")
        leaf = next(f for f in charlie["frames"] if f["function"] == "charlie_leaf")
        self.assertTrue(leaf["module"].startswith(testd()[0] + "+0x"), leaf["module"])
        self.assertTrue(leaf["file"].endswith("tests/targets/testd.c"), leaf)
        self.assertGreater(int(leaf["line"]), 0)
        # The innermost frame of a thread parked in read() is in libc.
        self.assertIn("libc.so", charlie["frames"][0]["module"])

    def test_second_signal_second_full_report_and_host_keeps_working(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        counter = os.path.join(self.tmp, "progress")
        with Target(testd("--threads", 8, "--progress", counter), env=env) as t:
            t.signal()
            first = wait_reports(self.log_dir, 1)
            before = progress(counter)
            t.signal()
            both = wait_reports(self.log_dir, 2)
            self.assertEqual(len(set(both)), 2)
            for path in both:
                names = {th["name"] for th in parse_text(read(path))["threads"]}
                self.assertTrue(set(CHAINS[:8]) <= names, names)
                # The thread that took the signal is captured once it has
                # left our trigger handler, in its own frames.
                self.assertNotIn("handler_trigger",
                                 "\n".join(parse_text(read(path))["sections"]["Threads"]))
            deadline = time.monotonic() + 10
            while progress(counter) <= before + 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertGreater(progress(counter), before + 5, "the host stopped working")
            self.assertTrue(t.alive())
            self.assertEqual(first[0], both[0])

    def test_thread_blocking_all_signals_is_noted_without_waiting(self):
        # With a 20 s deadline, waiting for the blocked thread would take
        # 20 s; the capture must settle it at once (the header says how
        # long the capture took), and reports after the first must not pile
        # more capture signals onto its queue.
        # The signal backend's case: ptrace (the default) takes such a
        # thread whole (test_capture_ptrace.py).
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_CAPTURE_TIMEOUT=20, GMR_CAPTURE="signal")
        with Target(testd("--threads", 4, "--block-all"), env=env) as t:
            t.signal()
            path = wait_reports(self.log_dir, 1, timeout=15)[0]
            queued = sigq(t.pid)
            for n in range(2, 6):
                t.signal()
                wait_reports(self.log_dir, n)
            self.assertEqual(sigq(t.pid), queued, "each report queued another signal")
            report = parse_text(read(path))
        took = re.search(r"in ([0-9.]+) ms", report["header"]["capture"])
        self.assertLess(float(took.group(1)), 2000, report["header"]["capture"])
        kilo = next(th for th in report["threads"] if th["name"] == "kilo")
        self.assertEqual(kilo["frames"], [])
        self.assertTrue(any("blocks the capture signal" in n for n in kilo["notes"]), kilo)
        self.assertIn("state", kilo["fields"])
        # What /proc tells about it: the system call it sits in (it sleeps
        # in clock_nanosleep, 230 on x86_64), its pc symbolized.
        self.assertEqual(kilo["fields"].get("number"), "230", kilo)
        self.assertIn("nanosleep", kilo["fields"].get("symbol", ""), kilo)
        for name in CHAINS[:4]:
            self.assertChain(next(th for th in report["threads"] if th["name"] == name), name)


def sigq(pid):
    """Signals queued for the process's user (the first half of SigQ)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("SigQ:"):
                return int(line.split()[1].split("/")[0])
    return -1


class Output(GmrTestCase):
    def test_stderr_without_log_dir(self):
        with Target(testd("--threads", 2)) as t:
            t.signal()
            text = wait_stderr_report(t)
            self.assertTrue(t.alive())
        report = parse_text(text)
        order = [m.group(1) for m in re.finditer(r"^====\s+(.*?)\s+====$", text, re.M)]
        self.assertEqual(order, ["Guru Meditation"] + SECTIONS)
        self.assertEqual(report["header"]["pid"], str(t.pid))
        self.assertEqual(report["header"]["trigger"], "signal")

    def test_banner_layout(self):
        with Target(testd("--threads", 1)) as t:
            t.signal()
            lines = wait_stderr_report(t).splitlines()
        i = lines.index(next(l for l in lines if l.startswith("====") and "Package" in l))
        self.assertEqual(lines[i - 1], "=" * 72)
        self.assertEqual(lines[i + 1], "=" * 72)
        self.assertEqual(len(lines[i]), 72)
        self.assertEqual(lines[i], "====" + "Package".center(64) + "====")

    def test_report_file_name_mode_and_directory(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_SERVICE_NAME="svc")
        with Target(testd("--threads", 1), env=env) as t:
            t.signal()
            t.signal()
            paths = wait_reports(self.log_dir, 1)
            time.sleep(0.5)
            paths = wait_reports(self.log_dir, len(os.listdir(self.log_dir)))
        self.assertEqual(stat.S_IMODE(os.stat(self.log_dir).st_mode), 0o700)
        for p in paths:
            self.assertRegex(os.path.basename(p),
                             r"^svc_gurumeditation_\d{14}_%d(\.\d+)?$" % t.pid)
            self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o600)
        self.assertEqual([f for f in os.listdir(self.log_dir) if f.startswith(".")], [],
                         "a temporary file was left behind")

    def test_two_reports_in_one_second_do_not_overwrite(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 1), env=env) as t:
            for _ in range(3):
                t.signal()
                time.sleep(0.15)
            paths = wait_reports(self.log_dir, 2)
        self.assertEqual(len(paths), len(set(paths)))
        for p in paths:
            self.assertIn("Environment", read(p))


class Configuration(GmrTestCase):
    def test_bad_values_warn_once_and_use_defaults(self):
        env = base_env(GMR_SIGNAL="BOGUS", GMR_FORMAT="xml", GMR_MAX_FRAMES="-3",
                       GMR_SIGNL="USR1", GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 1), env=env) as t:
            err = t.stderr()
            self.assertIn("gmr: GMR_SIGNAL='BOGUS': not a signal name or number; using USR2", err)
            self.assertIn("gmr: GMR_FORMAT='xml': expected text or json; using text", err)
            self.assertIn("gmr: GMR_MAX_FRAMES='-3'", err)
            self.assertIn("gmr: GMR_SIGNL: unknown variable; ignored", err)
            for line in err.splitlines():
                self.assertTrue(line.startswith("gmr: "), line)
            t.signal(signal.SIGUSR2)  # the default still works
            report = read(wait_reports(self.log_dir, 1)[0])
            self.assertIn("GMR_SIGNAL = USR2 (default)", report)
            self.assertIn("GMR_FORMAT = text (default)", report)

    def test_other_signal(self):
        env = base_env(GMR_SIGNAL="SIGUSR1", GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 1), env=env) as t:
            t.signal(signal.SIGUSR1)
            report = parse_text(read(wait_reports(self.log_dir, 1)[0]))
            self.assertEqual(report["header"]["signal"], "USR1")
            self.assertTrue(t.alive())

    def test_signal_none_leaves_usr2_alone(self):
        env = base_env(GMR_SIGNAL="none", GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 1), env=env) as t:
            t.signal(signal.SIGUSR2)
            self.assertEqual(t.proc.wait(timeout=10), -signal.SIGUSR2)

    def test_secrets_are_masked(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, DB_PASSWORD="hunter2", API_TOKEN="tok-123",
                       PLAIN="visible-value")
        with Target(testd("--threads", 1, "--db-password=sesame", "--auth-key", "k3y"),
                    env=env) as t:
            t.signal()
            text = read(wait_reports(self.log_dir, 1)[0])
        for secret in ["hunter2", "tok-123", "sesame", "k3y"]:
            self.assertNotIn(secret, text)
        self.assertIn("DB_PASSWORD = ***", text)
        self.assertIn("--db-password=***", text)
        self.assertIn("--auth-key ***", text)
        self.assertIn("PLAIN = visible-value", text)

    def test_redact_none_and_custom(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_REDACT="PLAIN*", DB_PASSWORD="hunter2",
                       PLAIN_X="masked-now")
        with Target(testd("--threads", 1), env=env) as t:
            t.signal()
            text = read(wait_reports(self.log_dir, 1)[0])
        self.assertIn("DB_PASSWORD = hunter2", text)
        self.assertIn("PLAIN_X = ***", text)
