"""Triggers and living inside real hosts: trigger file, config file, fork,
foreign signal handlers, daemonizing hosts, inheritance (issue 3)."""

import ctypes
import glob
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from gmrtest import (LIB, TARGETS, GmrTestCase, Target, base_env, parse_text, read, runtime_preload, testd,
                     wait_reports, wait_stderr_report)


def touch(path):
    with open(path, "a"):
        pass
    os.utime(path)


def reports(log_dir):
    return sorted(glob.glob(os.path.join(log_dir, "*_gurumeditation_*")))


def watcher_switches(pid):
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().strip() != "gmr-watcher":
                continue
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches"):
                    return int(line.split()[1])
    raise AssertionError("no gmr-watcher thread in %d" % pid)


class TriggerFile(GmrTestCase):
    def start(self, trigger, **env):
        env.setdefault("GMR_LOG_DIR", self.log_dir)
        return Target(testd("--threads", 2), env=base_env(GMR_TRIGGER_FILE=trigger, **env))

    def test_create_touch_delete_recreate(self):
        trigger = os.path.join(self.tmp, "trigger")
        with self.start(trigger) as t:
            time.sleep(0.2)
            touch(trigger)
            first = wait_reports(self.log_dir, 1)
            self.assertEqual(parse_text(read(first[0]))["header"]["trigger"], "file")
            time.sleep(0.1)
            touch(trigger)
            wait_reports(self.log_dir, 2)
            os.unlink(trigger)
            time.sleep(0.3)
            self.assertEqual(len(reports(self.log_dir)), 2, "deleting must not trigger")
            touch(trigger)
            wait_reports(self.log_dir, 3)
            self.assertTrue(t.alive())

    def test_existing_file_at_start_is_not_a_trigger(self):
        trigger = os.path.join(self.tmp, "trigger")
        touch(trigger)
        with self.start(trigger):
            time.sleep(0.5)
            self.assertEqual(reports(self.log_dir), [])
            touch(trigger)
            wait_reports(self.log_dir, 1)

    def test_missing_directory_is_watched_for(self):
        trigger = os.path.join(self.tmp, "a", "b", "trigger")
        with self.start(trigger) as t:
            time.sleep(0.2)
            said = [l for l in t.stderr().splitlines() if "does not exist" in l]
            self.assertEqual(len(said), 1, t.stderr())
            self.assertIn("gmr: GMR_TRIGGER_FILE=%s: directory %s does not exist (yet); watching %s"
                          % (trigger, os.path.dirname(trigger), self.tmp), said[0])
            os.makedirs(os.path.dirname(trigger))
            time.sleep(0.1)
            touch(trigger)
            wait_reports(self.log_dir, 1)
            # The directory goes away and comes back: still watched, and
            # the creation of the file right away is not missed.
            shutil.rmtree(os.path.join(self.tmp, "a"))
            time.sleep(0.1)
            os.makedirs(os.path.dirname(trigger))
            touch(trigger)
            wait_reports(self.log_dir, 2)
            self.assertEqual(len([l for l in t.stderr().splitlines() if "does not exist" in l]), 1)

    def test_touches_during_a_report_coalesce(self):
        trigger = os.path.join(self.tmp, "trigger")
        touch(trigger)
        with self.start(trigger) as t:
            time.sleep(0.2)
            for i in range(200):
                os.utime(trigger, ns=(i, i))
            time.sleep(1.0)
            n = len(reports(self.log_dir))
            self.assertGreaterEqual(n, 1)
            self.assertLessEqual(n, 2, "200 touches in a burst gave %d reports" % n)
            self.assertTrue(t.alive())

    def test_touches_while_a_report_is_written_give_one_more(self):
        # A report of 1000 threads takes long enough to touch the file
        # through it: the touches during it coalesce into one more report.
        trigger = os.path.join(self.tmp, "trigger")
        env = base_env(GMR_TRIGGER_FILE=trigger, GMR_LOG_DIR=self.log_dir)
        with Target([os.path.join(TARGETS, "stress"), "many", 1000], env=env, timeout=60) as t:
            time.sleep(0.2)
            touch(trigger)
            while not t.watcher_busy():
                time.sleep(0.001)
            touched = 0
            while not reports(self.log_dir) and touched < 5000:
                os.utime(trigger, ns=(touched, touched))
                touched += 1
                time.sleep(0.002)
            wait_reports(self.log_dir, 2, timeout=60)
            time.sleep(1.5)
            n = len(reports(self.log_dir))
            self.assertTrue(t.alive())
        print("\n    %d touches while the first report was written" % touched)
        self.assertGreater(touched, 0)
        self.assertEqual(n, 2, "%d touches during a report gave %d reports" % (touched, n))

    def test_idle_watcher_never_wakes(self):
        trigger = os.path.join(self.tmp, "trigger")
        with self.start(trigger) as t:
            time.sleep(0.3)
            before = watcher_switches(t.pid)
            time.sleep(1.5)
            self.assertEqual(watcher_switches(t.pid), before)

    def test_busy_directory_never_wakes_the_watcher(self):
        # Another file in the trigger's directory is rewritten and touched
        # every 20 ms (a tick file; /tmp on a real server): only the
        # trigger file itself, and names coming and going in the
        # directory, may wake the watcher. Zero wake-ups, as for an idle
        # watcher above: nothing else wakes it before its first report.
        trigger = os.path.join(self.tmp, "trigger")
        tick = os.path.join(self.tmp, "tick")
        touch(tick)  # its creation may wake the watcher; its changes may not
        with self.start(trigger) as t:
            time.sleep(0.3)
            before = watcher_switches(t.pid)
            end = time.monotonic() + 2.0
            ticks = 0
            while time.monotonic() < end:
                with open(tick, "w") as f:
                    f.write("tick %d\n" % ticks)
                os.utime(tick)
                ticks += 1
                time.sleep(0.02)
            woken = watcher_switches(t.pid) - before
            print("\n    %d ticks woke the watcher %d times" % (ticks, woken))
            self.assertEqual(woken, 0, "%d ticks woke the watcher %d times" % (ticks, woken))
            self.assertEqual(reports(self.log_dir), [])
            touch(trigger)
            wait_reports(self.log_dir, 1)
            time.sleep(0.5)
            self.assertEqual(len(reports(self.log_dir)), 1)
            self.assertTrue(t.alive())

    def assertReports(self, n, why):
        time.sleep(0.3)
        self.assertEqual(len(reports(self.log_dir)), n, why)

    def test_rename_onto_the_name_triggers_once_and_the_new_file_is_watched(self):
        trigger = os.path.join(self.tmp, "trigger")
        new = os.path.join(self.tmp, "trigger.new")
        with self.start(trigger) as t:
            time.sleep(0.2)
            for n in (1, 2):
                with open(new, "w") as f:
                    f.write("%d\n" % n)
                if n == 2:
                    replaced = open(trigger, "a")
                os.rename(new, trigger)
                wait_reports(self.log_dir, n)
                self.assertReports(n, "one rename, one report")
            # The file the rename replaced is not ours any more; the new one is.
            replaced.write("written after it was replaced\n")
            replaced.close()
            self.assertReports(2, "a write to the replaced file triggered")
            os.utime(trigger, ns=(1, 1))
            wait_reports(self.log_dir, 3)
            self.assertReports(3, "one touch, one report")
            self.assertTrue(t.alive())

    def test_hard_link_elsewhere_then_deleted_here(self):
        # The inode lives on under another name: its changes are not ours.
        trigger = os.path.join(self.tmp, "trigger")
        other = os.path.join(self.tmp, "elsewhere", "kept")
        os.mkdir(os.path.dirname(other))
        touch(trigger)
        with self.start(trigger) as t:
            time.sleep(0.2)
            os.link(trigger, other)
            self.assertReports(0, "a hard link made elsewhere triggered")
            os.unlink(trigger)
            self.assertReports(0, "deleting must not trigger")
            touch(other)
            with open(other, "a") as f:
                f.write("written under the other name\n")
            self.assertReports(0, "the file deleted here still triggered")
            touch(trigger)
            wait_reports(self.log_dir, 1)
            self.assertReports(1, "re-creating it gave more than one report")
            os.utime(trigger, ns=(1, 1))
            wait_reports(self.log_dir, 2)
            self.assertReports(2, "one touch, one report")
            self.assertTrue(t.alive())

    def test_directory_renamed_away_and_created_again(self):
        trigger = os.path.join(self.tmp, "d", "trigger")
        old = os.path.join(self.tmp, "d.old")
        os.mkdir(os.path.dirname(trigger))
        touch(trigger)
        with self.start(trigger) as t:
            time.sleep(0.2)
            os.rename(os.path.dirname(trigger), old)
            time.sleep(0.2)
            touch(os.path.join(old, "trigger"))
            self.assertReports(0, "the file in the directory renamed away still triggered")
            os.mkdir(os.path.dirname(trigger))
            touch(trigger)
            wait_reports(self.log_dir, 1)
            self.assertReports(1, "one creation, one report")
            os.utime(trigger, ns=(1, 1))
            wait_reports(self.log_dir, 2)
            self.assertReports(2, "one touch, one report")
            self.assertTrue(t.alive())

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"),
                         "needs root and setpriv to run the target as a user who cannot read it")
    def test_unreadable_file_is_watched_through_its_directory(self):
        # inotify watches only what we may read: a trigger file only root
        # may read is watched through its directory (for every change in
        # it, as before), and we say so.
        os.chmod(self.tmp, 0o777)
        trigger = os.path.join(self.tmp, "trigger")
        touch(trigger)
        os.chmod(trigger, 0o600)
        exe = shutil.copy(testd()[0], self.tmp)
        lib = shutil.copy(LIB, self.tmp)
        env = base_env(GMR_TRIGGER_FILE=trigger, GMR_LOG_DIR=self.log_dir)
        env.pop("LD_PRELOAD")
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env",
                "LD_PRELOAD=" + runtime_preload().replace(LIB, lib), exe, "--threads", "1"]
        with Target(argv, env=env) as t:
            time.sleep(0.3)
            self.assertIn("gmr: GMR_TRIGGER_FILE=%s: cannot watch the file itself (Permission "
                          "denied); watching every change in %s" % (trigger, self.tmp), t.stderr())
            touch(trigger)
            wait_reports(self.log_dir, 1)
            self.assertReports(1, "one touch, one report")
            os.unlink(trigger)
            self.assertReports(1, "deleting must not trigger")
            touch(trigger)  # readable now (0644): watched itself
            wait_reports(self.log_dir, 2)
            os.utime(trigger, ns=(1, 1))
            wait_reports(self.log_dir, 3)
            self.assertReports(3, "one touch, one report")
            self.assertEqual(t.stderr().count("cannot watch the file itself"), 1, t.stderr())

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"),
                         "needs root and setpriv to exhaust another user's inotify instances")
    def test_polls_when_inotify_is_exhausted(self):
        os.chmod(self.tmp, 0o777)
        with open("/proc/sys/fs/inotify/max_user_instances") as f:
            limit = int(f.read())
        hog = subprocess.Popen(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "python3", "-c",
             "import ctypes,sys,time\n"
             "libc=ctypes.CDLL(None)\n"
             "fds=[libc.inotify_init1(0) for _ in range(%d)]\n"
             "print('held', sum(f>=0 for f in fds), flush=True)\n"
             "time.sleep(60)\n" % (limit + 1)],
            stdout=subprocess.PIPE, text=True)
        try:
            self.assertTrue(hog.stdout.readline().startswith("held"))
            trigger = os.path.join(self.tmp, "trigger")
            # nobody must be able to run them, wherever the tree is checked out.
            exe = shutil.copy(testd()[0], self.tmp)
            lib = shutil.copy(LIB, self.tmp)
            env = base_env(GMR_TRIGGER_FILE=trigger, GMR_TRIGGER_INTERVAL="0.2",
                           GMR_LOG_DIR=self.log_dir)
            env.pop("LD_PRELOAD")
            # setpriv changes uid and gid with a per-thread capset in between,
            # which only works single-threaded: preload libgmr after it.
            argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env",
                    "LD_PRELOAD=" + runtime_preload().replace(LIB, lib), exe, "--threads", "1"]
            with Target(argv, env=env) as t:
                time.sleep(0.3)
                self.assertIn("gmr: GMR_TRIGGER_FILE=%s: inotify unavailable" % trigger, t.stderr())
                self.assertIn("checking the file every 0.200 s", t.stderr())
                touch(trigger)
                wait_reports(self.log_dir, 1, timeout=5)
        finally:
            hog.kill()
            hog.wait()


