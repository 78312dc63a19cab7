"""gmr-run and gmr-report (issue 5)."""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time

from gmrtest import (BUILD, LIB, ROOT, SANITIZE, TARGETS, GmrTestCase, Target, base_env, parse_text,
                     read, runtime_preload, testd, wait_reports)

GMR_RUN = os.path.join(BUILD, "gmr-run")
GMR_REPORT = os.path.join(BUILD, "gmr-report")


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


def kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def fake_channel(pid):
    """A socket that takes @gmr-<pid> and never answers: an impostor when
    pid is not ours, a hung watcher when it is."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind("\0gmr-%d" % pid)
    sock.listen(4)
    return sock


def setpriv_nobody():
    """A command prefix that runs as nobody, or None."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    return ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]


def reports_of(log_dir):
    """{pid: [trigger, ...]} of the report files in log_dir."""
    found = {}
    for path in sorted(glob.glob(os.path.join(log_dir, "*_gurumeditation_*"))):
        pid = int(os.path.basename(path).split("_")[-1].split(".")[0])
        found.setdefault(pid, []).append(parse_text(read(path))["header"]["trigger"])
    return found


class GmrRunTimeout(GmrTestCase):
    """--timeout is the run's deadline, for the whole process tree (issue 13)."""

    def test_a_report_from_each_process_then_the_whole_tree_ends(self):
        # A shell whose child hangs: both report at the deadline, then the
        # tree ends with status 134 and nothing of it reports afterwards.
        pids = os.path.join(self.tmp, "pids")
        script = "echo $$ > %s; %s --threads 1 --lifetime 60; echo after" % (
            pids, " ".join(testd()))
        start = time.monotonic()
        r = gmr_run("--log-dir", self.log_dir, "--timeout", "2", "--timeout-abort", "--",
                    "sh", "-c", script)
        took = time.monotonic() - start
        self.assertEqual(r.returncode, -signal.SIGABRT, r.stderr)
        self.assertLess(took, 30)
        self.assertNotIn("after", r.stdout)
        shell = int(read(pids))
        hung = int(r.stdout.split("ready ")[1].split()[0])
        self.assertEqual(reports_of(self.log_dir), {shell: ["timeout"], hung: ["timeout"]},
                         r.stderr)
        self.assertIn("gmr-run: ended the command and every process it started", r.stderr)
        time.sleep(2)  # the old GMR_TIMEOUT of each process would have fired by now
        self.assertFalse(os.path.exists("/proc/%d" % hung))
        self.assertEqual(reports_of(self.log_dir), {shell: ["timeout"], hung: ["timeout"]})

    def test_without_abort_the_run_goes_on(self):
        # One report from each process (the shell and its sleep), and the
        # command's own status.
        r = gmr_run("--log-dir", self.log_dir, "--timeout", "0.5", "--", "sh", "-c",
                    "echo $$; sleep 1.5; exit 7")
        self.assertEqual(r.returncode, 7, r.stderr)
        reports = reports_of(self.log_dir)
        self.assertEqual(reports.get(int(r.stdout.split()[0])), ["timeout"], r.stderr)
        self.assertEqual(set(t for ts in reports.values() for t in ts), {"timeout"})
        self.assertEqual(max(len(ts) for ts in reports.values()), 1)

    def test_signals_are_passed_on_and_the_status_is_the_commands(self):
        argv = [GMR_RUN, "--library", LIB, "--timeout", "60", "--"] + testd("--threads", 1)
        with Target(argv, env=plain_env()) as t:
            child = int(t.lines("ready")[0].split()[1])
            self.assertNotEqual(child, t.pid)
            t.signal(signal.SIGTERM)
            self.assertEqual(t.proc.wait(timeout=20), -signal.SIGTERM)
        self.assertFalse(os.path.exists("/proc/%d" % child))

    def test_started_with_sigchld_ignored(self):
        # The kernel would reap the command unseen; gmr-run must still see
        # it end, and the command still starts with SIGCHLD ignored.
        def run(*command):
            return subprocess.run([GMR_RUN, "--library", LIB, "--timeout", "30", "--"]
                                  + list(command), env=plain_env(), capture_output=True,
                                  text=True, timeout=20,
                                  preexec_fn=lambda: signal.signal(signal.SIGCHLD,
                                                                   signal.SIG_IGN))

        self.assertEqual(run("sh", "-c", "exit 7").returncode, 7)
        r = run("grep", "SigIgn", "/proc/self/status")
        self.assertEqual(r.returncode, 0, r.stderr)
        ignored = int(r.stdout.split()[1], 16)
        self.assertTrue(ignored & (1 << (signal.SIGCHLD - 1)), r.stdout)

    def test_gmr_timeout_is_not_inherited(self):
        # GMR_TIMEOUT set by hand: the shell that reads it reports; its
        # child, exec'd with libgmr, has no clock of its own.
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_TIMEOUT="0.5")
        p = subprocess.run(["sh", "-c", "echo $$; sleep 1.5; echo done"], env=env,
                           capture_output=True, text=True, timeout=60)
        shell = int(p.stdout.split()[0])
        self.assertEqual(reports_of(self.log_dir), {shell: ["timeout"]}, p.stderr)


