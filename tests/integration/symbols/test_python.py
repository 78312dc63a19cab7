"""Python frames (issue 14): a python3 host (tests/hosts/pystack.py) with
stacks in known places; each thread's report must show its Python frames,
function, file and line, merged into its native stack where
_PyEval_EvalFrameDefault ran them, and mark the thread that holds the GIL.
The lines expected are found in the script's own text, by their comments."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest

from gmrtest import (PY_FRAME_RE, ROOT, GmrTestCase, Target, base_env, parse_text, read, testd,
                     wait_reports)

SCRIPT = os.path.join(ROOT, "tests", "hosts", "pystack.py")
PYTHON = next((p for p in ("/usr/bin/python3", shutil.which("python3")) if p and os.path.exists(p)),
              None)


def python_version(python=None):
    out = subprocess.run([python or PYTHON, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def line_of(comment, path=None):
    with open(path or SCRIPT) as f:
        for number, text in enumerate(f, 1):
            if text.rstrip().endswith("# " + comment):
                return number
    raise AssertionError("no line ends with # %s" % comment)


def asleep(pid, timeout=20):
    """Waits until the main thread sleeps in clock_nanosleep (x86_64: 230),
    then a moment more for the other threads, started before it, to be in
    their waits too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/%d/syscall" % pid) as f:
            if f.read().split()[0] == "230":
                time.sleep(0.2)
                return
        time.sleep(0.01)
    raise AssertionError("the host's main thread never went to sleep")


def python_frames(thread):
    return [(f["function"], int(f["line"]) if str(f["line"]).isdigit() else None)
            for f in thread["frames"] if f.get("kind") == "python"]


def the_thread(report, function):
    found = [t for t in report["threads"] if function in [f for f, _ in python_frames(t)]]
    if len(found) != 1:
        raise AssertionError("%d threads run %s: %s" % (
            len(found), function, [python_frames(t) for t in report["threads"]]))
    return found[0]