class ConfigFile(GmrTestCase):
    def write_ini(self, text):
        path = os.path.join(self.tmp, "gmr.ini")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_oslo_reports_keys_and_environment_wins(self):
        trigger = os.path.join(self.tmp, "trigger")
        ini = self.write_ini("[DEFAULT]\ndebug = True\n[oslo_reports]\nlog_dir = %s\n"
                             "file_event_handler = %s\nfile_event_handler_interval = 2\n"
                             "[gmr]\nservice_name = from-ini\nformat = json\n"
                             % (self.log_dir, trigger))
        env = base_env(GMR_CONFIG=ini, GMR_FORMAT="text")
        with Target(testd("--threads", 1), env=env) as t:
            self.assertEqual(t.stderr(), "")
            time.sleep(0.2)
            touch(trigger)
            path = wait_reports(self.log_dir, 1)[0]
        self.assertRegex(os.path.basename(path), r"^from-ini_gurumeditation_\d{14}_%d$" % t.pid)
        text = read(path)
        self.assertIn("GMR_LOG_DIR = %s (file)" % self.log_dir, text)
        self.assertIn("GMR_FORMAT = text (environment)", text)
        self.assertIn("GMR_TRIGGER_INTERVAL = 2 (file)", text)
        self.assertIn("config_file = %s" % ini, text)

    def test_garbage_file_warns_and_applies_the_rest(self):
        ini = self.write_ini("[gmr]\nservice_name = partial\nsignal = NOPE\nnonsense\n"
                             "colour = blue\n[oslo_reports]\nlog_dir = %s\n\x00\xff\n"
                             % self.log_dir)
        with Target(testd("--threads", 1), env=base_env(GMR_CONFIG=ini)) as t:
            err = t.stderr()
            self.assertIn("gmr: %s:3: [gmr] signal='NOPE': not a signal name or number; "
                          "using USR2" % ini, err)
            self.assertIn("gmr: %s:4: expected 'key = value'; line ignored" % ini, err)
            self.assertIn("gmr: %s:5: [gmr] colour: unknown key; ignored" % ini, err)
            self.assertIn("gmr: %s:8: NUL byte in line; line ignored" % ini, err)
            t.signal()
            path = wait_reports(self.log_dir, 1)[0]
        self.assertTrue(os.path.basename(path).startswith("partial_gurumeditation_"))

    def test_missing_file_is_one_line_and_defaults(self):
        env = base_env(GMR_CONFIG=os.path.join(self.tmp, "nope.ini"), GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 1), env=env) as t:
            self.assertEqual(t.stderr().count("\n"), 1)
            self.assertIn("nope.ini: cannot read it (No such file or directory)", t.stderr())
            t.signal()
            wait_reports(self.log_dir, 1)

    def test_fifo_or_directory_never_blocks_the_start(self):
        fifo = os.path.join(self.tmp, "fifo.ini")
        os.mkfifo(fifo)
        for path, why in ((fifo, "not a regular file"), (self.tmp, "Is a directory")):
            env = base_env(GMR_CONFIG=path, GMR_LOG_DIR=self.log_dir)
            with Target(testd("--threads", 1), env=env) as t:
                self.assertIn("gmr: GMR_CONFIG=%s: cannot read it (%s)" % (path, why),
                              t.stderr())
                t.signal()
                wait_reports(self.log_dir, 1)
            shutil.rmtree(self.log_dir)

    def test_a_file_of_garbage_is_a_few_lines_not_a_flood(self):
        ini = self.write_ini("".join("bad line %d\n" % i for i in range(500)) +
                             "[oslo_reports]\nlog_dir = %s\n" % self.log_dir)
        with Target(testd("--threads", 1), env=base_env(GMR_CONFIG=ini)) as t:
            lines = t.stderr().splitlines()
            t.signal()
            wait_reports(self.log_dir, 1)
        self.assertEqual(len(lines), 11, lines)
        self.assertEqual(lines[-1], "gmr: GMR_CONFIG=%s: 490 more problems not shown" % ini)