def bare_env():
    """The least environment: no libgmr, no sanitizer options of the tests'
    own (a program built here runs with its sanitizer's defaults)."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}


def sanitized_program(directory, flag):
    """A C program built with -fsanitize=<flag> that overflows a heap block;
    None if it cannot be built here."""
    src = os.path.join(directory, "overflow.c")
    exe = os.path.join(directory, "overflow-" + flag)
    with open(src, "w") as f:
        f.write("#include <stdio.h>\n#include <stdlib.h>\n"
                "int main(int argc, char **argv) {\n"
                "    char *p = malloc(8);\n"
                "    (void)argv;\n"
                "    printf(\"start\\n\");\n"
                "    fflush(stdout);\n"
                "    p[7 + argc] = 1;\n"
                "    free(p);\n"
                "    return 0;\n"
                "}\n")
    r = subprocess.run(["cc", "-g", "-fsanitize=" + flag, "-o", exe, src], capture_output=True)
    return exe if r.returncode == 0 else None


class GmrRunSanitizers(GmrTestCase):
    """gmr-run with programs built with a sanitizer (issue 13)."""

    def test_asan_report_then_ours_then_its_status(self):
        exe = sanitized_program(self.tmp, "address")
        if not exe:
            self.skipTest("cc -fsanitize=address does not build here")
        bare = subprocess.run([exe], capture_output=True, text=True, env=bare_env())
        r = subprocess.run([GMR_RUN, "--library", LIB, exe], capture_output=True, text=True,
                           env=bare_env(), timeout=60)
        self.assertEqual((r.returncode, r.stdout), (bare.returncode, bare.stdout), r.stderr)
        self.assertEqual(bare.returncode, 1)
        self.assertNotIn("runtime does not come first", r.stderr)
        asan = r.stderr.find("ERROR: AddressSanitizer: heap-buffer-overflow")
        ours = r.stderr.find("Guru Meditation")
        self.assertGreaterEqual(asan, 0, r.stderr)
        self.assertGreater(ours, asan, r.stderr)
        report = parse_text(r.stderr[r.stderr.rfind("=" * 72, 0, ours):])
        main = next(t for t in report["threads"] if int(t["tid"]) == int(report["header"]["pid"]))
        self.assertIn("main", [f["function"] for f in main["frames"]])
        # With abort_on_error the sanitizer ends in abort(): one report, the
        # crash report of that SIGABRT, not a second one from its callback.
        env = dict(bare_env(), ASAN_OPTIONS="abort_on_error=1")
        r = subprocess.run([GMR_RUN, "--library", LIB, exe], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(r.returncode, -signal.SIGABRT, r.stderr[-2000:])
        self.assertEqual(r.stderr.count("Guru Meditation"), 1, r.stderr[-3000:])
        self.assertIn("trigger = crash", r.stderr)

    def test_ubsan_and_tsan_programs_run_as_without(self):
        for flag in ("undefined", "thread"):
            if flag == "thread" and SANITIZE:
                continue  # a libgmr built with ASan cannot go into a TSan process
            exe = sanitized_program(self.tmp, flag)
            if not exe:
                continue
            bare = subprocess.run([exe], capture_output=True, text=True, env=bare_env())
            r = subprocess.run([GMR_RUN, "--library", LIB, exe], capture_output=True, text=True,
                               env=bare_env(), timeout=60)
            self.assertEqual((r.returncode, r.stdout), (bare.returncode, bare.stdout),
                             (flag, r.stderr))


class GmrReport(GmrTestCase):
    """gmr-report asks over the control channel (issue 13): no signal, no
    file, no /proc/PID/environ; the report on its own stdout."""

    def report(self, *args, timeout=60, prefix=()):
        return subprocess.run(list(prefix) + [GMR_REPORT] + [str(a) for a in args],
                              capture_output=True, text=True, timeout=timeout)

    def test_report_on_stdout_whatever_the_destination(self):
        # A log dir and a stderr file: the asked-for report goes to the
        # asker only, in the format asked for; nothing is written there.
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        with Target(testd("--threads", 2), env=env) as t:
            r = self.report(t.pid)
            self.assertEqual(r.returncode, 0, r.stderr)
            report = parse_text(r.stdout)
            self.assertEqual(report["header"]["pid"], str(t.pid))
            self.assertEqual(report["header"]["trigger"], "request")
            self.assertEqual(report["header"]["requested_by_uid"], str(os.geteuid()))
            self.assertEqual(len(report["threads"]), 4)
            r = self.report("--json", t.pid)
            self.assertEqual(r.returncode, 0, r.stderr)
            doc = json.loads(r.stdout)
            self.assertEqual(doc["header"]["pid"], t.pid)
            self.assertEqual(doc["header"]["trigger"], "request")
            self.assertTrue(t.alive())
            self.assertNotIn("Guru Meditation", t.stderr())
            self.assertNotIn("{", t.stderr())
        self.assertFalse(os.path.exists(self.log_dir) and os.listdir(self.log_dir))

    def test_a_host_that_rewrites_its_title_and_owns_usr2_is_never_signalled(self):
        # PostgreSQL's and nginx's case: the environ that named the trigger
        # file is gone, and SIGUSR2 means something else to the host.
        trigger = os.path.join(self.tmp, "trigger")
        env = base_env(GMR_TRIGGER_FILE=trigger, GMR_LOG_DIR=self.log_dir)
        argv = testd("--threads", 1, "--own-usr2", "--title", "postgres: checkpointer")
        with Target(argv, env=env) as t:
            with open("/proc/%d/environ" % t.pid, "rb") as f:
                self.assertNotIn(b"GMR_", f.read())
            for _ in range(3):
                r = self.report(t.pid)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("trigger = request", r.stdout)
            t.read_stdout(0.3)
            self.assertEqual(t.lines("usr2"), [])
            self.assertTrue(t.alive())
        self.assertFalse(os.path.exists(trigger))
        self.assertFalse(os.path.exists(self.log_dir) and os.listdir(self.log_dir))

    def test_refusals(self):
        r = self.report("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: gmr-report", r.stdout)
        for args in [(), ("12x",), ("--bogus", "1"), ("--timeout", "x", "1"), ("1", "2")]:
            self.assertEqual(self.report(*args).returncode, 2, args)
        r = self.report(os.getpid())
        self.assertEqual(r.returncode, 1)
        self.assertIn("process %d does not run libgmr" % os.getpid(), r.stderr)
        r = self.report(4000000)
        self.assertEqual((r.returncode, r.stderr.strip()), (1, "gmr-report: no process 4000000"))
        # No trigger at all is no obstacle: the channel is not a trigger.
        with Target(testd("--threads", 1), env=base_env(GMR_SIGNAL="none")) as t:
            r = self.report(t.pid)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(t.alive())

    def test_an_impostor_is_not_believed(self):
        # Someone else holds the name of a process without libgmr.
        with Target(testd("--threads", 1), env=plain_env()) as t:
            with fake_channel(t.pid):
                r = self.report("--timeout", "2", t.pid)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not served by process %d (but by %d)" % (t.pid, os.getpid()), r.stderr)

    def test_timeout(self):
        with fake_channel(os.getpid()):
            r = self.report("--timeout", "0.5", os.getpid())
        self.assertEqual(r.returncode, 3)
        self.assertIn("no report from process %d within" % os.getpid(), r.stderr)

    def test_only_root_and_who_could_trace_it(self):
        # The kernel's rule for ptrace and /proc/PID/maps: root, or the
        # process's own user while it is dumpable.
        nobody = setpriv_nobody()
        if not nobody:
            self.skipTest("needs root and setpriv (util-linux) to ask as another user")
        with Target(testd("--threads", 1)) as t:
            r = self.report(t.pid, prefix=nobody)
            self.assertEqual(r.returncode, 1)
            self.assertIn("not allowed: only root, and the process's own user when it could "
                          "trace the process, may ask", r.stderr)
            self.assertTrue(t.alive())
        # A process that runs as nobody from the start: nobody may ask it.
        # (setpriv itself runs without libgmr, so that only testd is asked;
        # test_hostile.Credentials runs setpriv with it.)
        env = {k: v for k, v in base_env().items() if k != "LD_PRELOAD"}
        argv = nobody + ["env", "LD_PRELOAD=" + runtime_preload()] + testd("--threads", 1)
        with Target(argv, env=env) as t:
            r = self.report(t.pid, prefix=nobody)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("requested_by_uid = 65534", r.stdout)
        # A worker that dropped from root to nobody is not dumpable: nobody
        # may not read its maps, nor its stacks; root may, and gets the
        # report though the worker cannot write its root-owned log dir.
        os.makedirs(self.log_dir, mode=0o700)
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 1, "--drop-to", "65534:65534"), env=env) as t:
            r = self.report(t.pid, prefix=nobody)
            self.assertEqual(r.returncode, 1)
            self.assertIn("not allowed", r.stderr)
            r = self.report(t.pid)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("requested_by_uid = 0", r.stdout)
        self.assertEqual(os.listdir(self.log_dir), [])

    def test_a_stopped_process_never_hangs_the_asker(self):
        # A stopped process's queue fills with the connections of askers
        # that gave up; the next connect() must not wait for ever.
        with Target(testd("--threads", 1)) as t:
            self.assertEqual(self.report(t.pid).returncode, 0)  # its channel is open
            t.signal(signal.SIGSTOP)
            try:
                for _ in range(12):
                    start = time.monotonic()
                    r = self.report("--timeout", "0.3", t.pid, timeout=20)
                    self.assertEqual(r.returncode, 3, r.stderr)
                    self.assertLess(time.monotonic() - start, 5)
            finally:
                t.signal(signal.SIGCONT)
            r = self.report(t.pid)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_survives_a_host_that_closes_every_descriptor(self):
        with Target(testd("--threads", 1, "--daemonize-fds")) as t:
            time.sleep(0.3)
            r = self.report(t.pid)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(t.alive())

    def test_tree_asks_every_libgmr_process_of_the_tree(self):
        # A forked child (its own watcher, its own channel), and a child
        # without libgmr, which is named and skipped.
        env = base_env(GMR_INHERIT="0")
        with Target(testd("--threads", 1, "--fork", "--spawn", "sleep 30"), env=env) as t:
            child = int(t.wait_line("child").split()[1])
            self.addCleanup(kill_quietly, child)  # not the Target's: it outlives it
            time.sleep(0.3)
            r = self.report("--tree", t.pid)
            self.assertEqual(r.returncode, 0, r.stderr)
            heads = [line for line in r.stdout.splitlines() if line.startswith("==> pid ")]
            self.assertEqual(heads, ["==> pid %d (testd) <==" % t.pid,
                                     "==> pid %d (testd) <==" % child], r.stdout[:300])
            self.assertIn("(sleep) does not run libgmr: skipped", r.stderr)
            r = self.report("--tree", "--json", t.pid)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual([d["header"]["pid"] for d in json.loads(r.stdout)], [t.pid, child])
            r = self.report(child)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("pid = %d" % child, r.stdout)


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
