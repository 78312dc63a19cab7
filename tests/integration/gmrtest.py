"""Helpers for libgmr's integration tests.

Every test runs a real program with libgmr.so preloaded, sends real
signals or touches real files, and reads the real report back, from the
log directory or from the program's stderr. Nothing here knows how
libgmr formats a report beyond the contract in DESIGN.md §4: the text
parser below reads banners, thread headings and frame lines.
"""

import glob
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("GMR_TEST_BUILD", "build"))
# GMR_TEST_LIB runs the tests against another build of libgmr (an older one,
# to show that a new test fails there); the targets still come from BUILD.
LIB = os.environ.get("GMR_TEST_LIB") or os.path.join(BUILD, "libgmr.so")
SANITIZE = os.environ.get("GMR_TEST_SANITIZE", "")
TARGETS = os.path.join(BUILD, "targets")
EXAMPLES = os.path.join(BUILD, "examples")

REPORT_GLOB = "*_gurumeditation_*"
SECTIONS = ["Waits", "Package", "Threads", "Green Threads", "Processes", "Configuration", "Environment",
            "Shared Objects", "File Descriptors", "Signals", "Memory", "Resource Usage"]
SANITIZER_MARKERS = ["ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"]
# A function may hold spaces and parentheses once demangled ("app::f(int,
# std::string const&)"); the module, in the last parentheses, holds none.
FRAME_RE = re.compile(
    r"^#(?P<index>\d+)\s+0x(?P<pc>[0-9a-f]+) in (?P<function>.+?)(?:\+0x(?P<offset>[0-9a-f]+))?"
    r"(?P<inlined> \[inlined\])?(?P<marks>(?: \[(?:signal handler called|jit)\])*)"
    r" \((?P<module>[^()]*)\)(?: at (?P<file>.+):(?P<line>\d+))?$")
PY_FRAME_RE = re.compile(r"^#(?P<index>\d+)\s+\[python\] (?P<function>.+) at (?P<file>.+):(?P<line>\d+|\?)$")
THREAD_RE = re.compile(r"^------\s+Thread #(?P<tid>\d+) \((?P<name>.*?)\)(?: \[(?P<marks>.*)\])?\s+------$")
BANNER_RE = re.compile(r"^====\s+(?P<title>.*?)\s+====$")


def runtime_preload():
    """LD_PRELOAD value: the sanitizer runtime first when libgmr was built with one."""
    libs = []
    if "address" in SANITIZE.split(","):
        asan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                              text=True).stdout.strip()
        libs.append(asan)
    libs.append(LIB)
    return ":".join(libs)