class HostSignals(GmrTestCase):
    def test_host_handler_wins_and_file_trigger_still_works(self):
        trigger = os.path.join(self.tmp, "trigger")
        env = base_env(GMR_TRIGGER_FILE=trigger, GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 2, "--own-usr2"), env=env) as t:
            t.signal(signal.SIGUSR2)
            t.wait_line("usr2")
            time.sleep(0.5)
            self.assertEqual(reports(self.log_dir), [], "our handler ran though the host's won")
            touch(trigger)
            self.assertEqual(len(wait_reports(self.log_dir, 1)), 1)
            t.signal(signal.SIGUSR2)
            t.wait_line("usr2", count=2)
            self.assertTrue(t.alive())

    def test_host_taking_the_capture_signal_never_sees_us(self):
        # The host takes SIGRTMAX-3 (libgmr's capture signal) after start:
        # libgmr must not send it any more (its handler would run for a
        # signal the host never sent), yet reports still come, woken by the
        # trigger signal, with every thread listed and noted.
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 2, "--own-rt", 3), env=env) as t:
            for n in (1, 2, 3):
                t.signal()
                path = wait_reports(self.log_dir, n)[-1]
            time.sleep(0.3)
            t.read_stdout(0.1)
            self.assertEqual(t.lines("rt"), [], "the host's handler ran for our signal")
        report = parse_text(read(path))
        notes = [n for th in report["threads"] for n in th["notes"]]
        self.assertTrue(any("installed its own handler for the capture signal" in n
                            for n in notes), notes)
        self.assertRegex(report["sections"]["Package"][1], r"^build_id = [0-9a-f]{40}$")

    def test_signal_storm(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 4), env=env) as t:
            for _ in range(1000):
                os.kill(t.pid, signal.SIGUSR2)
            time.sleep(1.5)
            paths = wait_reports(self.log_dir, 1)
            time.sleep(0.5)
            paths = reports(self.log_dir)
            self.assertTrue(t.alive())
            # Each report answers every trigger that came while the one
            # before it was written: a few reports for the whole burst.
            self.assertLessEqual(len(paths), 10, "signals were not coalesced")
            for p in paths:
                report = parse_text(read(p))
                self.assertEqual(len(report["threads"]), len(t.tids()))
                self.assertIn("Environment", report["sections"])


