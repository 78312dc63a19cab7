"""Reports where operators look (issue 13, part 4): GMR_OUTPUT (stderr,
files, or the systemd journal over its native protocol, read back with
journalctl from a real systemd-journald), GMR_MAX_REPORTS in a
crash-restart loop, and what a worker that dropped root is told when the
log dir shuts it out."""

import glob
import json
import os
import shutil
import subprocess
import time
import unittest

from gmrtest import (REPORT_GLOB, SECTIONS, TARGETS, GmrTestCase, Target, base_env, parse_text,
                     read, testd, wait_reports, wait_stderr_report)

JOURNALD = "/lib/systemd/systemd-journald"
JOURNAL_SOCKET = "/run/systemd/journal/socket"
ROOT = os.geteuid() == 0
HAVE_UNSHARE = ROOT and shutil.which("unshare") and shutil.which("nsenter")


def journal_missing():
    """Why the journal tests cannot run here, or None."""
    if not HAVE_UNSHARE:
        return "needs root, unshare and nsenter to run a journald of its own"
    if not os.access(JOURNALD, os.X_OK) or not shutil.which("journalctl"):
        return "systemd-journald is not installed (Debian package systemd: scripts/install-deps --daemons)"
    return None


def ensure_machine_id():
    """journald names its journal directory after the machine id."""
    try:
        with open("/etc/machine-id") as f:
            if f.read().strip():
                return
    except OSError:
        pass
    subprocess.run(["systemd-machine-id-setup"], check=True, capture_output=True)