def base_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMR_")}
    env["LD_PRELOAD"] = runtime_preload()
    # Tests count every report they asked for, past GMR_MAX_REPORTS's
    # default of 100; retention has tests of its own, which set it.
    env["GMR_MAX_REPORTS"] = "0"
    if SANITIZE:
        # libgmr, not the sanitizer, is to report fatal signals (and a heap
        # error the sanitizer finds ends in SIGABRT, as glibc's would); the
        # tools put libgmr before the runtime in LD_PRELOAD.
        env["ASAN_OPTIONS"] = ("detect_leaks=0:abort_on_error=1:handle_segv=0:handle_sigbus=0:"
                               "handle_sigfpe=0:handle_sigill=0:verify_asan_link_order=0")
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Target:
    """A program run under libgmr; waits for its "ready <pid>" line."""

    def __init__(self, argv, env=None, ready=True, timeout=20, cwd=None):
        self.stderr_file = tempfile.NamedTemporaryFile(prefix="gmr-stderr-", delete=False)
        argv = [a if isinstance(a, (str, bytes)) else str(a) for a in argv]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr_file,
                                     stdin=subprocess.DEVNULL, env=env or base_env(), cwd=cwd)
        self.pid = self.proc.pid
        self.out = ""
        if ready:
            self.wait_line("ready", timeout)

    def read_stdout(self, wait):
        r, _, _ = select.select([self.proc.stdout], [], [], wait)
        if not r:
            return False
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        self.out += chunk.decode(errors="replace")
        return bool(chunk)

    def lines(self, prefix):
        return [l for l in self.out.splitlines() if l.startswith(prefix)]

    def wait_line(self, prefix, timeout=20, count=1):
        """Waits until `count` stdout lines start with prefix; returns the last."""
        deadline = time.monotonic() + timeout
        while len(self.lines(prefix)) < count:
            if time.monotonic() > deadline or not self.read_stdout(0.1) and not self.alive():
                raise AssertionError("target did not print %r (stdout %r); stderr:\n%s"
                                     % (prefix, self.out, self.stderr()))
        return self.lines(prefix)[count - 1]

    def tids(self):
        return sorted(int(t) for t in os.listdir("/proc/%d/task" % self.pid))

    def watcher_syscall(self):
        """The system call libgmr's watcher is in; None before it has its name."""
        tid = next((t for t in self.tids() if read("/proc/%d/task/%d/comm" % (self.pid, t)).strip()
                    == "gmr-watcher"), None)
        if tid is None:
            return None
        with open("/proc/%d/task/%d/syscall" % (self.pid, tid)) as f:
            return f.read().split()[0]

    def watcher_busy(self):
        """Is libgmr's watcher doing anything but waiting in ppoll (x86_64: 271)?"""
        return self.watcher_syscall() != "271"

    def wait_watcher_idle(self, timeout=10):
        """Waits until libgmr's watcher is back in ppoll (x86_64: 271), its
        last report written and everything it took given back."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.watcher_busy():
                return
            time.sleep(0.005)
        raise AssertionError("the watcher did not go back to waiting")

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig=signal.SIGUSR2):
        os.kill(self.pid, sig)

    def stderr(self):
        with open(self.stderr_file.name, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait(timeout=20)
        err = self.stderr()
        self.proc.stdout.close()
        self.stderr_file.close()
        os.unlink(self.stderr_file.name)
        for marker in SANITIZER_MARKERS:
            if marker in err:
                raise AssertionError("sanitizer report from the target:\n" + err[-6000:])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def testd(*args, **kw):
    return [os.path.join(TARGETS, "testd")] + [str(a) for a in args]


def wait_reports(log_dir, count, timeout=20):
    """Waits until log_dir holds at least `count` reports; returns their paths, oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        found = glob.glob(os.path.join(log_dir, REPORT_GLOB))
        if len(found) >= count:
            return sorted(found, key=lambda p: (os.stat(p).st_mtime_ns, p))
        if time.monotonic() > deadline:
            raise AssertionError("expected %d report(s) in %s, found %d: %s"
                                 % (count, log_dir, len(found), os.listdir(log_dir)))
        time.sleep(0.02)


def wait_stderr_report(target, count=1, timeout=20):
    """Waits until the target's stderr holds `count` whole text reports."""
    deadline = time.monotonic() + timeout
    last, stable_since = None, None
    while time.monotonic() < deadline:
        text = target.stderr()
        if text.count("====                          Environment") >= count:
            if text == last and time.monotonic() - stable_since > 0.3:
                return text
            if text != last:
                last, stable_since = text, time.monotonic()
        time.sleep(0.05)
    raise AssertionError("no complete report on stderr:\n" + target.stderr()[-3000:])


def read(path):
    """A report's text; a JSON report must parse, or the test fails here."""
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".json"):
        json.loads(data.decode("utf-8"))
    return data.decode("utf-8", errors="replace")