@unittest.skipIf(not PYTHON, "python3 is not installed (Debian python3)")
class PythonFrames(GmrTestCase):
    python = PYTHON

    def setUp(self):
        super().setUp()
        self.version = python_version(self.python)
        if not self.version.startswith(("3.11.", "3.13.")):
            self.skipTest("libgmr reads CPython 3.11's and 3.13's frames; %s is %s"
                          % (self.python, self.version))

    def report(self, fmt):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT=fmt)
        with Target([self.python, SCRIPT], env=env) as t:
            asleep(t.pid)
            t.signal()
            path = wait_reports(self.log_dir, 1)[-1]
            tids = t.tids()
        text = read(path)
        return (self.load_json(path) if fmt == "json" else parse_text(text)), tids

    def test_every_thread_its_python_frames_and_lines(self):
        report, _ = self.report("text")
        self.assertEqual(report["header"]["python"], "CPython " + self.version)
        worker = the_thread(report, "leaf")
        self.assertEqual(python_frames(worker)[:3], [("leaf", line_of("leaf sleeps")),
                                                     ("middle", line_of("middle calls leaf")),
                                                     ("Worker.run", line_of("run calls middle"))])
        self.assertEqual([f for f, _ in python_frames(worker)][3:],
                         ["Thread.run", "Thread._bootstrap_inner", "Thread._bootstrap"])
        main = the_thread(report, "<module>")
        self.assertEqual(python_frames(main), [("main", line_of("main sleeps")),
                                               ("<module>", line_of("the module calls main"))])
        waiter = the_thread(report, "waiter")
        self.assertIn(("waiter", line_of("waiter waits")), python_frames(waiter))
        self.assertIn("Event.wait", [f for f, _ in python_frames(waiter)])
        spinner = the_thread(report, "spin")
        spin_line = dict(python_frames(spinner))["spin"]
        self.assertIn(spin_line, (line_of("spin loops"), line_of("spin works")))
        taker = the_thread(report, "queue_taker")
        self.assertIn(("queue_taker", line_of("queue_taker waits")), python_frames(taker))
        self.assertIn("Queue.get", [f for f, _ in python_frames(taker)])
        acceptor = the_thread(report, "acceptor")
        self.assertEqual(python_frames(acceptor)[:2], [("socket.accept", python_frames(acceptor)[0][1]),
                                                       ("acceptor", line_of("acceptor accepts"))])
        # Each thread shows its own functions and no other's.
        own = {"leaf", "middle", "Worker.run", "main", "spin", "waiter", "queue_taker", "acceptor"}
        for t in report["threads"]:
            self.assertLessEqual(len(own & {f for f, _ in python_frames(t)}),
                                 3 if "leaf" in [f for f, _ in python_frames(t)] else 1,
                                 python_frames(t))
        for t in (worker, main, waiter, spinner, taker, acceptor):
            for f in t["frames"]:
                if f.get("kind") == "python":
                    self.assertEqual(f["file"] == SCRIPT, f["function"] in own | {"<module>"}, f)
                    self.assertTrue(f["file"].endswith(".py"), f)

    def test_python_frames_sit_where_the_evaluation_loop_ran_them(self):
        report, _ = self.report("text")
        for t in report["threads"]:
            frames = t["frames"]
            for i, f in enumerate(frames):
                if f.get("kind") != "python":
                    continue
                after = next((g for g in frames[i + 1:] if g.get("kind") != "python"), None)
                self.assertIsNotNone(after, frames)
                self.assertEqual(after["function"], "_PyEval_EvalFrameDefault", frames)
            self.assertEqual([int(f["index"]) for f in frames], list(range(len(frames))))

    def test_the_thread_that_holds_the_gil_is_marked(self):
        holders = []
        for _ in range(3):
            report, _ = self.report("text")
            marked = [t for t in report["threads"] if "holds the GIL" in t["marks"]]
            self.assertLessEqual(len(marked), 1, [t["marks"] for t in report["threads"]])
            holders += [[f for f, _ in python_frames(t)] for t in marked]
            for name in os.listdir(self.log_dir):
                os.unlink(os.path.join(self.log_dir, name))
        # Only the spinning thread runs Python; the others wait with the GIL let go.
        self.assertTrue(holders, "no report marked a thread as holding the GIL")
        self.assertTrue(all("spin" in h for h in holders), holders)

    def test_json_frames_have_a_kind(self):
        doc, tids = self.report("json")
        self.assertEqual(sorted(t["tid"] for t in doc["threads"]), tids)
        self.assertEqual(doc["header"]["python"], "CPython " + self.version)
        kinds = {f.get("kind") for t in doc["threads"] for f in t["frames"]}
        self.assertIn("python", kinds)
        self.assertIn("native", kinds)
        for t in doc["threads"]:
            for f in t["frames"]:
                if f.get("kind") == "python":
                    self.assertEqual(sorted(f), ["file", "function", "kind", "line"], f)
                    self.assertIsInstance(f["line"], int)
                else:
                    self.assertIn("pc", f)
        worker = next(t for t in doc["threads"]
                      if "leaf" in [f.get("function") for f in t["frames"]])
        first = next(f for f in worker["frames"] if f.get("kind") == "python")
        self.assertEqual((first["function"], first["file"], first["line"]),
                         ("leaf", SCRIPT, line_of("leaf sleeps")))

    def test_a_process_without_python_says_nothing_of_it(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target(testd("--threads", 1), env=env) as t:
            t.signal()
            text = read(wait_reports(self.log_dir, 1)[-1])
        self.assertIsNone(re.search(r"^python = ", text, re.M))
        self.assertNotIn("[python]", text)

# CPython 3.13 (its layout from the _Py_DebugOffsets table it carries),
# where one is installed: Debian 12 has none; pyenv's, or python3.13.
PYTHON313 = next((p for p in (os.path.expanduser("~/.pyenv/versions/3.13.0/bin/python3"),
                              "/usr/bin/python3.13", shutil.which("python3.13"))
                  if p and os.path.exists(p) and python_version(p).startswith("3.13.")), None)


@unittest.skipIf(not PYTHON313, "CPython 3.13 is not installed (python3.13)")
class PythonFrames313(PythonFrames):
    python = PYTHON313


GREENAPP = os.path.join(ROOT, "tests", "hosts", "greenapp.py")
GREEN_FUNCTIONS = ("green_sleeper", "green_napper", "green_queue_taker", "green_acceptor", "main")


def has_module(python, name):
    return python and subprocess.run([python, "-c", "import " + name],
                                     capture_output=True, timeout=60).returncode == 0


@unittest.skipIf(not PYTHON, "python3 is not installed (Debian python3)")
class GreenThreads(GmrTestCase):
    """tests/hosts/greenapp.py on eventlet and on gevent: each suspended
    greenlet is found on the garbage collector's lists and listed under
    Green Threads with its own Python stack; the program runs as it does
    without libgmr."""

    def run_app(self, lib):
        if not python_version().startswith("3.11."):
            self.skipTest("libgmr lists the greenlets of CPython 3.11; %s is %s"
                          % (PYTHON, python_version()))
        if not has_module(PYTHON, lib):
            self.skipTest("%s is not installed (Debian python3-%s)" % (lib, lib))
        args = [PYTHON, GREENAPP, lib]
        env = dict(base_env(GREENAPP_SECONDS="0.5"))
        env.pop("LD_PRELOAD", None)
        bare = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json", GREENAPP_SECONDS="3")
        with Target(args, env=env) as t:
            doc = self.json_report(t)
            t.proc.wait(timeout=60)
            t.read_stdout(1)
            ours = (t.proc.returncode, re.sub(r"\d+", "N", t.out))
        self.assertEqual(ours, (bare.returncode, re.sub(r"\d+", "N", bare.stdout)), bare.stderr)
        self.assertEqual(bare.returncode, 0, bare.stderr)
        return doc

    def runs(self, doc, function):
        found = [g for g in doc["green_threads"] if function in [f for f, _ in python_frames(g)]]
        self.assertEqual(len(found), 1, "%d green threads run %s: %s" % (
            len(found), function, [python_frames(g) for g in doc["green_threads"]]))
        return python_frames(found[0])

    def check_green_threads(self, doc):
        for g in doc["green_threads"]:
            self.assertTrue(g["frames"], g)
            for f in g["frames"]:
                self.assertEqual(f["kind"], "python", g)
                self.assertTrue(f["file"] and isinstance(f["line"], int), f)
            own = {f for f, _ in python_frames(g)} & set(GREEN_FUNCTIONS)
            self.assertLessEqual(len(own), 1, python_frames(g))
        here = lambda comment: line_of(comment, GREENAPP)
        self.assertIn(("green_sleeper", here("green_sleeper sleeps")), self.runs(doc, "green_sleeper"))
        napper = [p for p in self.runs(doc, "green_napper") if p[0] == "green_napper"]
        self.assertEqual(napper, [("green_napper", here("green_napper sleeps"))]
                         + [("green_napper", here("green_napper recurses"))] * 3)
        self.assertIn(("green_queue_taker", here("green_queue_taker waits")),
                      self.runs(doc, "green_queue_taker"))
        self.assertIn(("green_acceptor", here("green_acceptor waits")),
                      self.runs(doc, "green_acceptor"))
        self.assertEqual(self.runs(doc, "main")[-2:], [("main", here("main waits")),
                                                         ("<module>", here("the main greenlet"))])
        # Their frames are theirs: no thread shows them too.
        for t in doc["threads"]:
            self.assertFalse({f for f, _ in python_frames(t)} & set(GREEN_FUNCTIONS), t)
        self.assertTrue(doc["header"]["greenlets"].startswith("5 suspended"), doc["header"])
        self.assertGreater(doc["header"]["gc_objects_walked"], 1000)

    def test_eventlet_each_green_thread_its_own_python_stack(self):
        doc = self.run_app("eventlet")
        self.check_green_threads(doc)
        self.assertEqual(self.runs(doc, "green_sleeper")[-1][0], "GreenThread.main")
        self.assertEqual({g["name"] for g in doc["green_threads"]},
                         {"GreenThread", "greenlet.greenlet"})
        # The hub's greenlet runs: the main thread's stack is its own.
        main = next(t for t in doc["threads"] if t["tid"] == doc["header"]["pid"])
        self.assertEqual([f for f, _ in python_frames(main)][-1], "BaseHub.run", main)

    def test_gevent_each_green_thread_its_own_python_stack(self):
        self.check_green_threads(self.run_app("gevent"))


CHURN = os.path.join(ROOT, "tests", "hosts", "pychurn.py")


@unittest.skipIf(not PYTHON, "python3 is not installed (Debian python3)")
class Churn(GmrTestCase):
    def churn(self, *mode):
        # Threads coming and going and allocating while 100 reports are
        # asked for: same output and status as without libgmr, and every
        # report whole.
        args = [PYTHON, CHURN, "400", *mode]
        env = dict(base_env())
        env.pop("LD_PRELOAD", None)
        bare = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(bare.returncode, 0, bare.stderr)
        proc = subprocess.Popen(args, env=base_env(GMR_LOG_DIR=self.log_dir),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertTrue(proc.stdout.readline().startswith("ready"))
        sent = 0
        while sent < 100 and proc.poll() is None:
            os.kill(proc.pid, signal.SIGUSR2)
            sent += 1
            time.sleep(0.02)
        out, err = proc.communicate(timeout=300)
        self.assertEqual((proc.returncode, out), (0, bare.stdout.split("\n", 1)[1]), err[-3000:])
        self.assertGreater(sent, 20, "the host ended before 20 reports were asked for")
        reports = [parse_text(read(path)) for path in wait_reports(self.log_dir, 1)]
        with_python = 0
        for report in reports:
            self.assertIn("Resource Usage", report["sections"])
            with_python += any(f.get("kind") == "python" for t in report["threads"]
                               for f in t["frames"])
        self.assertGreater(with_python, 0)
        return reports

    def test_a_hundred_reports_change_nothing(self):
        self.churn()

    def test_greenlets_switching_and_a_hundred_reports_change_nothing(self):
        if not python_version().startswith("3.11.") or not has_module(PYTHON, "greenlet"):
            self.skipTest("greenlets are listed on CPython 3.11 with greenlet (Debian "
                          "python3-greenlet)")
        reports = self.churn("greenlets")
        for report in reports:
            self.assertRegex(report["header"].get("greenlets", ""), r"^\d+ suspended", report["header"])


FAKE = os.path.join(ROOT, "build", "targets", "fakepython")
FAKE_GREENLET = os.path.join(os.path.dirname(FAKE), "_greenlet.fake.so")


class HostileInterpreter(GmrTestCase):
    """tests/targets/fakepython.c: CPython 3.11's structures made by hand,
    broken on purpose. The report must show what is sound, say where it
    stopped, and leave the process as it was."""

    def report_of(self, mode, *greenlet):
        exe = os.path.join(self.tmp, "python3-fake")  # found by its name, as CPython is
        shutil.copy(FAKE, exe)
        with Target([exe, mode, *greenlet], env=base_env(GMR_LOG_DIR=self.log_dir)) as t:
            t.signal()
            report = parse_text(read(wait_reports(self.log_dir, 1)[-1]))
            self.assertTrue(t.alive())
        main = next(th for th in report["threads"] if "main thread" in th["marks"])
        return report, main, python_frames(main)

    def test_sound_structures_are_read(self):
        report, main, frames = self.report_of("good")
        self.assertEqual(report["header"]["python"], "CPython 3.11.0")
        self.assertEqual(frames, [("f0", 10), ("f1", 20), ("f2", 30)])
        self.assertIn("holds the GIL", main["marks"])
        self.assertIn("3 Python frames are shown last: the native stack has no more "
                      "_PyEval_EvalFrameDefault frames to place them at", main["notes"])

    def test_a_frame_chain_that_loops_is_shown_once(self):
        _, main, frames = self.report_of("loop")
        self.assertEqual(frames, [("f0", 10), ("f1", 20)])
        self.assertIn("its Python frames loop back on themselves; the rest are not shown",
                      main["notes"])

    def test_a_code_object_that_is_not_one_ends_the_walk(self):
        _, main, frames = self.report_of("badcode")
        self.assertEqual(frames, [("f0", 10)])
        self.assertTrue(any(n.startswith("its Python frames could not be read past here")
                            for n in main["notes"]), main["notes"])

    def test_an_unreadable_interpreter_is_said(self):
        report, _, frames = self.report_of("wild")
        self.assertEqual(frames, [])
        self.assertEqual(report["header"]["python"],
                         "CPython 3.11.0: an interpreter's state could not be read")

    def test_a_deep_stack_is_cut_and_said(self):
        _, main, frames = self.report_of("deep")
        self.assertEqual(len(frames), 1024)
        self.assertEqual(frames[-1], ("f1023", 10240))
        self.assertIn("its Python stack is deeper than 1024 frames; the rest are not shown",
                      main["notes"])

    def test_a_thread_list_that_loops_is_read_once(self):
        report, _, frames = self.report_of("threadloop")
        self.assertEqual(frames, [("f0", 10), ("f1", 20), ("f2", 30)])
        self.assertEqual(report["header"]["python"], "CPython 3.11.0: a list of thread states "
                         "loops or is too long; the rest are not read")

    def test_another_version_is_named_and_not_read(self):
        report, _, frames = self.report_of("version")
        self.assertEqual(frames, [])
        self.assertEqual(report["header"]["python"],
                         "CPython 3.12.0: libgmr reads the frames of CPython 3.11 and 3.13 only")

    def test_sizes_past_belief_are_not_believed(self):
        _, _, frames = self.report_of("huge")
        self.assertEqual(frames, [("?", None), ("?", None), ("?", None)])

    def green_threads(self, report):
        """[(name, [(function, line)])] of the Green Threads section."""
        found = []
        for line in report["sections"]["Green Threads"]:
            m = re.match(r"^-+ +Green Thread #\d+ \((?P<name>[^)]*)\)", line)
            py = PY_FRAME_RE.match(line)
            if m:
                found.append((m.group("name"), []))
            elif py and found:
                found[-1][1].append((py.group("function"), int(py.group("line"))))
        return found

    def test_greenlets_are_found_on_the_collectors_lists(self):
        report, main, frames = self.report_of("greenlets", FAKE_GREENLET)
        self.assertEqual(self.green_threads(report),
                         [("greenlet.greenlet", [("f0", 10), ("f1", 20), ("f2", 30)])])
        self.assertEqual(report["header"]["greenlets"], "1 suspended (listed under Green "
                         "Threads), 1 running, not started or finished")
        # The main thread pushed f0 and f1 on its own chunk; f2 is another
        # greenlet's, where this one was switched to.
        self.assertEqual(frames, [("f0", 10), ("f1", 20)])
        self.assertIn("its Python frames are its running greenlet's; the greenlets it switched "
                      "from are listed under Green Threads", main["notes"])

    def test_a_collector_list_that_loops_is_left_and_said(self):
        report, _, _ = self.report_of("gcloop", FAKE_GREENLET)
        self.assertEqual(len(self.green_threads(report)), 1)
        self.assertTrue(report["header"]["greenlets"].endswith(
            ": the garbage collector's lists changed while they were read (the thread holding "
            "the GIL ran on); some greenlets may be missing"), report["header"])

    def test_a_greenlet_laid_out_otherwise_is_not_read(self):
        report, _, _ = self.report_of("badgreenlet", FAKE_GREENLET)
        self.assertEqual(self.green_threads(report), [])
        self.assertIn(", 2 not listed: no greenlet's state is laid out as greenlet 2.0's",
                      report["header"]["greenlets"])


UWSGI = shutil.which("uwsgi")
UWSGI_PLUGIN = "/usr/lib/uwsgi/plugins/python3_plugin.so"
SLOWAPP = os.path.join(ROOT, "tests", "hosts", "slowapp.py")


@unittest.skipIf(not (UWSGI and os.path.exists(UWSGI_PLUGIN)),
                 "uWSGI is not installed (Debian uwsgi-core, uwsgi-plugin-python3)")
class UWSGIView(GmrTestCase):
    def test_a_worker_stuck_in_a_view_shows_the_view(self):
        # A request stuck in a view; the trigger file (uWSGI keeps SIGUSR2
        # for itself): the worker's report shows the view at its line.
        trigger = os.path.join(self.tmp, "trigger")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_TRIGGER_FILE=trigger)
        with open(os.path.join(self.tmp, "uwsgi.log"), "wb") as log:
            host = subprocess.Popen([UWSGI, "--master", "--processes", "1", "--plugin", "python3",
                                     "--http-socket", "127.0.0.1:%d" % port, "--wsgi-file",
                                     SLOWAPP, "--die-on-term"], env=env, stdout=log, stderr=log,
                                    cwd=self.tmp)
        try:
            worker = self.stuck_worker(host, port)
            with open(trigger, "w"):
                pass
            reports = [parse_text(read(p)) for p in wait_reports(self.log_dir, 2)]
        finally:
            host.terminate()
            host.wait(timeout=30)
        report = next(r for r in reports if r["header"]["pid"] == str(worker))
        self.assertTrue(report["header"]["python"].startswith("CPython 3.11."), report["header"])
        stuck = the_thread(report, "slow_view")
        self.assertEqual(python_frames(stuck)[:2],
                         [("slow_view", line_of("slow_view sleeps", SLOWAPP)),
                          ("application", line_of("application calls slow_view", SLOWAPP))])

    def stuck_worker(self, host, port):
        """Starts a /slow request; returns the worker's pid once it sleeps in the view."""
        deadline = time.monotonic() + 30
        while True:
            try:
                client = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                self.assertLess(time.monotonic(), deadline, "uWSGI did not listen")
                self.assertIsNone(host.poll(), "uWSGI ended")
                time.sleep(0.1)
        client.sendall(b"GET /slow HTTP/1.0\r\nHost: x\r\n\r\n")
        self.addCleanup(client.close)
        while time.monotonic() < deadline:
            for pid in children(host.pid):
                with open("/proc/%d/syscall" % pid) as f:
                    if f.read().split()[0] == "230":  # clock_nanosleep: in the view
                        return pid
            time.sleep(0.05)
        raise AssertionError("no worker went to sleep in the view")


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(c) for c in f.read().split()]


if __name__ == "__main__":
    unittest.main()
