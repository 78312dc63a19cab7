"""Real hosts under libgmr, each run once without it and once with it
(issue 11's hostile-host suite: the real hosts; issues 3 and 6 for uWSGI and
memcached).

Each class starts its host in a temporary directory, on 127.0.0.1 and a
free port, does real requests, triggers a report (SIGUSR2 where the host
does not own that signal, else the trigger file), does the requests again
and stops the host its normal way; it does the same without libgmr. The
tests then compare the two runs (DESIGN.md §1: with libgmr a host behaves
exactly as without it): the same exit status, the same answers, the same
output (numbers masked), the host still serving after the report, and a
complete report from every process that lists every thread that lived
through it. Both runs are made once per class, in setUpClass.

The hosts are Debian packages (scripts/install-deps --daemons); one that
is missing or cannot start here is a visible skip naming its package.
Small host programs live in tests/hosts/ and are compiled here, into the
class's temporary directory.
"""

import glob
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from gmrtest import (BUILD, LIB, ROOT, SANITIZE, SANITIZER_MARKERS, SECTIONS, GmrTestCase, base_env,
                     parse_text, read, wait_reports)

HOSTS = os.path.join(ROOT, "tests", "hosts")
AS_ROOT = os.geteuid() == 0
REPORT_NAME_RE = re.compile(r"_gurumeditation_\d{14}_(?P<pid>\d+)(?:\.\d+)?(?:\.json)?$")
INSTALL = "scripts/install-deps --daemons"
GMR_REPORT = os.path.join(BUILD, "gmr-report")


def first_of(*paths):
    """The first of these programs that exists (absolute) or is on PATH."""
    for p in paths:
        found = p if os.path.isabs(p) and os.access(p, os.X_OK) else shutil.which(p)
        if found:
            return found
    return None


# ---------------------------------------------------------------- helpers