class Processes(GmrTestCase):
    def test_forked_child_has_its_own_watcher(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 6, "--fork"), env=env) as t:
            child = int(t.wait_line("child").split()[1])
            try:
                time.sleep(0.2)
                os.kill(child, signal.SIGUSR2)
                (path,) = wait_reports(self.log_dir, 1)
                self.assertTrue(path.endswith("_%d" % child), path)
                report = parse_text(read(path))
                self.assertEqual(report["header"]["pid"], str(child))
                names = sorted(th["name"] for th in report["threads"])
                self.assertEqual(names, ["gmr-watcher", "testd"])
                main = report["threads"][0]
                self.assertIn("main", [f["function"] for f in main["frames"]])
                t.signal()
                paths = wait_reports(self.log_dir, 2)
                parent = [p for p in paths if p.endswith("_%d" % t.pid)]
                self.assertEqual(len(parent), 1)
                self.assertEqual(len(parse_text(read(parent[0]))["threads"]), 8)
            finally:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0) if False else None

    def test_daemonizing_host_keeps_its_descriptors_and_we_keep_working(self):
        trigger = os.path.join(self.tmp, "trigger")
        env = base_env(GMR_TRIGGER_FILE=trigger, GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 2, "--daemonize-fds"), env=env) as t:
            time.sleep(0.2)
            touch(trigger)
            wait_reports(self.log_dir, 1)
            t.signal()
            wait_reports(self.log_dir, 2)
            time.sleep(0.3)
            touch(trigger)
            wait_reports(self.log_dir, 3)
            time.sleep(0.2)
            self.assertTrue(t.alive(), t.stderr())
            self.assertNotIn("stolen", t.stderr())

    def test_host_inotify_at_our_old_number_is_left_alone(self):
        # The host closes our instance and opens its own, which gets the
        # same descriptor and watch numbers on the same directory: we must
        # neither read its events nor lose our trigger.
        trigger = os.path.join(self.tmp, "trigger")
        env = base_env(GMR_TRIGGER_FILE=trigger, GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 1, "--own-inotify", self.tmp), env=env) as t:
            t.wait_line("ready")
            for n in (1, 2):
                time.sleep(0.2)
                touch(trigger)
                wait_reports(self.log_dir, n)
                t.wait_line("host-inotify", count=n)
            self.assertTrue(t.alive(), t.stderr())

    def test_children_inherit_libgmr_by_default(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        child_cmd = "exec %s --threads 1" % testd()[0]
        with Target(testd("--threads", 1, "--spawn", child_cmd), env=env) as t:
            child = int(t.wait_line("ready", count=2).split()[1])
            try:
                os.kill(child, signal.SIGUSR2)
                (path,) = wait_reports(self.log_dir, 1)
                self.assertTrue(path.endswith("_%d" % child), path)
            finally:
                os.kill(child, signal.SIGKILL)

    def test_inherit_zero_takes_libgmr_out_of_ld_preload(self):
        env = base_env(GMR_INHERIT=0)
        with Target(testd("--threads", 1, "--spawn", 'echo "preload=[$LD_PRELOAD]"'),
                    env=env) as t:
            line = t.wait_line("preload=")
            self.assertNotIn("libgmr", line)
            with open("/proc/%d/maps" % t.pid) as f:
                self.assertIn("libgmr.so", f.read())
            self.assertIn("libgmr", open("/proc/%d/environ" % t.pid).read())

    def test_inherit_keeps_other_preloads(self):
        env = base_env(GMR_INHERIT=0)
        libs = env["LD_PRELOAD"].split(":")  # a sanitizer runtime must stay first
        env["LD_PRELOAD"] = ":".join(libs[:-1] + ["/lib/x86_64-linux-gnu/libm.so.6", libs[-1]])
        with Target(testd("--threads", 1, "--spawn", 'echo "preload=[$LD_PRELOAD]"'),
                    env=env) as t:
            line = t.wait_line("preload=")
            self.assertEqual(line, "preload=[%s]" % ":".join(
                p for p in env["LD_PRELOAD"].split(":") if "libgmr" not in p))


@unittest.skipUnless(os.geteuid() == 0, "needs root to change uids")
class Privileges(GmrTestCase):
    def test_host_dropping_root_in_a_threaded_process(self):
        # glibc's setuid() makes every thread run it, the watcher included;
        # a watcher deaf to glibc's internal signal would hang or abort it.
        os.chmod(self.tmp, 0o777)
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 3, "--drop-to", "65534:65534"), env=env) as t:
            with open("/proc/%d/status" % t.pid) as f:
                uids = next(l for l in f if l.startswith("Uid:")).split()[1:]
            self.assertEqual(uids, ["65534"] * 4)
            t.signal()
            report = parse_text(read(wait_reports(self.log_dir, 1)[0]))
            self.assertEqual(len(report["threads"]), 5)
            self.assertTrue(t.alive())
        # Symbols too: the process may no longer read all of its /proc.
        for name in ["alpha", "bravo", "charlie"]:
            self.assertChain(next(th for th in report["threads"] if th["name"] == name), name)

    @unittest.skipUnless(shutil.which("setpriv"), "needs setpriv")
    def test_secure_execution_ignores_gmr_variables(self):
        os.chmod(self.tmp, 0o755)
        exe = os.path.join(self.tmp, "linked-setuid")
        shutil.copy(os.path.join(os.path.dirname(testd()[0]), "linked"), exe)
        os.chmod(exe, 0o4755)
        env = base_env(GMR_SIGNAL="none", GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        env.pop("LD_PRELOAD")
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", exe]
        with Target(argv, env=env) as t:
            if t.lines("ready")[0].endswith("secure=0"):
                self.skipTest("setuid bits have no effect here (nosuid mount?)")
            t.signal()  # GMR_SIGNAL=none must be ignored: the default USR2 works
            text = wait_stderr_report(t)
            self.assertTrue(t.alive())
        self.assertFalse(os.path.exists(self.log_dir), "GMR_LOG_DIR was honoured")
        self.assertIn("GMR_SIGNAL = USR2 (default)", text)
        self.assertIn("GMR_FORMAT = text (default)", text)
