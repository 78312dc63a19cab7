"""Hostile report destinations (issue 6): no crash, nothing written
through a symlink, and the report falls back to stderr with a gmr: line.
A process that exits mid-report leaves no temporary file (issue 11, case 9)."""

import glob
import json
import os
import shutil
import stat
import subprocess
import time
import unittest

from gmrtest import (REPORT_GLOB, TARGETS, GmrTestCase, Target, base_env, testd, wait_reports,
                     wait_stderr_report)

ROOT_AND_UNSHARE = os.geteuid() == 0 and shutil.which("unshare")
BINDFS = os.geteuid() == 0 and shutil.which("bindfs") and os.path.exists("/dev/fuse")


def dead_pid():
    """The pid of a process that has ended (and been reaped)."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def temporaries(log_dir):
    return sorted(f for f in os.listdir(log_dir) if f.startswith(".gmr-"))


def exit_mid_report(test, log_dir, delay_us, threads=40):
    """Runs exitrace once: it calls exit(0) as soon as a file shows in
    log_dir (plus delay_us), while libgmr writes it. Returns the temporary
    files left behind."""
    os.makedirs(log_dir, exist_ok=True)
    env = base_env(GMR_LOG_DIR=log_dir, GMR_FORMAT="json")
    r = subprocess.run([os.path.join(TARGETS, "exitrace"), log_dir, str(threads), str(delay_us)],
                       env=env, capture_output=True, text=True, timeout=60)
    test.assertEqual(r.returncode, 0, r.stderr[-3000:])
    return temporaries(log_dir)


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


class ExitDuringReport(GmrTestCase):
    """Issue 11, case 9: exit() while the watcher writes the report file."""

    RUNS = 60

    def test_no_temporary_file_is_left(self):
        left = []
        for run in range(self.RUNS):
            log_dir = os.path.join(self.tmp, "run%d" % run)
            # Mostly at once, when the file was just created; some later in the write.
            found = exit_mid_report(self, log_dir, [0, 0, 100, 300, 1000][run % 5])
            if found:
                left.append((run, found))
            # A report that has a name is whole: it parses.
            for path in glob.glob(os.path.join(log_dir, REPORT_GLOB)):
                with open(path, "rb") as f:
                    json.loads(f.read().decode("utf-8"))
        self.assertEqual(left, [], "%d of %d runs left temporary files" % (len(left), self.RUNS))

    def test_stale_temporary_files_are_removed(self):
        """The next report removes what dead writers left (an older libgmr,
        or a file system without O_TMPFILE), and nothing else."""
        os.makedirs(self.log_dir)
        victim = os.path.join(self.tmp, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        dead, hour_ago = dead_pid(), time.time() - 3600

        def plant(name, old=True, make=None):
            path = os.path.join(self.log_dir, name)
            if make:
                make(path)
            else:
                with open(path, "w") as f:
                    f.write("half a report")
            if old:
                os.utime(path, (hour_ago, hour_ago), follow_symlinks=False)
            return name

        gone = [
            plant(".gmr-%d-0123456789abcdef.tmp" % dead),  # its writer is dead
            plant(".gmr-1-fedcba9876543210.tmp"),  # pid 1 lives, but untouched for an hour
        ]
        kept = [
            # Dead here, but just written: maybe by another pid namespace.
            plant(".gmr-%d-00112233445566ff.tmp" % dead, old=False),
            # Not our names.
            plant(".gmr-%d-0123456789ABCDEF.tmp" % dead),
            plant(".gmr-%d-0123456789abcde.tmp" % dead),
            plant(".gmr-%d-0123456789abcdef.tmp.x" % dead),
            plant(".gmr-0%d-0123456789abcdef.tmp" % dead),
            # Not regular files: a symlink is never followed, a directory stays.
            plant(".gmr-%d-aaaaaaaaaaaaaaaa.tmp" % dead, make=lambda p: os.symlink(victim, p)),
            plant(".gmr-%d-bbbbbbbbbbbbbbbb.tmp" % dead, make=os.mkdir),
        ]
        plant("gmr-%d-0123456789abcdef.tmp" % dead)
        with Target(testd("--threads", 1), env=base_env(GMR_LOG_DIR=self.log_dir)) as t:
            t.signal()
            wait_reports(self.log_dir, 1)
            t.wait_watcher_idle()
        self.assertEqual(temporaries(self.log_dir), sorted(kept))
        self.assertTrue(os.path.exists(os.path.join(self.log_dir, "gmr-%d-0123456789abcdef.tmp"
                                                    % dead)))
        self.assertTrue(os.path.islink(os.path.join(self.log_dir, kept[-2])))
        self.assertFalse(set(gone) & set(os.listdir(self.log_dir)))
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")


@unittest.skipUnless(BINDFS, "needs root, /dev/fuse and bindfs (a FUSE file system without "
                     "O_TMPFILE) for the temporary-name fallback")
class NoTmpfile(GmrTestCase):
    """Where the file system has no O_TMPFILE, reports go through a hidden
    temporary name; those a dead writer left are removed by a later report."""

    def setUp(self):
        super().setUp()
        self.backing = os.path.join(self.tmp, "backing")
        os.makedirs(self.backing)
        os.makedirs(self.log_dir)
        subprocess.run(["bindfs", self.backing, self.log_dir], check=True, timeout=30)
        self.addCleanup(subprocess.run, ["umount", self.log_dir], timeout=30)
        try:
            os.close(os.open(self.log_dir, os.O_TMPFILE | os.O_WRONLY, 0o600))
            self.skipTest("bindfs supports O_TMPFILE here: the fallback is not reached")
        except OSError:
            pass

    def test_fallback_and_cleanup(self):
        # Exits mid-write: here a temporary name may be left behind...
        left = []
        for run in range(10):
            left += exit_mid_report(self, self.log_dir, [0, 100][run % 2])
        self.assertTrue(left, "no run hit the window: the test proves nothing")
        # ...and is removed by the next report once it is a minute old.
        minute_ago = time.time() - 61
        for name in left:
            os.utime(os.path.join(self.log_dir, name), (minute_ago, minute_ago))
        before = set(glob.glob(os.path.join(self.log_dir, REPORT_GLOB)))
        with Target(testd("--threads", 1), env=base_env(GMR_LOG_DIR=self.log_dir)) as t:
            t.signal()
            wait_reports(self.log_dir, len(before) + 1)
            t.wait_watcher_idle()
            self.assertTrue(t.alive())
            self.assertNotIn("gmr:", t.stderr())
        self.assertEqual(temporaries(self.log_dir), [])
        (new,) = set(glob.glob(os.path.join(self.log_dir, REPORT_GLOB))) - before
        self.assertEqual(stat.S_IMODE(os.stat(new).st_mode), 0o600)
        with open(new) as f:
            self.assertIn("Guru Meditation", f.read())