def runs_with_the_sanitizer(argv, expect, timeout=5):
    """None if argv prints expect with the sanitizer runtime preloaded (as
    host_env(False) has it), else why not: a host the runtime cannot run is
    skipped under sanitizers, saying so."""
    try:
        p = subprocess.run(argv, env=host_env(False), capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return "%s hangs with the sanitizer runtime preloaded" % " ".join(argv)
    if expect not in p.stdout:
        return "%s fails with the sanitizer runtime preloaded (status %d): %s" % (
            " ".join(argv), p.returncode, (p.stdout + p.stderr)[-300:])
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, host=None, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host is not None and not host.alive():
            raise AssertionError("the host exited (%s) before listening on port %d:\n%s"
                                 % (host.proc.returncode, port, host.logs()[-3000:]))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on port %d" % port)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return sorted(int(p) for p in f.read().split())
    except OSError:
        return []


def descendants(pid):
    found = []
    for child in children(pid):
        found += [child] + descendants(child)
    return found


def tids(pid):
    try:
        return sorted(int(t) for t in os.listdir("/proc/%d/task" % pid))
    except OSError:
        return []


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def alive(pid):
    return os.path.exists("/proc/%d" % pid)


def thread_names(pid):
    """{tid: name} of pid's threads now."""
    names = {}
    for tid in tids(pid):
        try:
            with open("/proc/%d/task/%d/comm" % (pid, tid)) as f:
                names[tid] = f.read().strip()
        except OSError:
            pass
    return names


def blocked_signals(pid, tid):
    """The signal mask of a thread (SigBlk), or None if it is gone."""
    try:
        with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
            return int(next(l for l in f if l.startswith("SigBlk:")).split()[1], 16)
    except (OSError, StopIteration):
        return None


# glibc's own signals, SIGCANCEL (32) and SIGSETXID (33): glibc installs its
# SIGSETXID handler when a process starts its first thread (libgmr's watcher,
# here), replacing an inherited SIG_IGN (GNU make runs its commands with both
# ignored). The program itself cannot see or set either.
GLIBC_SIGNALS = ~((1 << 31) | (1 << 32))


def signal_state(pids):
    """Every thread's name, blocked and ignored signals, over pids (libgmr's
    own watcher left out), sorted: what a host would see of its signals."""
    state = []
    for pid in pids:
        for tid, name in thread_names(pid).items():
            if name == "gmr-watcher":
                continue
            try:
                with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
                    fields = dict(l.split(":", 1) for l in f if l.startswith(("SigBlk", "SigIgn")))
            except OSError:
                continue
            state.append("%s blocked=%016x ignored=%016x" % (
                re.sub(r"#\d+$", "#N", name), int(fields["SigBlk"], 16) & GLIBC_SIGNALS,
                int(fields["SigIgn"], 16) & GLIBC_SIGNALS))
    return sorted(state)


def blocks_all(mask):
    """Does this mask block SIGUSR2 and the real-time signals (the ones
    libgmr may capture with), as the threads of jemalloc, node and haproxy
    that block every signal do?"""
    return mask is not None and all(mask & (1 << (s - 1)) for s in
                                    [signal.SIGUSR2, signal.SIGRTMIN + 10, signal.SIGRTMAX])


EPOLL_WAITS = ("232", "281", "441")  # x86_64 epoll_wait, epoll_pwait, epoll_pwait2


def syscall_of(pid):
    """The number of the system call pid's main thread waits in, as text."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0]
    except (OSError, IndexError):
        return "?"


def wait_in_epoll(pid, timeout=20):
    """Waits until pid's main thread waits in epoll (a server at rest)."""
    deadline = time.monotonic() + timeout
    while syscall_of(pid) not in EPOLL_WAITS:
        if time.monotonic() > deadline:
            raise AssertionError("process %d (%s) never waited in epoll: its main thread is in "
                                 "system call %s (202: futex), threads %s"
                                 % (pid, cmdline(pid), syscall_of(pid),
                                    sorted(thread_names(pid).values())))
        time.sleep(0.02)


def touch(path):
    """Creates path or moves its mtime forward (a trigger file touch)."""
    with open(path, "a"):
        pass
    now = time.time_ns()
    os.utime(path, ns=(now, max(now, os.stat(path).st_mtime_ns + 1000000)))


def no_core():
    """preexec_fn: no core file from a host we make crash (core_pattern
    may be a plain file name in the working directory)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def host_env(gmr, **gmr_vars):
    """The host's environment with libgmr (base_env) or without it: the same
    variables (the GMR_* ones too, unread without libgmr) and the same
    sanitizer runtime first in LD_PRELOAD, only libgmr taken out."""
    env = base_env(**gmr_vars)
    if not gmr:
        rest = [p for p in env.get("LD_PRELOAD", "").split(":") if p and p != LIB]
        if rest:
            env["LD_PRELOAD"] = ":".join(rest)
        else:
            env.pop("LD_PRELOAD", None)
    return env


def tool_env():
    """For the clients we run (psql, redis-cli, jstack): no libgmr."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("GMR_") and k not in ("LD_PRELOAD", "ASAN_OPTIONS")}


def normalise(text, directory=None):
    """Output lines comparable across runs: the run's directory, numbers
    (pids, ports, times, addresses) masked; libgmr's own `gmr:` lines left
    out."""
    lines = []
    for line in text.splitlines():
        if line.startswith("gmr:"):
            continue
        if directory:
            line = line.replace(directory, "$RUN")
        line = re.sub(r"0x[0-9a-fA-F]+", "0x?", line)
        lines.append(re.sub(r"\d+", "N", line))
    return lines


def gmr_lines(text):
    return [l for l in text.splitlines() if l.startswith("gmr:")]


def reports_by_pid(log_dir):
    found = {}
    for path in glob.glob(os.path.join(log_dir, "*_gurumeditation_*")):
        m = REPORT_NAME_RE.search(path)
        if m:
            found.setdefault(int(m.group("pid")), []).append(path)
    for paths in found.values():
        paths.sort(key=lambda p: (os.stat(p).st_mtime_ns, p))
    return found


def wait_reports_from(log_dir, want, timeout=30, strict=True):
    """Waits until log_dir holds want[pid] reports from each pid; returns
    reports_by_pid (at the timeout too, unless strict)."""
    deadline = time.monotonic() + timeout
    while True:
        found = reports_by_pid(log_dir)
        if all(len(found.get(pid, [])) >= n for pid, n in want.items()):
            return found
        if time.monotonic() > deadline:
            if not strict:
                return found
            raise AssertionError("expected reports %s in %s, found %s"
                                 % (want, log_dir, {p: len(v) for p, v in found.items()}))
        time.sleep(0.02)


def http_get(port, path="/"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return "%d %s" % (r.status, r.read().decode(errors="replace"))


def modules(thread):
    """The module paths of a thread's frames (without the +0xoffset)."""
    return [re.sub(r"\+0x[0-9a-f]+$", "", f["module"]) for f in thread["frames"] if "module" in f]


def frames(thread):
    """A thread's frames, short, for assertion messages."""
    return "thread %d (%s): %s" % (thread["tid"], thread["name"], [
        "%s (%s)" % (f["function"], f.get("module", "python")) for f in thread["frames"]]
        or thread["notes"])


# ------------------------------------------------------------ host processes

class Host:
    """A host process in its own session; stdout and stderr in files under
    its run directory, or stdout on a pipe for a host that answers lines on
    stdin (lines=True). Ended by its pid (and its descendants' pids)."""

    def __init__(self, argv, env, cwd, name="host", lines=False, user=None, preexec_fn=None):
        self.name = name
        self.out_path = os.path.join(cwd, name + ".stdout")
        self.err_path = os.path.join(cwd, name + ".stderr")
        self.buffer = b""
        extra = {"user": user} if user else {}
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [str(a) for a in argv], env=env, cwd=cwd, start_new_session=True,
                stdin=subprocess.PIPE if lines else subprocess.DEVNULL,
                stdout=subprocess.PIPE if lines else out, stderr=err, preexec_fn=preexec_fn,
                **extra)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def logs(self):
        return "stdout:\n%s\nstderr:\n%s" % (self.stdout(), self.stderr())

    # A host that answers lines.
    def readline(self, timeout=30):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s gave no line in %d s; stderr:\n%s"
                                     % (self.name, timeout, self.stderr()[-3000:]))
            chunk = b""
            if select.select([self.proc.stdout], [], [], min(left, 0.2))[0]:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError("%s closed its stdout (status %s); stderr:\n%s"
                                         % (self.name, self.proc.wait(timeout=10),
                                            self.stderr()[-3000:]))
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode(errors="replace")

    def ask(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        return self.readline()

    def finish(self, last="quit", timeout=30):
        """Sends the last line, closes stdin; returns (status, remaining stdout lines)."""
        try:
            self.proc.stdin.write(last.encode() + b"\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass  # it ended first (node after SIGTERM, say): what it wrote is still read
        out, deadline = self.buffer, time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([self.proc.stdout], [], [], 0.2)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
        self.proc.stdout.close()
        return self.wait(timeout), out.decode(errors="replace").splitlines()

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not stop in %d s:\n%s"
                                 % (self.name, timeout, self.logs()[-3000:]))

    def kill(self):
        """Ends the host and what it started, by their pids."""
        for pid in [self.pid] + descendants(self.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                try:
                    f.close()
                except OSError:
                    pass


def sanitizer_reports(directory):
    """The hosts' output files under directory that hold a sanitizer's
    report, with its first lines."""
    found = []
    for path in glob.glob(os.path.join(directory, "**", "*"), recursive=True):
        if not path.endswith((".stdout", ".stderr", ".log")) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
        for marker in SANITIZER_MARKERS:
            if marker in text:
                found.append("%s: %s" % (path, text[text.index(marker):][:2000]))
    return found


def gmr_report_tree(pid):
    """gmr-report --tree PID: (exit status, the pids it printed reports of,
    their triggers, its stderr)."""
    p = subprocess.run([GMR_REPORT, "--tree", "--json", str(pid)], capture_output=True, text=True,
                       timeout=120, env=tool_env())
    docs = json.loads(p.stdout) if p.returncode == 0 else []
    return (p.returncode, sorted(d["header"]["pid"] for d in docs),
            sorted(set(d["header"]["trigger"] for d in docs)), p.stderr)


def usr2(run, pid):
    """The trigger for a host that does not own SIGUSR2: the signal with
    libgmr; nothing without it (SIGUSR2 would end the host)."""
    return (lambda: os.kill(pid, signal.SIGUSR2)) if run.gmr else None


class Run:
    """What one run of a host showed; `gmr` says whether libgmr was in it."""

    def __init__(self, gmr, directory, threads_vary=False):
        self.gmr = gmr
        self.threads_vary = threads_vary  # how many threads of a name: the runtime's choice
        self.dir = directory
        self.log_dir = os.path.join(directory, "reports")
        self.trigger = os.path.join(directory, "trigger")
        self.status = None
        self.answers = []   # what the host answered, in order, before and after the report
        self.output = []    # its normalised output (stdout/stderr/log file) to compare
        self.reports = {}   # pid -> [parsed report]
        self.missing = {}   # pid -> tids alive before and after the report, yet not in it
        self.unreported = {}  # pid -> why we think it wrote no report
        self.snapshots = {}  # pid -> {tid: name} just before the trigger
        self.masks = {}     # pid -> {tid: SigBlk} just before the trigger
        self.facts = {}     # anything else a class checks

    def normalise(self, text):
        return normalise(text, self.dir)

    def env(self, **extra):
        gmr_vars = {"GMR_LOG_DIR": self.log_dir}
        gmr_vars.update(extra)
        return host_env(self.gmr, **gmr_vars)

    def collect(self, pids, fire, timeout=15):
        """Snapshots the threads of each pid, fires the trigger and, with
        libgmr, waits for one more report from each pid and checks its
        threads against the snapshot while the host still runs. Without
        libgmr the trigger is only fired (a touched file nobody watches),
        or not at all (fire None: SIGUSR2 would end a host that does not
        own it)."""
        self.facts.setdefault("signal_state", []).append(sorted(set(signal_state(pids))))
        names = sorted(re.sub(r"#\d+$", "#N", name) for pid in pids
                       for name in thread_names(pid).values() if name != "gmr-watcher")
        self.facts.setdefault("thread_names", []).append(
            sorted(set(names)) if self.threads_vary else names)
        before = {pid: thread_names(pid) for pid in pids}
        self.snapshots.update(before)
        for pid in pids:
            self.masks[pid] = {tid: blocked_signals(pid, tid) for tid in before[pid]}
        have = reports_by_pid(self.log_dir) if self.gmr else {}
        if fire:
            fire()
        if not self.gmr:
            return
        want = {pid: len(have.get(pid, [])) + 1 for pid in pids}
        found = wait_reports_from(self.log_dir, want, timeout, strict=False)
        for pid in pids:
            if len(found.get(pid, [])) < want[pid]:
                self.unreported[pid] = "no report in %d s; now: %s, threads %s, main thread in " \
                    "system call %s" % (timeout, cmdline(pid) or "gone",
                                        sorted(thread_names(pid).values()), syscall_of(pid))
                continue
            report = parse_text(read(found[pid][-1]))
            report["path"] = found[pid][-1]
            self.reports.setdefault(pid, []).append(report)
            listed = {t["tid"] for t in report["threads"]}
            self.missing.setdefault(pid, []).extend(
                "%d (%s)" % (tid, name) for tid, name in sorted(before[pid].items())
                if tid not in listed and os.path.exists("/proc/%d/task/%d" % (pid, tid)))


# ------------------------------------------------------------- the checks

class HostChecks:
    """The tests every host class shares; setUpClass leaves cls.plain and
    cls.gmr, the two Runs. (Not a TestCase: only the host classes are.)"""

    maxDiff = None
    THREADS_VARY = False  # True: compare the names of the threads, not how many have each

    @classmethod
    def setUpClass(cls):
        start = cls.started = time.monotonic()
        cls.require()
        cls.dir = tempfile.mkdtemp(prefix="gmr-host-%s-" % cls.__name__.lower())
        os.chmod(cls.dir, 0o755)  # hosts that drop privileges must reach their files
        cls.hosts = []
        try:
            cls.prepare()
            cls.plain = cls.run_host(cls.new_run(False))
            cls.gmr = cls.run_host(cls.new_run(True))
            cls.sanitizer_reports = sanitizer_reports(cls.dir)
        except BaseException:
            cls.end_hosts()
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise
        cls.setup_seconds = time.monotonic() - start

    @classmethod
    def tearDownClass(cls):
        cls.end_hosts()
        shutil.rmtree(cls.dir, ignore_errors=True)
        sys.stderr.write("\n    %s: both runs in %.1f s, the class in %.1f s\n"
                         % (cls.__name__, cls.setup_seconds, time.monotonic() - cls.started))

    @classmethod
    def new_run(cls, gmr):
        d = os.path.join(cls.dir, "with-libgmr" if gmr else "without")
        os.makedirs(d)
        os.chmod(d, 0o755)
        run = Run(gmr, d, cls.THREADS_VARY)
        os.makedirs(run.log_dir)
        os.chmod(run.log_dir, 0o777)  # workers that run as another user write here
        return run

    @classmethod
    def start(cls, *args, **kw):
        host = Host(*args, **kw)
        cls.hosts.append(host)
        return host

    @classmethod
    def end_hosts(cls):
        for host in getattr(cls, "hosts", []):
            host.kill()

    @classmethod
    def require(cls):
        """Raises unittest.SkipTest, saying why, where the host cannot run."""

    @classmethod
    def prepare(cls):
        """Once per class, before both runs (compile, initdb)."""

    # The shared tests.
    def test_no_sanitizer_report(self):
        self.assertEqual(self.sanitizer_reports, [])

    def test_same_exit_status(self):
        self.assertIsNotNone(self.plain.status)
        self.assertEqual(self.gmr.status, self.plain.status,
                         "exit status with libgmr %s, without %s" % (self.gmr.status,
                                                                    self.plain.status))

    def test_same_answers_before_and_after_the_report(self):
        self.assertTrue(self.plain.answers)
        self.assertEqual(self.gmr.answers, self.plain.answers)

    def test_same_output(self):
        self.assertEqual(self.gmr.output, self.plain.output)

    def test_same_signal_masks_and_ignored_signals(self):
        # Taken just before each trigger (without libgmr: at the same point),
        # one entry for every distinct (thread name, masks).
        self.assertEqual(self.gmr.facts.get("signal_state"), self.plain.facts.get("signal_state"))

    def test_same_threads(self):
        # The host's threads by name, just before each trigger, libgmr's
        # watcher left out: libgmr starts no thread in the host but its own.
        self.assertEqual(self.gmr.facts.get("thread_names"), self.plain.facts.get("thread_names"))

    def test_reports_are_complete_and_list_every_thread(self):
        self.assertEqual(self.gmr.unreported, {}, "processes that wrote no report")
        self.assertTrue(self.gmr.reports, "no report")
        for pid, reports in self.gmr.reports.items():
            for report in reports:
                where = "%s (pid %d)" % (report["path"], pid)
                self.assertEqual(report["header"].get("pid"), str(pid), where)
                self.assertEqual([s for s in SECTIONS if s not in report["sections"]], [], where)
                self.assertTrue(report["threads"], where)
                for t in report["threads"]:
                    self.assertTrue(t["frames"] or t["notes"],
                                    "%s: thread %d (%s) has neither frames nor a note"
                                    % (where, t["tid"], t["name"]))
            self.assertEqual(self.gmr.missing[pid], [],
                             "pid %d: threads alive before and after the report, not in it"
                             % pid)


SIGUSR2_LINE_RE = re.compile(r"^\s*SIGUSR2: (?P<what>.*?)(?: \((?P<module>[^()]*)\))?(?: \[.*\])?$")


def sigusr2_handler(report):
    """(what, module) of SIGUSR2's line in a report's Signals section;
    ("ignored", None) if the host ignores it."""
    for line in report["sections"].get("Signals", []):
        m = SIGUSR2_LINE_RE.match(line)
        if m:
            return m.group("what"), m.group("module")
        if line.startswith("ignored = ") and "USR2" in line.split():
            return "ignored", None
    return None, None


class OwnsSigusr2:
    """For a host that installs its own SIGUSR2 handler: each report (from
    the processes sigusr2_pids names) shows that handler, in the host's
    module SIGUSR2_MODULE, not libgmr's (or SIGUSR2 ignored, where the
    host ignores it: some of PostgreSQL's processes)."""

    SIGUSR2_MODULE = None

    def sigusr2_pids(self):
        return list(self.gmr.reports)

    def test_sigusr2_stays_the_hosts(self):
        pids = self.sigusr2_pids()
        self.assertTrue(pids)
        for pid in pids:
            for report in self.gmr.reports[pid]:
                what, module = sigusr2_handler(report)
                if what == "ignored":
                    continue
                self.assertEqual(os.path.realpath(module or "?"),
                                 os.path.realpath(self.SIGUSR2_MODULE),
                                 "pid %d: SIGUSR2: %s (%s)" % (pid, what, module))


def check_blocking_threads(test, run, pid):
    """The threads of pid that blocked every signal before the report are
    listed in it: with their stacks where the ptrace backend took them (the
    header says how many it did), else with a note; returns how many there
    were."""
    report = run.reports[pid][-1]
    listed = {t["tid"]: t for t in report["threads"]}
    blocking = [tid for tid, mask in run.masks[pid].items() if blocks_all(mask)
                and run.snapshots[pid][tid] != "gmr-watcher"]
    test.assertTrue(blocking, "no thread of %d blocks every signal: %s"
                    % (pid, {t: hex(m or 0) for t, m in run.masks[pid].items()}))
    ptraced = re.search(r"; [1-9]\d* by ptrace$", report["header"].get("capture", ""))
    for tid in blocking:
        if tid in listed and ptraced:
            test.assertTrue(listed[tid]["frames"], listed[tid])
        elif tid in listed:
            test.assertTrue(listed[tid]["notes"], frames(listed[tid]))
    return len(blocking)


# ------------------------------------------------------------------ python3

PYTHON = first_of("/usr/bin/python3", "python3")


class Python(HostChecks, GmrTestCase):
    """python3 with a busy, a sleeping and a waiting thread; SIGUSR2."""

    @classmethod
    def require(cls):
        if not PYTHON:
            raise unittest.SkipTest("python3 is not installed (Debian python3)")

    @classmethod
    def run_host(cls, run):
        host = cls.start([PYTHON, os.path.join(HOSTS, "threads.py")], run.env(), run.dir,
                         "python", lines=True)
        ready = host.readline()
        assert ready == "ready %d" % host.pid, ready
        run.answers.append(host.ask("first"))
        time.sleep(0.2)
        run.collect([host.pid], usr2(run, host.pid))
        run.answers.append(host.ask("second line"))
        run.status, rest = host.finish()
        run.answers += rest
        run.output = run.normalise(host.stderr())
        return run

    def test_frames_from_the_host(self):
        (reports,) = self.gmr.reports.values()
        report = reports[-1]
        exe = os.path.realpath(PYTHON)
        for t in report["threads"]:
            if t["name"] == "gmr-watcher":
                continue
            self.assertIn(exe, modules(t), frames(t))
        self.assertIn("_PyEval_EvalFrameDefault",
                      [f["function"] for t in report["threads"] for f in t["frames"]])
        # Its Python frames too (test_python.py has the details).
        python = {f["function"] for t in report["threads"] for f in t["frames"]
                  if f.get("kind") == "python"}
        self.assertLessEqual({"busy", "sleeper", "waiter", "<module>"}, python, python)


# --------------------------------------------------------------------- JVM

JAVA = first_of("java")
JAVAC = first_of("javac")
JCMD = first_of("jcmd")
JSTACK = first_of("jstack")
CODELIST_RE = re.compile(r"^\d+ (?P<level>\d) \d+ (?P<method>\S+) \[0x(?P<start>[0-9a-f]+), "
                         r"0x[0-9a-f]+ - 0x(?P<end>[0-9a-f]+)\]$")


def c2_code(pid):
    """GmrHost's methods compiled by C2 (tier 4): [(method, start, end)], from jcmd."""
    out = subprocess.run([JCMD, str(pid), "Compiler.codelist"], capture_output=True, text=True,
                         env=tool_env(), timeout=60).stdout
    return [(m.group("method"), int(m.group("start"), 16), int(m.group("end"), 16))
            for m in map(CODELIST_RE.match, out.splitlines())
            if m and m.group("level") == "4" and m.group("method").startswith("GmrHost.")]


class JVM(OwnsSigusr2, HostChecks, GmrTestCase):
    """OpenJDK 17 with the default tiered JIT. The JVM owns SIGUSR2 (its
    thread suspend signal): trigger file only."""

    THREADS_VARY = True  # compiler and GC threads come and go as HotSpot likes
    SIGUSR2_MODULE = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(JAVA or "/"))),
                                  "lib", "server", "libjvm.so")

    @classmethod
    def require(cls):
        if not (JAVA and JAVAC and JCMD):
            raise unittest.SkipTest("OpenJDK is not installed (Debian openjdk-17-jdk-headless; %s)"
                                    % INSTALL)

    @classmethod
    def prepare(cls):
        subprocess.run([JAVAC, "-nowarn", "-XDignore.symbol.file", "-d", cls.dir,
                        os.path.join(HOSTS, "GmrHost.java")], check=True, capture_output=True,
                       env=tool_env(), timeout=120)

    @classmethod
    def java(cls, *args):
        return [JAVA, "-Xmx64m", "-cp", cls.dir, "GmrHost"] + list(args)

    @classmethod
    def run_host(cls, run):
        host = cls.start(cls.java(), run.env(GMR_TRIGGER_FILE=run.trigger), run.dir, "java",
                         lines=True)
        ready = host.readline()
        assert ready == "ready %d" % host.pid, ready
        run.answers.append(host.ask("first"))
        # The busy loop compiled by C2 is the case that matters.
        deadline = time.monotonic() + 30
        while not c2_code(host.pid):
            assert time.monotonic() < deadline, "C2 never compiled GmrHost's busy loop"
            time.sleep(0.2)
        run.collect([host.pid], lambda: touch(run.trigger))
        run.facts["c2"] = c2_code(host.pid)
        for _ in range(9):  # issue 12: ten reports of a JVM at work, the watcher alive throughout
            run.collect([host.pid], lambda: touch(run.trigger))
        run.answers.append(host.ask("second line"))
        if JSTACK:
            js = subprocess.run([JSTACK, str(host.pid)], capture_output=True, text=True,
                                env=tool_env(), timeout=60)
            run.facts["jstack"] = (js.returncode, sorted(
                n for n in ("gmr-busy", "gmr-sleeper", "gmr-waiter") if '"%s"' % n in js.stdout))
        run.answers.append(host.ask("third"))
        run.status, rest = host.finish()
        run.answers += rest
        run.gmr_lines = gmr_lines(host.stderr())
        run.output = run.normalise(host.stderr())
        return run

    def test_ten_reports_with_the_jit_at_work(self):
        # Issue 12: the JVM's compiled frames once crashed the watcher.
        (reports,) = self.gmr.reports.values()
        self.assertEqual(len(reports), 10)
        self.assertEqual([l for l in self.gmr.gmr_lines if "crashed" in l], [])
        jit = [f for r in reports for t in r["threads"] for f in t["frames"]
               if "[jit]" in f["marks"]]
        self.assertTrue(jit, "no frame in the JIT's code in ten reports")
        self.assertTrue(all(f["module"].startswith("[jit]+0x") for f in jit), jit[:3])

    def test_frames_from_the_host(self):
        (reports,) = self.gmr.reports.values()
        report = reports[-1]
        names = [t["name"] for t in report["threads"]]
        for name in ("gmr-busy", "gmr-sleeper", "gmr-waiter", "VM Thread"):
            self.assertIn(name, names)
        for t in report["threads"]:
            if t["name"] in ("gmr-sleeper", "gmr-waiter", "VM Thread", "GC Thread#0"):
                self.assertTrue(any(m.endswith("/libjvm.so") for m in modules(t)), frames(t))
        # The busy thread runs C2-compiled code: its first frame is in it.
        (busy,) = [t for t in report["threads"] if t["name"] == "gmr-busy"]
        self.assertTrue(busy["frames"], frames(busy))
        pc = int(busy["frames"][0]["pc"], 16)
        self.assertTrue(any(start <= pc < end for _, start, end in self.gmr.facts["c2"]),
                        "gmr-busy's first frame %#x is not in C2 code %s"
                        % (pc, [(m, hex(s), hex(e)) for m, s, e in self.gmr.facts["c2"]]))

    @unittest.skipUnless(JSTACK, "jstack is not installed (openjdk-17-jdk-headless)")
    def test_jstack_works_beside_libgmr(self):
        self.assertEqual(self.plain.facts["jstack"], (0, ["gmr-busy", "gmr-sleeper",
                                                         "gmr-waiter"]))
        self.assertEqual(self.gmr.facts["jstack"], self.plain.facts["jstack"])

    def crash(self, gmr):
        """`java GmrHost crash` in a directory of its own; no log dir, so
        libgmr's crash report goes to stderr."""
        d = tempfile.mkdtemp(dir=self.tmp)
        p = subprocess.run(self.java("crash"), env=host_env(gmr), cwd=d, capture_output=True,
                           preexec_fn=no_core, timeout=120)
        return (p.returncode, normalise(p.stdout.decode(errors="replace"), d),
                p.stderr.decode(errors="replace"), glob.glob(os.path.join(d, "hs_err_pid*.log")))

    def test_unsafe_crash_keeps_hs_err_and_status(self):
        # Issue 11 case 11: HotSpot chains to our SIGSEGV handler for faults
        # it does not handle itself; the JVM's own crash handling must go on.
        status, out, err, hs_err = self.crash(False)
        self.assertEqual(status, -signal.SIGABRT, err[-2000:])
        self.assertTrue(hs_err, "no hs_err_pid*.log without libgmr")
        # HotSpot's summary goes to stdout.
        self.assertIn("# A fatal error has been detected by the Java Runtime Environment:", out)
        g_status, g_out, g_err, g_hs_err = self.crash(True)
        self.assertEqual((g_status, len(g_hs_err)), (status, 1),
                         "with libgmr: status %s and hs_err files %s (without: %s and %s)"
                         % (g_status, g_hs_err, status, hs_err))
        self.assertEqual(g_out, out)

    def test_unsafe_crash_report_on_stderr(self):
        status, out, err, hs_err = self.crash(True)
        report = parse_text(err)
        self.assertEqual(report["header"].get("trigger"), "crash", err[-3000:])
        # The JVM handles the SIGSEGV itself (hs_err), then aborts: the
        # process dies of SIGABRT, and that is what libgmr reports, with
        # the JVM's handler and the fault under it on the crashed stack.
        self.assertEqual(report["header"].get("signal"), "ABRT")
        crashed = [t for t in report["threads"] if "crashed" in t["marks"]]
        self.assertEqual(len(crashed), 1, [t["marks"] for t in report["threads"]])
        self.assertTrue(any(f["function"] == "Unsafe_GetInt" for f in crashed[0]["frames"]),
                        frames(crashed[0]))