def parse_text(text):
    """Splits a text report into header fields, sections and threads."""
    report = {"header": {}, "sections": {}, "threads": []}
    section, thread = "header", None
    for line in text.splitlines():
        m = BANNER_RE.match(line)
        if m and m.group("title") == "Guru Meditation":
            continue
        if m:
            section = m.group("title")
            report["sections"].setdefault(section, [])
            thread = None
            continue
        if line.startswith("=" * 72) or line.startswith("|" * 72):
            continue
        if section == "header":
            if " = " in line:
                k, v = line.split(" = ", 1)
                report["header"][k] = v
            continue
        report["sections"].setdefault(section, []).append(line)
        if section != "Threads":
            continue
        m = THREAD_RE.match(line)
        if m:
            thread = {"tid": int(m.group("tid")), "name": m.group("name"),
                      "marks": m.group("marks") or "", "frames": [], "notes": [], "fields": {}}
            report["threads"].append(thread)
            continue
        if thread is None:
            continue
        m = FRAME_RE.match(line)
        py = None if m else PY_FRAME_RE.match(line)
        if m:
            thread["frames"].append(m.groupdict())
        elif py:
            thread["frames"].append(dict(py.groupdict(), kind="python"))
        elif line.startswith("note = "):
            thread["notes"].append(line[len("note = "):])
        elif " = " in line:
            k, v = line.split(" = ", 1)
            thread["fields"][k.strip()] = v
    return report


def eu_stack(pid, *options):
    """eu-stack -p (with options, -i say) on the stopped process:
    {tid: [(pc, name or None), ...]}, innermost first."""
    os.kill(pid, signal.SIGSTOP)
    try:
        out = subprocess.run(["eu-stack"] + list(options) + ["-p", str(pid)], capture_output=True,
                             text=True, timeout=60).stdout
    finally:
        os.kill(pid, signal.SIGCONT)
    stacks, tid = {}, None
    for line in out.splitlines():
        m = re.match(r"^TID (\d+):", line)
        if m:
            tid = int(m.group(1))
            stacks[tid] = []
            continue
        m = re.match(r"^#\d+\s+0x([0-9a-f]+)(?:\s+(\S.*))?$", line)
        if m and tid is not None:
            stacks[tid].append((int(m.group(1), 16), m.group(2)))
    return stacks


def functions(thread):
    return [f["function"] for f in thread["frames"]]


def ordered_subsequence(needles, haystack):
    """True if the needles appear in haystack in this order."""
    it = iter(haystack)
    return all(any(n == h for h in it) for n in needles)


def false_deadlocks(log_dir):
    """The reports under log_dir that name a deadlock: none may, outside
    the tests that make one (issue 15)."""
    found = []
    for path in glob.glob(os.path.join(log_dir, "**", REPORT_GLOB), recursive=True):
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:  # raw: some tests leave files that are no reports
            text = f.read().decode(errors="replace")
        if re.search(r"^Deadlock: ", text, re.M) or re.search(r'"deadlocks": *\[ *\[', text):
            found.append(path)
    return found


class GmrTestCase(unittest.TestCase):
    deadlocks_expected = False  # no report of these tests may name a deadlock

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gmr-test-")
        self.log_dir = os.path.join(self.tmp, "reports")

    def tearDown(self):
        try:
            if not self.deadlocks_expected:
                found = false_deadlocks(self.tmp)
                self.assertEqual(found, [], "a report names a deadlock where there is none:\n"
                                 + "".join(read(p)[:4000] for p in found[:1]))
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def assertChain(self, thread, name):
        chain = [name + "_leaf", name + "_middle", name + "_outer"]
        self.assertTrue(ordered_subsequence(chain, functions(thread)),
                        "thread %s: expected %s in %s" % (thread["name"], chain, functions(thread)))

    def load_json(self, path):
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))

    def json_report(self, target, sig=signal.SIGUSR2):
        """Triggers one report from a target started with GMR_FORMAT=json
        and GMR_LOG_DIR=self.log_dir, and returns it parsed."""
        before = len(glob.glob(os.path.join(self.log_dir, REPORT_GLOB)))
        target.signal(sig)
        return self.load_json(wait_reports(self.log_dir, before + 1)[-1])
