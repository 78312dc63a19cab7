"""Hostile report destinations (issue 6): no crash, nothing written
through a symlink, and the report falls back to stderr with a gmr: line."""

import os
import shutil
import time
import unittest

from gmrtest import (GmrTestCase, Target, base_env, testd, wait_reports, wait_stderr_report)

ROOT_AND_UNSHARE = os.geteuid() == 0 and shutil.which("unshare")


class Destinations(GmrTestCase):
    def fallback(self, argv, env, why):
        with Target(argv, env=env) as t:
            t.signal()
            text = wait_stderr_report(t)
            self.assertTrue(t.alive())
        lines = [l for l in text.splitlines() if l.startswith("gmr: ")]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn(why, lines[0])
        self.assertIn("writing the report to stderr", lines[0])
        self.assertIn("====                          Environment", text)
        return text

    def test_a_file_where_the_directory_should_be(self):
        path = os.path.join(self.tmp, "not-a-dir")
        with open(path, "w") as f:
            f.write("keep me\n")
        self.fallback(testd("--threads", 1), base_env(GMR_LOG_DIR=path),
                      "cannot open the log directory in %s (Not a directory)" % path)
        with open(path) as f:
            self.assertEqual(f.read(), "keep me\n")

    @unittest.skipUnless(ROOT_AND_UNSHARE, "needs root and unshare for a read-only mount")
    def test_read_only_directory(self):
        os.makedirs(self.log_dir)
        argv = ["unshare", "-m", "sh", "-c", "mount --bind {0} {0} && mount -o remount,bind,ro "
                "{0} && exec {1} --threads 1".format(self.log_dir, testd()[0])]
        self.fallback(argv, base_env(GMR_LOG_DIR=self.log_dir),
                      "cannot create a report file in %s (Read-only file system)" % self.log_dir)
        self.assertEqual(os.listdir(self.log_dir), [])

    @unittest.skipUnless(ROOT_AND_UNSHARE, "needs root and unshare for a small tmpfs")
    def test_full_directory(self):
        os.makedirs(self.log_dir)
        argv = ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=12k tmpfs {0} && "
                "exec {1} --threads 4".format(self.log_dir, testd()[0])]
        with Target(argv, env=base_env(GMR_LOG_DIR=self.log_dir)) as t:
            t.signal()
            text = wait_stderr_report(t)
            # Inside the namespace: what is left in the small file system?
            left = os.listdir("/proc/%d/root%s" % (t.pid, self.log_dir))
            self.assertTrue(t.alive())
        self.assertIn("cannot write the report file in %s (No space left on device)"
                      % self.log_dir, text)
        self.assertEqual(left, [], "a partial temporary file was left behind")

    def test_symlinks_planted_at_the_report_names(self):
        victim = os.path.join(self.tmp, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        os.makedirs(self.log_dir)
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_SERVICE_NAME="svc")
        with Target(testd("--threads", 1), env=env) as t:
            now = time.time()
            planted = []
            for dt in range(-1, 4):  # the names of the seconds to come
                stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now + dt))
                for suffix in ["", ".1", ".2"]:
                    name = os.path.join(self.log_dir, "svc_gurumeditation_%s_%d%s"
                                        % (stamp, t.pid, suffix))
                    os.symlink(victim, name)
                    planted.append(name)
            t.signal()
            wait_reports(self.log_dir, len(planted) + 1)
            self.assertTrue(t.alive())
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")
        for name in planted:
            self.assertTrue(os.path.islink(name))
        written = [os.path.join(self.log_dir, f) for f in os.listdir(self.log_dir)
                   if not os.path.islink(os.path.join(self.log_dir, f))]
        self.assertEqual(len(written), 1)
        with open(written[0]) as f:
            self.assertIn("Guru Meditation", f.read())