# -------------------------------------------------------------------- Rust

# Debian's rustc first (issue 11); another one on PATH if that is missing.
RUSTC = first_of("/usr/bin/rustc", "rustc")


class Rust(HostChecks, GmrTestCase):
    """A threaded Rust program (SIGUSR2 report), and one whose main
    overflows its stack."""

    @classmethod
    def require(cls):
        if not RUSTC:
            raise unittest.SkipTest("rustc is not installed (Debian rustc; %s)" % INSTALL)

    @classmethod
    def prepare(cls):
        cls.threads_bin = os.path.join(cls.dir, "threads")
        cls.overflow_bin = os.path.join(cls.dir, "overflow")
        builds = [subprocess.Popen([RUSTC, "-O", "-g", "-o", out, os.path.join(HOSTS, src)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env=tool_env())
                  for out, src in ((cls.threads_bin, "threads.rs"),
                                   (cls.overflow_bin, "overflow.rs"))]
        for b in builds:
            out = b.communicate(timeout=300)[0]
            if b.returncode:
                raise AssertionError("%s failed:\n%s" % (RUSTC, out.decode(errors="replace")))

    @classmethod
    def run_host(cls, run):
        host = cls.start([cls.threads_bin], run.env(), run.dir, "threads", lines=True)
        ready = host.readline()
        assert ready == "ready %d" % host.pid, ready
        run.answers.append(host.ask("first"))
        time.sleep(0.1)
        run.collect([host.pid], usr2(run, host.pid))
        run.answers.append(host.ask("second line"))
        run.status, rest = host.finish()
        run.answers += rest
        run.output = run.normalise(host.stderr())
        return run

    def test_frames_from_the_host(self):
        (reports,) = self.gmr.reports.values()
        threads = {t["name"]: t for t in reports[-1]["threads"]}
        for name in ("rs-sleeper0", "rs-sleeper1", "rs-waiter"):
            self.assertIn(name, threads)
            self.assertIn(self.threads_bin, modules(threads[name]), frames(threads[name]))
        self.assertTrue(any("sleeper_loop" in f["function"]
                            for f in threads["rs-sleeper0"]["frames"]),
                        frames(threads["rs-sleeper0"]))

    def overflow(self, gmr):
        p = subprocess.run([self.overflow_bin], env=host_env(gmr), cwd=self.tmp,
                           capture_output=True, preexec_fn=no_core, timeout=60)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def test_stack_overflow_message_and_status(self):
        # Issue 11 case 15: the Rust runtime installs its guard-page handler
        # only where SIGSEGV's disposition is SIG_DFL.
        def rust_lines(err):
            # Newer runtimes name the thread's id, "thread 'main' (4242)",
            # and add ", aborting": the id differs from run to run.
            return [re.sub(r" \(\d+\)", "", l) for l in err.splitlines()
                    if "overflowed its stack" in l or l.startswith("fatal runtime error")]

        status, out, err = self.overflow(False)
        self.assertEqual(status, -signal.SIGABRT, err)
        self.assertRegex(err, r"thread 'main' (\(\d+\) )?has overflowed its stack")
        self.assertIn("fatal runtime error: stack overflow", err)
        self.assertEqual(len(rust_lines(err)), 2, err)
        g_status, g_out, g_err = self.overflow(True)
        self.assertEqual((g_status, rust_lines(g_err)), (status, rust_lines(err)),
                         "with libgmr: status %s, stderr begins:\n%s" % (g_status, g_err[:600]))
        self.assertEqual(g_out, out)


# -------------------------------------------------------------------- node

NODE = first_of("node", "nodejs")


def catches(pid, sig):
    """Has pid a handler for sig (SigCgt in /proc/PID/status)?"""
    with open("/proc/%d/status" % pid) as f:
        cgt = next(l for l in f if l.startswith("SigCgt:")).split()[1]
    return bool(int(cgt, 16) & (1 << (sig - 1)))


class Node(HostChecks, GmrTestCase):
    """node: an http server plus a worker_threads Worker. Node does not
    own SIGUSR2 unless asked (checked without libgmr); one of its threads
    blocks every signal and must be listed with a note."""

    @classmethod
    def require(cls):
        if not NODE:
            raise unittest.SkipTest("node is not installed (Debian nodejs; %s)" % INSTALL)

    @classmethod
    def run_host(cls, run):
        port = free_port()
        host = cls.start([NODE, os.path.join(HOSTS, "server.js"), port],
                         run.env(GMR_TRIGGER_FILE=run.trigger), run.dir, "node", lines=True)
        ready = host.readline()
        assert ready == "ready %d" % host.pid, ready
        if not run.gmr:
            cls.owns_usr2 = catches(host.pid, signal.SIGUSR2)
        run.answers.append(http_get(port, "/a"))
        if cls.owns_usr2:
            run.collect([host.pid], lambda: touch(run.trigger))
        else:
            run.collect([host.pid], usr2(run, host.pid))
        run.answers.append(http_get(port, "/b"))
        os.kill(host.pid, signal.SIGTERM)
        run.status, rest = host.finish(last="")
        run.answers += rest
        run.output = run.normalise(host.stderr())
        return run

    def test_frames_from_the_host(self):
        (reports,) = self.gmr.reports.values()
        report = reports[-1]
        exe = os.path.realpath(NODE)
        (main,) = [t for t in report["threads"] if "main thread" in t["marks"]]
        self.assertIn(exe, modules(main), frames(main))
        with_node = [t for t in report["threads"] if exe in modules(t)]
        self.assertGreaterEqual(len(with_node), 4, [frames(t) for t in report["threads"]])

    def test_thread_blocking_every_signal_is_listed_with_a_note(self):
        (pid,) = self.gmr.reports
        check_blocking_threads(self, self.gmr, pid)


# ------------------------------------------------------------------- uWSGI

UWSGI_BIN = first_of("uwsgi")
UWSGI_PLUGIN = "/usr/lib/uwsgi/plugins/python3_plugin.so"


class UWSGI(OwnsSigusr2, HostChecks, GmrTestCase):
    """uWSGI, master and 2 workers. The workers take SIGUSR2 over after
    start (it prints their backtrace into the log): the trigger file."""

    SIGUSR2_MODULE = UWSGI_BIN or "uwsgi"

    def sigusr2_pids(self):
        return self.gmr.facts["workers"]  # the master leaves SIGUSR2 alone

    @classmethod
    def require(cls):
        if not (UWSGI_BIN and os.path.exists(UWSGI_PLUGIN)):
            raise unittest.SkipTest("uWSGI is not installed (Debian uwsgi-core, "
                                    "uwsgi-plugin-python3; %s)" % INSTALL)

    @classmethod
    def run_host(cls, run):
        port = free_port()
        host = cls.start([UWSGI_BIN, "--master", "--processes", "2", "--plugin", "python3",
                          "--http-socket", "127.0.0.1:%d" % port, "--wsgi-file",
                          os.path.join(HOSTS, "app.py"), "--die-on-term"],
                         run.env(GMR_TRIGGER_FILE=run.trigger), run.dir, "uwsgi")
        wait_port(port, host)
        run.answers.append(http_get(port))
        workers = children(host.pid)
        assert len(workers) == 2, workers
        run.facts["workers"] = workers
        run.facts["master"] = host.pid
        for pid in workers:  # their signal handlers are in place by then
            wait_in_epoll(pid)
        # The workers' own SIGUSR2: a backtrace in uWSGI's log, no report.
        os.kill(workers[0], signal.SIGUSR2)
        deadline = time.monotonic() + 20
        while "*** end of backtrace ***" not in host.stderr():
            assert time.monotonic() < deadline, host.stderr()[-3000:]
            time.sleep(0.05)
        run.facts["own_sigusr2"] = "*** backtrace of %d ***" % workers[0] in host.stderr()
        time.sleep(0.3)
        run.facts["reports_after_own_sigusr2"] = sorted(reports_by_pid(run.log_dir))
        run.collect([host.pid] + workers, lambda: touch(run.trigger))
        time.sleep(1.0)  # nothing more may come
        run.facts["reports"] = sorted(os.listdir(run.log_dir))
        # The master and its workers over the channel: the workers' SIGUSR2
        # (a backtrace in uWSGI's log) must not be touched.
        backtraces = host.stderr().count("*** end of backtrace ***")
        run.facts["gmr_report"] = gmr_report_tree(host.pid)
        run.facts["backtraces_after_gmr_report"] = host.stderr().count(
            "*** end of backtrace ***") - backtraces
        for _ in range(5):
            run.answers.append(http_get(port))
        run.facts["alive"] = host.alive() and children(host.pid) == workers
        os.kill(host.pid, signal.SIGTERM)
        run.status = host.wait()
        run.output = sorted(run.normalise(host.stdout() + host.stderr()))
        return run

    def test_one_touch_one_report_per_process_and_still_serving(self):
        run = self.gmr
        workers = run.facts["workers"]
        pids = sorted(int(REPORT_NAME_RE.search(p).group("pid")) for p in run.facts["reports"])
        self.assertEqual(pids, sorted([run.facts["master"]] + workers), run.facts["reports"])
        for pid, reports in run.reports.items():
            report = reports[-1]
            self.assertEqual(report["header"]["trigger"], "file")
            main = report["threads"][0]
            self.assertIn("main", [f["function"] for f in main["frames"]], frames(main))
            self.assertIn(os.path.realpath(UWSGI_BIN), modules(main), frames(main))
        self.assertTrue(run.facts["alive"])

    def test_gmr_report_asks_master_and_workers_over_the_channel(self):
        status, pids, triggers, err = self.gmr.facts["gmr_report"]
        self.assertEqual((status, pids, triggers),
                         (0, sorted([self.gmr.facts["master"]] + self.gmr.facts["workers"]),
                          ["request"]), err)
        self.assertEqual(self.gmr.facts["backtraces_after_gmr_report"], 0)
        status, pids, _, err = self.plain.facts["gmr_report"]
        self.assertEqual((status, pids), (1, []))
        self.assertEqual(self.plain.facts["backtraces_after_gmr_report"], 0)

    def test_workers_keep_their_own_sigusr2(self):
        for run in (self.plain, self.gmr):
            self.assertTrue(run.facts["own_sigusr2"], "run with libgmr: %s" % run.gmr)
        self.assertEqual(self.gmr.facts["reports_after_own_sigusr2"], [],
                         "libgmr answered the worker's SIGUSR2")


# ------------------------------------------------------------------- redis

REDIS = first_of("redis-server")
REDIS_CLI = first_of("redis-cli")


class Redis(HostChecks, GmrTestCase):
    """redis-server: ping/set/get before and after a SIGUSR2 report (redis
    does not own SIGUSR2); jemalloc's background threads block every
    signal; `redis-cli shutdown nosave`."""

    @classmethod
    def require(cls):
        if not (REDIS and REDIS_CLI):
            raise unittest.SkipTest("redis is not installed (Debian redis-server, redis-tools; "
                                    "%s)" % INSTALL)

    @classmethod
    def cli(cls, port, *args):
        p = subprocess.run([REDIS_CLI, "-h", "127.0.0.1", "-p", str(port)] + list(args),
                           capture_output=True, text=True, env=tool_env(), timeout=30)
        return "%d %s%s" % (p.returncode, p.stdout.strip(), p.stderr.strip())

    @classmethod
    def run_host(cls, run):
        port = free_port()
        host = cls.start([REDIS, "--port", port, "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", run.dir], run.env(), run.dir, "redis")
        wait_port(port, host)
        run.answers += [cls.cli(port, "ping"), cls.cli(port, "set", "before", "hello"),
                        cls.cli(port, "get", "before")]
        time.sleep(0.2)
        run.collect([host.pid], usr2(run, host.pid))
        run.answers += [cls.cli(port, "ping"), cls.cli(port, "get", "before"),
                        cls.cli(port, "set", "after", "abc"), cls.cli(port, "get", "after"),
                        cls.cli(port, "dbsize")]
        run.facts["alive"] = host.alive()
        run.answers.append(cls.cli(port, "shutdown", "nosave"))
        run.status = host.wait()
        run.output = run.normalise(host.stdout() + host.stderr())
        return run

    def test_frames_from_the_host(self):
        (pid,) = self.gmr.reports
        report = self.gmr.reports[pid][-1]
        (main,) = [t for t in report["threads"] if "main thread" in t["marks"]]
        self.assertIn(os.path.realpath(REDIS), modules(main), frames(main))
        self.assertIn("aeMain", [f["function"] for f in main["frames"]], frames(main))
        bio = [t for t in report["threads"] if t["name"].startswith("bio_")]
        self.assertEqual(len(bio), 3, [t["name"] for t in report["threads"]])
        for t in bio:
            self.assertIn(os.path.realpath(REDIS), modules(t), frames(t))

    def test_jemalloc_thread_blocking_every_signal_is_listed_with_a_note(self):
        (pid,) = self.gmr.reports
        self.assertGreaterEqual(check_blocking_threads(self, self.gmr, pid), 1)
        names = [n for n in self.gmr.snapshots[pid].values()]
        self.assertIn("jemalloc_bg_thd", names)


# --------------------------------------------------------------- memcached

MEMCACHED = first_of("memcached")


def memcached_command(sock, line, payload=None):
    sock.sendall(line.encode() + b"\r\n" + (payload + b"\r\n" if payload is not None else b""))
    data = b""
    while not data.endswith((b"END\r\n", b"STORED\r\n", b"ERROR\r\n")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode()


class Memcached(HostChecks, GmrTestCase):
    """memcached -t 4 (as nobody when run as root): set/get before and
    after a SIGUSR2 report, SIGTERM; and 100 reports in a row."""

    REPORTS = 100

    @classmethod
    def require(cls):
        if not MEMCACHED:
            raise unittest.SkipTest("memcached is not installed (Debian memcached; %s)" % INSTALL)

    @classmethod
    def start_memcached(cls, run):
        port = free_port()
        host = cls.start([MEMCACHED, "-t", "4", "-p", port, "-U", "0", "-l", "127.0.0.1"]
                         + (["-u", "nobody"] if AS_ROOT else []), run.env(), run.dir,
                         "memcached")
        wait_port(port, host)
        return host, port

    @classmethod
    def run_host(cls, run):
        host, port = cls.start_memcached(run)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            run.answers += [memcached_command(s, "set before 0 0 5", b"hello"),
                            memcached_command(s, "get before")]
        time.sleep(0.2)
        run.collect([host.pid], usr2(run, host.pid))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            run.answers += [memcached_command(s, "get before"),
                            memcached_command(s, "set after 0 0 3", b"abc"),
                            memcached_command(s, "get after"),
                            memcached_command(s, "get never")]
        os.kill(host.pid, signal.SIGTERM)
        run.status = host.wait()
        run.output = run.normalise(host.stdout() + host.stderr())
        return run

    def test_frames_from_the_host(self):
        (pid,) = self.gmr.reports
        report = self.gmr.reports[pid][-1]
        exe = os.path.realpath(MEMCACHED)
        for t in report["threads"]:
            if t["name"] != "gmr-watcher":
                self.assertIn(exe, modules(t), frames(t))

    def test_every_thread_hundred_times_and_still_serving(self):
        run = Run(True, self.tmp)
        os.chmod(self.tmp, 0o777)  # memcached runs as nobody
        host, port = self.start_memcached(run)
        pid = host.pid
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                self.assertEqual(memcached_command(s, "set before 0 0 5", b"hello"),
                                 "STORED\r\n")
            time.sleep(0.2)
            tids_before = tids(pid)
            for i in range(self.REPORTS):
                os.kill(pid, signal.SIGUSR2)
                wait_reports(run.log_dir, i + 1, timeout=60)
            self.assertTrue(host.alive())
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                self.assertIn("STAT threads 4", memcached_command(s, "stats"))
                self.assertEqual(memcached_command(s, "get before"),
                                 "VALUE before 0 5\r\nhello\r\nEND\r\n")
                self.assertEqual(memcached_command(s, "set after 0 0 3", b"abc"), "STORED\r\n")
                self.assertEqual(memcached_command(s, "get after"),
                                 "VALUE after 0 3\r\nabc\r\nEND\r\n")
        finally:
            os.kill(pid, signal.SIGTERM)
            host.wait()
        paths = wait_reports(run.log_dir, self.REPORTS)
        for p in paths:
            report = parse_text(read(p))
            self.assertEqual(sorted(t["tid"] for t in report["threads"]), tids_before, p)
            for t in report["threads"]:
                if t["name"] == "gmr-watcher":
                    continue
                self.assertTrue(t["frames"], (p, frames(t)))
                self.assertEqual(t["notes"], [], (p, frames(t)))
            waiting = [t for t in report["threads"]
                       if "event_base_loop" in [f["function"] for f in t["frames"]]]
            self.assertGreaterEqual(len(waiting), 5, "main loop and 4 workers, in libevent")


# ------------------------------------------------------------------- nginx

NGINX = first_of("nginx", "/usr/sbin/nginx")
NGINX_CONF = """daemon off;
master_process on;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp;
    proxy_temp_path {d}/tmp;
    fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp;
    scgi_temp_path {d}/tmp;
    server {{ listen 127.0.0.1:{port}; root {d}/html; }}
}}
"""


class Nginx(OwnsSigusr2, HostChecks, GmrTestCase):
    """nginx, master and 2 workers (as nobody when run as root). SIGUSR2
    to the master starts a binary upgrade: the trigger file only, and no
    new master may appear."""

    SIGUSR2_MODULE = NGINX or "nginx"

    @classmethod
    def require(cls):
        if not NGINX:
            raise unittest.SkipTest("nginx is not installed (Debian nginx-light; %s)" % INSTALL)

    @classmethod
    def run_host(cls, run):
        port = free_port()
        d = run.dir
        os.makedirs(os.path.join(d, "html"))
        with open(os.path.join(d, "html", "index.html"), "w") as f:
            f.write("hello from nginx\n")
        os.chmod(os.path.join(d, "html", "index.html"), 0o644)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=d, port=port))
        host = cls.start([NGINX, "-e", os.path.join(d, "error.log"), "-c", conf, "-p", d],
                         run.env(GMR_TRIGGER_FILE=run.trigger), d, "nginx")
        wait_port(port, host)
        run.answers.append(http_get(port))
        workers = children(host.pid)
        assert len(workers) == 2, workers
        for pid in workers:
            wait_in_epoll(pid)
        time.sleep(0.2)
        run.collect([host.pid] + workers, lambda: touch(run.trigger))
        time.sleep(0.5)
        # gmr-report must not take the environ nginx rewrote for a way to
        # ask, nor send the SIGUSR2 that starts a binary upgrade.
        run.facts["gmr_report"] = gmr_report_tree(host.pid)
        time.sleep(0.5)
        run.answers += [http_get(port) for _ in range(3)]
        run.facts["same_processes"] = (children(host.pid), workers)
        run.facts["oldbin"] = os.path.exists(os.path.join(d, "nginx.pid.oldbin"))
        with open(os.path.join(d, "nginx.pid")) as f:
            run.facts["pid_file"] = (int(f.read()), host.pid)
        os.kill(host.pid, signal.SIGQUIT)
        run.status = host.wait()
        with open(os.path.join(d, "error.log")) as f:
            run.output = run.normalise(host.stdout() + host.stderr() + f.read())
        return run

    def test_no_binary_upgrade_no_new_master(self):
        for run in (self.plain, self.gmr):
            now, before = run.facts["same_processes"]
            self.assertEqual(now, before, "the master's children changed (libgmr: %s)" % run.gmr)
            self.assertFalse(run.facts["oldbin"], "nginx.pid.oldbin appeared (libgmr: %s)"
                             % run.gmr)
            pid_file, master = run.facts["pid_file"]
            self.assertEqual(pid_file, master)

    def test_gmr_report_asks_master_and_workers_over_the_channel(self):
        status, pids, triggers, err = self.gmr.facts["gmr_report"]
        master = self.gmr.facts["pid_file"][1]
        self.assertEqual((status, pids, triggers),
                         (0, sorted([master] + self.gmr.facts["same_processes"][1]), ["request"]),
                         err)
        status, pids, _, err = self.plain.facts["gmr_report"]
        self.assertEqual((status, pids), (1, []))
        self.assertIn("does not run libgmr", err)

    def test_reports_from_master_and_workers(self):
        run = self.gmr
        master = run.facts["pid_file"][1]
        self.assertEqual(sorted(run.reports), sorted([master] + run.facts["same_processes"][1]),
                         run.unreported)
        exe = os.path.realpath(NGINX)
        for pid, reports in run.reports.items():
            report = reports[-1]
            self.assertEqual(report["header"]["trigger"], "file")
            main = report["threads"][0]
            self.assertIn(exe, modules(main), frames(main))
            self.assertIn("ngx_process_events_and_timers" if pid != master
                          else "ngx_master_process_cycle",
                          [f["function"] for f in main["frames"]], frames(main))