class PrivateJournal:
    """A systemd-journald of the test's own, out of the machine's way: it
    runs in a mount namespace of its own where a tmpfs hides /run/systemd
    (so it binds /run/systemd/journal/socket there only), /var/log/journal
    (so nothing is stored for good) and where /run/log, its volatile
    storage, is a directory of the test's. Programs reach it by joining that
    namespace with nsenter; journalctl reads its files from outside."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "journal")
        os.makedirs(self.dir)
        ensure_machine_id()
        script = ("mkdir -p /run/systemd /run/log && mount -t tmpfs -o mode=0755 tmpfs /run/systemd && "
                  "mkdir /run/systemd/journal && mount --bind '{0}' /run/log && "
                  "{{ [ ! -d /var/log/journal ] || mount -t tmpfs tmpfs /var/log/journal; }} && "
                  "exec {1}".format(self.dir, JOURNALD))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SYSTEMD_LOG_TARGET": "console"}
        self.log = open(os.path.join(tmp, "journald.log"), "wb")
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                     env=env, stdout=self.log, stderr=self.log)
        # /proc/PID/root is that process's view of the file system.
        socket = "/proc/%d/root%s" % (self.proc.pid, JOURNAL_SOCKET)
        deadline = time.monotonic() + 20
        while not os.path.exists(socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("journald did not start:\n" + self.journald_log())
            time.sleep(0.02)

    def journald_log(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def argv(self, argv):
        """argv run inside the journal's namespace, under libgmr. nsenter
        itself runs without it: a process with a second thread (libgmr's
        watcher) may not change its mount namespace."""
        return ["nsenter", "-t", str(self.proc.pid), "-m", "--", "env",
                "LD_PRELOAD=" + base_env()["LD_PRELOAD"]] + [str(a) for a in argv]

    @staticmethod
    def env(**extra):
        env = base_env(**extra)
        del env["LD_PRELOAD"]
        return env

    def entries(self, service, *matches):
        r = subprocess.run(["journalctl", "-D", os.path.join(self.dir, "journal"), "--all", "-o",
                            "json", "-t", service] + list(matches),
                           capture_output=True, text=True, timeout=60)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def wait_entries(self, service, count, *matches, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            found = self.entries(service, *matches)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError("%d journal entries for %s %s, expected %d; journald:\n%s"
                                     % (len(found), service, matches, count, self.journald_log()))
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def gmr_lines(text):
    return [l for l in text.splitlines() if l.startswith("gmr: ")]


def setting(text, name):
    """A GMR_* line of the Configuration section, as "value (source)"."""
    for line in parse_text(text)["sections"]["Configuration"]:
        if line.strip().startswith(name + " = "):
            return line.split(" = ", 1)[1]
    raise AssertionError("%s is not in the Configuration section" % name)


@unittest.skipIf(journal_missing(), journal_missing())
class Journal(GmrTestCase):
    def setUp(self):
        super().setUp()
        self.journal = PrivateJournal(self.tmp)
        self.addCleanup(self.journal.stop)

    def test_a_text_report_is_one_entry(self):
        env = self.journal.env(GMR_OUTPUT="journal")
        with Target(self.journal.argv(testd("--threads", 3)), env=env) as t:
            t.signal()
            entry, = self.journal.wait_entries("testd", 1, "GMR_TRIGGER=signal")
            tasks = len(t.tids())
            self.assertTrue(t.alive())
            self.assertEqual(t.stderr(), "")
        text = entry["MESSAGE"]
        report = parse_text(text)
        self.assertTrue(text.startswith("=" * 72 + "\n"))
        self.assertEqual(list(report["sections"])[:len(SECTIONS)], SECTIONS)
        self.assertIn("threads = %d" % tasks, report["sections"]["Resource Usage"])
        self.assertEqual(report["header"]["pid"], str(t.pid))
        self.assertEqual(len(report["threads"]), tasks)
        for name in ["alpha", "bravo", "charlie"]:
            self.assertChain(next(th for th in report["threads"] if th["name"] == name), name)
        self.assertEqual(setting(text, "GMR_OUTPUT"), "journal (environment)")
        self.assertEqual((entry["PRIORITY"], entry["SYSLOG_IDENTIFIER"], entry["GMR_TRIGGER"],
                          entry["GMR_PID"], entry["GMR_THREADS"], entry["GMR_FORMAT"]),
                         ("5", "testd", "signal", str(t.pid), str(tasks), "text"))
        self.assertEqual(entry["_PID"], str(t.pid))

    def test_a_report_too_big_for_a_datagram_goes_in_a_memfd(self):
        values = {"BIG_%d" % i: chr(ord("a") + i) * 60000 for i in range(5)}
        env = self.journal.env(GMR_OUTPUT="journal", GMR_FORMAT="json", **values)
        with Target(self.journal.argv(testd("--threads", 2)), env=env) as t:
            t.signal()
            entry, = self.journal.wait_entries("testd", 1, "GMR_TRIGGER=signal")
        with open("/proc/sys/net/core/wmem_default") as f:
            datagram_max = int(f.read())
        self.assertGreater(len(entry["MESSAGE"]), datagram_max)
        report = json.loads(entry["MESSAGE"])
        self.assertEqual({k: report["environment"].get(k) for k in values}, values)
        self.assertEqual(report["header"]["pid"], t.pid)
        self.assertEqual(entry["GMR_FORMAT"], "json")
        self.assertEqual(entry["GMR_THREADS"], str(len(report["threads"])))
        self.assertEqual(entry["PRIORITY"], "5")

    def test_a_crash_report_is_critical(self):
        env = self.journal.env(GMR_OUTPUT="journal")
        r = subprocess.run(self.journal.argv([os.path.join(TARGETS, "crash"), "segv"]), env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, -11, r.stderr[-3000:])
        entry, = self.journal.wait_entries("crash", 1, "GMR_TRIGGER=crash")
        self.assertEqual((entry["PRIORITY"], entry["GMR_TRIGGER"]), ("2", "crash"))
        report = parse_text(entry["MESSAGE"])
        self.assertEqual(report["header"]["trigger"], "crash")
        self.assertEqual(entry["GMR_PID"], report["header"]["pid"])
        self.assertEqual(gmr_lines(r.stderr), [])
        self.assertNotIn("Guru Meditation", r.stderr)


class Output(GmrTestCase):
    def stderr_report(self, env, argv=None):
        with Target(argv or testd("--threads", 1), env=env) as t:
            t.signal()
            text = wait_stderr_report(t)
            self.assertTrue(t.alive())
        return text

    def test_journal_without_a_socket_writes_to_stderr(self):
        argv = testd("--threads", 1)
        if os.path.exists(JOURNAL_SOCKET):
            if not HAVE_UNSHARE:
                self.skipTest("a journal runs here: needs root and unshare to hide it")
            argv = ["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /run/systemd && exec "
                    + " ".join(argv)]
        text = self.stderr_report(base_env(GMR_OUTPUT="journal"), argv)
        self.assertEqual(gmr_lines(text), [
            "gmr: cannot send the report to the journal at /run/systemd/journal/socket "
            "(No such file or directory); writing the report to stderr"])
        self.assertEqual(list(parse_text(text)["sections"])[:len(SECTIONS)], SECTIONS)

    def test_a_bad_value_says_so_and_uses_the_default(self):
        os.makedirs(self.log_dir)
        with Target(testd("--threads", 1),
                    env=base_env(GMR_OUTPUT="syslog", GMR_LOG_DIR=self.log_dir)) as t:
            t.signal()
            path, = wait_reports(self.log_dir, 1)
            err = t.stderr()
        self.assertEqual(gmr_lines(err), [
            "gmr: GMR_OUTPUT='syslog': expected stderr, files or journal; using files with a log "
            "directory, else stderr"])
        self.assertEqual(setting(read(path), "GMR_OUTPUT"), "files (default)")
        text = self.stderr_report(base_env(GMR_OUTPUT="syslog"))
        self.assertEqual(gmr_lines(text), [
            "gmr: GMR_OUTPUT='syslog': expected stderr, files or journal; using files with a log "
            "directory, else stderr"])
        self.assertEqual(setting(text, "GMR_OUTPUT"), "stderr (default)")

    def test_files_without_a_log_dir_write_to_stderr(self):
        text = self.stderr_report(base_env(GMR_OUTPUT="files"))
        self.assertEqual(gmr_lines(text), [
            "gmr: GMR_OUTPUT=files: no log directory is set (GMR_LOG_DIR); using stderr"])

    def test_stderr_wins_over_a_log_dir(self):
        text = self.stderr_report(base_env(GMR_OUTPUT="stderr", GMR_LOG_DIR=self.log_dir))
        self.assertEqual(gmr_lines(text), [])
        self.assertEqual(setting(text, "GMR_OUTPUT"), "stderr (environment)")
        self.assertFalse(os.path.exists(self.log_dir))

    def test_a_crash_restart_loop_keeps_max_reports(self):
        os.makedirs(self.log_dir)
        outside = os.path.join(self.tmp, "outside")
        with open(outside, "w") as f:
            f.write("not a report\n")
        foreign = {
            "notes.txt": "file",
            "crashd_gurumeditation_20200101000000_7": "file",   # another service
            "other_gurumeditation_20200101000000_8.json": "file",
            "crash_gurumeditation_2020_9": "file",              # not the pattern
            "crash_gurumeditation_20200101000000_10.txt": "file",
            "crash_gurumeditation_20000101000000_11": "link",   # ours by name only
            "crash_gurumeditation_20000101000000_12": "dir",
        }
        for name, kind in foreign.items():
            path = os.path.join(self.log_dir, name)
            if kind == "file":
                with open(path, "w") as f:
                    f.write("keep\n")
            elif kind == "link":
                os.symlink(outside, path)
            else:
                os.mkdir(path)
        old = os.path.join(self.log_dir, "crash_gurumeditation_20000101000000_13")
        with open(old, "w") as f:
            f.write("an old report of ours\n")
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_MAX_REPORTS=5)
        pids = []
        for _ in range(30):
            p = subprocess.Popen([os.path.join(TARGETS, "crash"), "segv"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            err = p.communicate(timeout=60)[1].decode(errors="replace")
            self.assertEqual(p.returncode, -11, err[-3000:])
            self.assertEqual(gmr_lines(err), [])
            pids.append(p.pid)
        names = set(os.listdir(self.log_dir))
        ours = sorted(n for n in names - set(foreign) if n.startswith("crash_gurumeditation_"))
        self.assertEqual(len(ours), 5, ours)
        self.assertEqual(sorted(int(n.rsplit("_", 1)[1]) for n in ours), sorted(pids[-5:]))
        self.assertEqual(names - set(ours), set(foreign))
        self.assertTrue(os.path.islink(os.path.join(self.log_dir, "crash_gurumeditation_"
                                                    "20000101000000_11")))
        with open(outside) as f:
            self.assertEqual(f.read(), "not a report\n")

    def test_a_running_service_keeps_its_newest_reports_and_zero_keeps_all(self):
        def reports():
            return sorted(glob.glob(os.path.join(self.log_dir, REPORT_GLOB)),
                          key=lambda p: os.stat(p).st_mtime_ns)

        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_MAX_REPORTS=2)
        with Target(testd("--threads", 1), env=env) as t:
            written = []
            for _ in range(4):
                before = set(reports())
                t.signal()
                deadline = time.monotonic() + 20
                while not set(reports()) - before and time.monotonic() < deadline:
                    time.sleep(0.02)
                written += sorted(set(reports()) - before)
                t.wait_watcher_idle()
            self.assertEqual(len(written), 4)
            self.assertEqual(reports(), written[-2:])
        self.assertEqual(setting(read(written[-1]), "GMR_MAX_REPORTS"), "2 (environment)")
        with Target(testd("--threads", 1), env=base_env(GMR_LOG_DIR=self.log_dir,
                                                        GMR_MAX_REPORTS=0)) as t:
            for n in range(3, 6):
                t.signal()
                wait_reports(self.log_dir, n)
                t.wait_watcher_idle()
        self.assertEqual(len(reports()), 5)

    @unittest.skipUnless(ROOT, "needs root to drop privileges")
    def test_a_worker_that_dropped_root_is_told_what_to_do(self):
        os.chmod(self.tmp, 0o755)
        os.makedirs(self.log_dir, mode=0o700)
        text = self.stderr_report(base_env(GMR_LOG_DIR=self.log_dir),
                                  testd("--threads", 1, "--drop-to", "65534:65534"))
        self.assertEqual(gmr_lines(text), [
            "gmr: cannot open the log directory in {0} (Permission denied): make {0} writable "
            "by uid 65534 (nobody); writing the report to stderr".format(self.log_dir)])
        self.assertEqual(os.listdir(self.log_dir), [])


if __name__ == "__main__":
    unittest.main()
