"""libgmr under valgrind memcheck (issue 6): real processes, several
reports, no memory errors and no definite leaks."""

import os
import re
import shutil
import signal
import unittest

from gmrtest import (EXAMPLES, SANITIZE, TARGETS, GmrTestCase, Target, base_env, testd,
                     wait_reports)

VALGRIND = ["valgrind", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite"]


@unittest.skipUnless(shutil.which("valgrind"), "valgrind is not installed")
@unittest.skipIf(SANITIZE, "valgrind and sanitizer runtimes do not mix")
class Memcheck(GmrTestCase):
    def summary(self, log):
        with open(log) as f:
            text = f.read()
        errors = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        self.assertIsNotNone(errors, text[-2000:])
        self.assertEqual(errors.group(1), "0", text[-6000:])
        self.assertNotRegex(text, r"definitely lost: [1-9]")
        return text

    def test_daemon_with_several_reports(self):
        log = os.path.join(self.tmp, "valgrind.log")
        trigger = os.path.join(self.tmp, "trigger")
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_TRIGGER_FILE=trigger,
                       GMR_CAPTURE_TIMEOUT=10)
        argv = VALGRIND + ["--log-file=" + log] + testd("--threads", 4, "--block-all")
        with Target(argv, env=env, timeout=120) as t:
            for i in range(3):
                t.signal()
                wait_reports(self.log_dir, i + 1, timeout=120)
            with open(trigger, "w"):
                pass
            wait_reports(self.log_dir, 4, timeout=120)
            t.proc.send_signal(signal.SIGTERM)
            t.proc.wait(timeout=120)
        self.summary(log)

    def test_cxx_names_demangled(self):
        # Every name __cxa_demangle and the Rust demangler return is
        # malloc'd, and given back once the cache has its copy.
        log = os.path.join(self.tmp, "valgrind.log")
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_CAPTURE_TIMEOUT=10)
        argv = VALGRIND + ["--log-file=" + log, os.path.join(TARGETS, "cxxapp")]
        with Target(argv, env=env, timeout=120) as t:
            for i in range(2):
                t.signal()
                wait_reports(self.log_dir, i + 1, timeout=120)
            t.proc.send_signal(signal.SIGTERM)
            t.proc.wait(timeout=120)
        with open(wait_reports(self.log_dir, 2)[1]) as f:
            self.assertIn("app::Worker::depth(int)", f.read())
        self.summary(log)

    def test_api_example(self):
        log = os.path.join(self.tmp, "valgrind.log")
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json", GMR_CAPTURE_TIMEOUT=10)
        argv = VALGRIND + ["--log-file=" + log, os.path.join(EXAMPLES, "api"), "--lifetime", "3"]
        with Target(argv, env=env, timeout=120) as t:
            self.assertEqual(t.lines("api report:"), ["api report: written"])
            t.proc.wait(timeout=120)
            self.assertEqual(t.proc.returncode, 0)
        self.load_json(wait_reports(self.log_dir, 1)[0])
        self.summary(log)