# ----------------------------------------------------------------- haproxy

HAPROXY = first_of("haproxy", "/usr/sbin/haproxy")
HAPROXY_CFG = """global
    nbthread 2
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string "hello from haproxy"
"""


class HAProxy(OwnsSigusr2, HostChecks, GmrTestCase):
    """haproxy -W (master-worker), nbthread 2. It owns SIGUSR2 (a reload:
    the master re-executes itself and starts a new worker): the trigger
    file, before and after such a reload; SIGUSR1 stops it."""

    SIGUSR2_MODULE = HAPROXY or "haproxy"

    def sigusr2_pids(self):
        return [self.gmr.facts["pids"][0]]  # the master's (its workers block it)

    @classmethod
    def require(cls):
        if not HAPROXY:
            raise unittest.SkipTest("haproxy is not installed (Debian haproxy; %s)" % INSTALL)

    @classmethod
    def run_host(cls, run):
        port = free_port()
        cfg = os.path.join(run.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(port=port))
        host = cls.start([HAPROXY, "-W", "-f", cfg], run.env(GMR_TRIGGER_FILE=run.trigger),
                         run.dir, "haproxy")
        wait_port(port, host)
        run.answers.append(http_get(port))
        (worker,) = children(host.pid)
        wait_in_epoll(worker)
        time.sleep(0.2)
        run.collect([host.pid, worker], lambda: touch(run.trigger))
        run.answers.append(http_get(port))
        run.facts["threads"] = len(run.snapshots[worker])
        # haproxy's own SIGUSR2: a reload, the master keeps its pid.
        os.kill(host.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while True:
            now = children(host.pid)
            if len(now) == 1 and now[0] != worker:
                break
            assert time.monotonic() < deadline, "no reload: children %s\n%s" % (now, host.logs())
            time.sleep(0.05)
        (new_worker,) = now
        run.facts["reloaded"] = (host.alive(), new_worker != worker, alive(worker))
        wait_in_epoll(new_worker)
        wait_in_epoll(host.pid)
        time.sleep(0.3)
        run.answers.append(http_get(port))
        # The re-executed master and the new worker still watch the file.
        run.collect([host.pid, new_worker], lambda: touch(run.trigger))
        run.answers.append(http_get(port))
        run.facts["pids"] = (host.pid, worker, new_worker)
        os.kill(host.pid, signal.SIGUSR1)
        run.status = host.wait()
        run.output = sorted(run.normalise(host.stdout() + host.stderr()))
        run.facts["gmr_lines"] = gmr_lines(host.stderr())
        return run

    def test_own_sigusr2_reloads(self):
        for run in (self.plain, self.gmr):
            self.assertEqual(run.facts["reloaded"], (True, True, False),
                             "(master alive, new worker, old worker alive) with libgmr: %s"
                             % run.gmr)

    def test_reports_before_and_after_the_reload(self):
        master, worker, new_worker = self.gmr.facts["pids"]
        self.assertEqual(sorted(self.gmr.reports), sorted([master, worker, new_worker]))
        self.assertEqual(len(self.gmr.reports[master]), 2)
        exe = os.path.realpath(HAPROXY)
        for pid in (worker, new_worker):
            report = self.gmr.reports[pid][-1]
            threads = [t for t in report["threads"] if t["name"] != "gmr-watcher"]
            self.assertEqual(len(threads), 2, "nbthread 2: %s" % [frames(t) for t in threads])
            (main,) = [t for t in threads if "main thread" in t["marks"]]
            self.assertIn(exe, modules(main), frames(main))
            self.assertIn("run_poll_loop", [f["function"] for f in main["frames"]], frames(main))
            # haproxy's second thread blocks (nearly) every signal.
            check_blocking_threads(self, self.gmr, pid)

    def test_no_sigusr2_notice_when_a_trigger_file_is_set(self):
        # Issue 11 case 13: with GMR_TRIGGER_FILE the line is noise, and the
        # master prints it again on every re-exec.
        self.assertEqual(self.gmr.facts["gmr_lines"], [])


# -------------------------------------------------------------- PostgreSQL

PG_BIN = next((d for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
               if os.path.exists(os.path.join(d, "postgres"))), None)
PSQL = first_of("psql")
PG_USER = "postgres" if AS_ROOT else None  # postgres refuses to run as root
# The postmaster's children that live as long as it does (not backends,
# not autovacuum workers).
PG_LONG_LIVED = re.compile(r"^postgres: (checkpointer|background writer|walwriter|"
                           r"autovacuum launcher|logical replication launcher)")
PG_QUERIES = ["select 6 * 7", "select current_user, current_database()",
              "select count(*) from pg_class where relname = 'pg_class'",
              "select pg_sleep(0.1), 'slept'"]


class PostgreSQL(OwnsSigusr2, HostChecks, GmrTestCase):
    """PostgreSQL 15, the postmaster and its children. It owns SIGUSR2
    (the checkpointer exits on it and the postmaster restarts every
    backend), so it never gets one here: the trigger file, and no process
    may change. initdb once per class; SIGINT (fast shutdown) stops it."""

    SIGUSR2_MODULE = os.path.join(PG_BIN or "/", "postgres")

    @classmethod
    def require(cls):
        if not (PG_BIN and PSQL):
            raise unittest.SkipTest("PostgreSQL is not installed (Debian postgresql; %s)"
                                    % INSTALL)
        if SANITIZE:
            # Seen: postgres -V waits forever in bindtextdomain (from
            # set_pglocale_pgservice) with libasan preloaded, libgmr or not.
            why = runs_with_the_sanitizer([os.path.join(PG_BIN, "postgres"), "-V"], "PostgreSQL")
            if why:
                raise unittest.SkipTest(why)
        if AS_ROOT:
            try:
                import pwd
                pwd.getpwnam(PG_USER)
            except KeyError:
                raise unittest.SkipTest("no user postgres to run PostgreSQL as (Debian "
                                        "postgresql creates it)")

    @classmethod
    def prepare(cls):
        cls.data = os.path.join(cls.dir, "data")
        cls.sockets = os.path.join(cls.dir, "sockets")
        os.makedirs(cls.sockets)
        if AS_ROOT:
            shutil.chown(cls.sockets, PG_USER)
            shutil.chown(cls.dir, PG_USER)
        extra = {"user": PG_USER} if PG_USER else {}
        p = subprocess.run([os.path.join(PG_BIN, "initdb"), "-D", cls.data, "-A", "trust",
                            "-U", "postgres", "--no-sync", "--no-instructions"],
                           capture_output=True, text=True, env=tool_env(), cwd=cls.dir,
                           timeout=300, **extra)
        if p.returncode:
            raise AssertionError("initdb failed:\n" + p.stdout + p.stderr)

    @classmethod
    def psql(cls, port, query):
        p = subprocess.run([PSQL, "-h", cls.sockets, "-p", str(port), "-U", "postgres", "-At",
                            "-c", query], capture_output=True, text=True, env=tool_env(),
                           timeout=60)
        return "%d %s%s" % (p.returncode, p.stdout.strip(), p.stderr.strip())

    @classmethod
    def run_host(cls, run):
        port = free_port()
        host = cls.start([os.path.join(PG_BIN, "postgres"), "-D", cls.data, "-k", cls.sockets,
                          "-p", port, "-c", "listen_addresses=127.0.0.1"],
                         run.env(GMR_TRIGGER_FILE=run.trigger), run.dir, "postgres",
                         user=PG_USER)
        wait_port(port, host)
        deadline = time.monotonic() + 30
        while cls.psql(port, "select 1") != "0 1":  # until it accepts connections
            assert time.monotonic() < deadline and host.alive(), host.logs()[-3000:]
            time.sleep(0.1)
        run.answers += [cls.psql(port, q) for q in PG_QUERIES]
        time.sleep(0.3)
        before = [pid for pid in children(host.pid) if PG_LONG_LIVED.search(cmdline(pid))]
        run.collect([host.pid] + before, lambda: touch(run.trigger))
        time.sleep(0.5)
        # gmr-report must never send the checkpointer its SIGUSR2 (it
        # would exit and the postmaster restart every backend).
        run.facts["gmr_report"] = gmr_report_tree(host.pid)
        time.sleep(0.5)
        run.answers += [cls.psql(port, q) for q in PG_QUERIES]
        after = children(host.pid)
        run.facts["children"] = (before, after)
        run.facts["postmaster"] = host.pid
        run.facts["names"] = {pid: run.snapshots[pid].get(pid) for pid in before}
        run.facts["alive"] = host.alive()
        os.kill(host.pid, signal.SIGINT)
        run.status = host.wait()
        # Several processes write this log: compare it in order.
        run.output = sorted(re.sub(r"^\S+ \S+ UTC \[\d+\] ", "", l)
                            for l in run.normalise(host.stdout() + host.stderr()))
        return run

    def test_no_restart_same_processes(self):
        for run in (self.plain, self.gmr):
            before, after = run.facts["children"]
            self.assertGreaterEqual(len(before), 4, run.facts["names"])  # 5 in PostgreSQL 15
            self.assertEqual([p for p in before if p not in after], [],
                             "children gone after the report (libgmr: %s): %s"
                             % (run.gmr, run.facts["names"]))
            self.assertTrue(run.facts["alive"])
        for line in self.gmr.output:
            self.assertNotIn("terminated by signal", line)
            self.assertNotIn("reinitializing", line)

    def test_gmr_report_asks_every_process_over_the_channel(self):
        # The backends of psql come and go: the long-lived ones must be there.
        status, pids, triggers, err = self.gmr.facts["gmr_report"]
        before, _ = self.gmr.facts["children"]
        self.assertEqual((status, triggers), (0, ["request"]), err)
        self.assertEqual(sorted(set([self.gmr.facts["postmaster"]] + before) - set(pids)), [], err)
        status, pids, _, err = self.plain.facts["gmr_report"]
        self.assertEqual((status, pids), (1, []))

    def test_reports_from_postmaster_and_children(self):
        before, _ = self.gmr.facts["children"]
        self.assertEqual(sorted(self.gmr.reports),
                         sorted([self.gmr.facts["postmaster"]] + before))
        exe = os.path.realpath(os.path.join(PG_BIN, "postgres"))
        loops = set()
        for pid, reports in self.gmr.reports.items():
            report = reports[-1]
            self.assertEqual(report["header"]["trigger"], "file")
            (main,) = [t for t in report["threads"] if "main thread" in t["marks"]]
            self.assertIn(exe, modules(main), frames(main))
            loops.update(f["function"] for f in main["frames"]
                         if f["function"].endswith("Main"))
        for loop in ("PostmasterMain", "CheckpointerMain", "BackgroundWriterMain",
                     "WalWriterMain"):
            self.assertIn(loop, loops)
