"""gmr-run and gmr-report (issue 5)."""

import json
import os
import signal
import subprocess
import time

from gmrtest import (LIB, ROOT, TARGETS, GmrTestCase, Target, base_env, parse_text,
                     runtime_preload, testd, wait_reports)

GMR_RUN = os.path.join(ROOT, "scripts", "gmr-run")
GMR_REPORT = os.path.join(ROOT, "scripts", "gmr-report")


def plain_env(**extra):
    """An environment without libgmr: the tools must bring it themselves."""
    env = {k: v for k, v in base_env(**extra).items() if k != "LD_PRELOAD"}
    if runtime_preload() != LIB:  # a sanitizer runtime must still come first
        env["LD_PRELOAD"] = runtime_preload().split(":")[0]
    return env


def gmr_run(*args, timeout=60, **env):
    return subprocess.run([GMR_RUN, "--library", LIB] + [str(a) for a in args],
                          env=plain_env(**env), capture_output=True, text=True, timeout=timeout)


class GmrRun(GmrTestCase):
    def test_help_and_errors(self):
        r = subprocess.run([GMR_RUN, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: gmr-run", r.stdout)
        for args, message in [([], "no command given"), (["--bogus", "x"], "unknown option --bogus"),
                              (["--log-dir"], "--log-dir needs a directory"),
                              (["--library", "/nope.so", "true"], "no such library"),
                              (["--timeout", "abc", "true"], "--timeout: not a number of seconds"),
                              (["--signal", "FOO", "true"],
                               "gmr: GMR_SIGNAL='FOO': not a signal name or number")]:
            r = subprocess.run([GMR_RUN] + args, capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("gmr-run: " + message, r.stderr)

    def test_exit_status_is_the_commands(self):
        self.assertEqual(gmr_run("--", "sh", "-c", "exit 7").returncode, 7)
        self.assertEqual(gmr_run("no-such-command-here").returncode, 127)
        self.assertEqual(gmr_run("/etc/passwd").returncode, 126)
        r = gmr_run(os.path.join(TARGETS, "crash"), "segv")
        self.assertEqual(r.returncode, -signal.SIGSEGV)
        self.assertIn("trigger = crash", r.stderr)

    def test_options_reach_libgmr(self):
        r = gmr_run("--log-dir", self.log_dir, "--json", "--timeout", "0.3", "--timeout-abort",
                    os.path.join(TARGETS, "crash"), "hang")
        self.assertEqual(r.returncode, -signal.SIGABRT)
        (path,) = wait_reports(self.log_dir, 1, timeout=0)
        doc = self.load_json(path)
        self.assertEqual(doc["header"]["trigger"], "timeout")
        settings = doc["configuration"]["settings"]
        self.assertEqual(settings["GMR_LOG_DIR"]["value"], self.log_dir)
        r = gmr_run("--no-crash", os.path.join(TARGETS, "crash"), "segv")
        self.assertEqual(r.returncode, -signal.SIGSEGV)
        self.assertNotIn("Guru Meditation", r.stderr)

    def test_signal_and_trigger_file(self):
        trigger = os.path.join(self.tmp, "trigger")
        argv = [GMR_RUN, "--library", LIB, "--log-dir", self.log_dir, "--signal", "USR1",
                "--trigger-file", trigger] + testd("--threads", 1)
        with Target(argv, env=plain_env()) as t:
            t.signal(signal.SIGUSR1)
            wait_reports(self.log_dir, 1)
            time.sleep(0.2)
            with open(trigger, "w"):
                pass
            wait_reports(self.log_dir, 2)


class GmrReport(GmrTestCase):
    def report(self, *args, timeout=60):
        return subprocess.run([GMR_REPORT] + [str(a) for a in args], capture_output=True,
                              text=True, timeout=timeout)

    def test_prints_the_new_report_from_the_log_dir(self):
        with Target(testd("--threads", 2), env=base_env(GMR_LOG_DIR=self.log_dir)) as t:
            t.signal()
            wait_reports(self.log_dir, 1)  # an older report, not to be printed again
            r = self.report(t.pid)
            self.assertEqual(r.returncode, 0, r.stderr)
            report = parse_text(r.stdout)
            self.assertEqual(report["header"]["pid"], str(t.pid))
            self.assertEqual(len(report["threads"]), 4)
            self.assertEqual(len(os.listdir(self.log_dir)), 2)

    def test_reads_the_config_file_and_prefers_the_trigger_file(self):
        # The host owns USR2: asking by signal would get the host's handler.
        trigger = os.path.join(self.tmp, "t", "trigger")
        ini = os.path.join(self.tmp, "gmr.ini")
        with open(ini, "w") as f:
            f.write("[oslo_reports]\nlog_dir = %s\nfile_event_handler = %s\n"
                    % (self.log_dir, trigger))
        with Target(testd("--threads", 1, "--own-usr2"), env=base_env(GMR_CONFIG=ini)) as t:
            time.sleep(0.2)
            r = self.report(t.pid)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("trigger = file", r.stdout)
            self.assertEqual(t.lines("usr2"), [])

    def test_stderr_file(self):
        for fmt in ("text", "json"):
            err = os.path.join(self.tmp, "daemon-%s.err" % fmt)
            with open(err, "w") as f:
                p = subprocess.Popen(testd("--threads", 1), env=base_env(GMR_FORMAT=fmt),
                                     stdout=subprocess.PIPE, stderr=f)
            try:
                p.stdout.readline()
                r = self.report(p.pid)
                self.assertEqual(r.returncode, 0, r.stderr)
                if fmt == "json":
                    pid = json.loads(r.stdout)["header"]["pid"]
                else:
                    pid = int(parse_text(r.stdout)["header"]["pid"])
                self.assertEqual(pid, p.pid)
            finally:
                p.kill()
                p.wait()
                p.stdout.close()

    def test_refusals(self):
        r = self.report("--help")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(self.report().returncode, 2)
        self.assertEqual(self.report("12x").returncode, 2)
        r = self.report(os.getpid())
        self.assertEqual(r.returncode, 1)
        self.assertIn("does not run with libgmr", r.stderr)
        with Target(testd("--threads", 1), env=base_env(GMR_SIGNAL="none")) as t:
            r = self.report(t.pid)
            self.assertEqual(r.returncode, 1)
            self.assertIn("has no trigger file and its signal trigger is off", r.stderr)
            self.assertTrue(t.alive())

    def test_timeout(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 1, "--own-usr2"), env=env) as t:
            r = self.report("--timeout", "0.5", t.pid)
            self.assertEqual(r.returncode, 3)
            self.assertIn("no report from process %d within 0.5 s" % t.pid, r.stderr)
            self.assertTrue(t.alive())


class Install(GmrTestCase):
    def test_make_install_gives_working_tools(self):
        prefix = os.path.join(self.tmp, "prefix")
        build = os.environ.get("GMR_TEST_BUILD", "build")
        r = subprocess.run(["make", "-s", "install", "PREFIX=" + prefix, "BUILD=" + build],
                           cwd=ROOT, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        for path in ["bin/gmr-run", "bin/gmr-report", "lib/libgmr.so", "include/gmr.h",
                     "lib/pkgconfig/gmr.pc", "share/man/man7/gmr.7", "share/man/man3/gmr.h.3",
                     "share/man/man1/gmr-run.1", "share/man/man1/gmr-report.1"]:
            self.assertTrue(os.path.exists(os.path.join(prefix, path)), path)
        # The installed gmr-run finds the installed library by itself.
        r = subprocess.run([os.path.join(prefix, "bin", "gmr-run"),
                            os.path.join(TARGETS, "crash"), "segv"], env=plain_env(),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, -signal.SIGSEGV)
        self.assertIn("trigger = crash", r.stderr)
        # A program builds against the installed header through pkg-config.
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
        flags = subprocess.run(["pkg-config", "--cflags", "gmr"], env=env, capture_output=True,
                               text=True).stdout.split()
        exe = os.path.join(self.tmp, "api")
        r = subprocess.run(["cc", "-o", exe, os.path.join(ROOT, "examples", "api.c")] + flags,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([exe, "--lifetime", "0"], env=plain_env(), capture_output=True,
                           text=True, timeout=30)
        self.assertIn("libgmr is not loaded", r.stdout)
