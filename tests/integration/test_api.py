"""The public C API: program sections, gmr_report, green threads (issue 4)."""

import os
import re
import subprocess
import time

from gmrtest import (EXAMPLES, TARGETS, GmrTestCase, Target, base_env, ordered_subsequence,
                     parse_text, read, wait_reports)


class Example(GmrTestCase):
    def test_with_libgmr(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target([os.path.join(EXAMPLES, "api")], env=env) as t:
            self.assertEqual(t.lines("api report:"), ["api report: written"])
            # gmr_report returned after the report was written, not before.
            (path,) = wait_reports(self.log_dir, 1, timeout=0)
        report = parse_text(read(path))
        self.assertEqual(report["header"]["trigger"], "api")
        self.assertEqual(report["header"]["reason"], "api example started")
        # The example asks from its main thread, which the report marks.
        callers = [th["tid"] for th in report["threads"] if "called gmr_report" in th["marks"]]
        self.assertEqual(callers, [t.pid])
        queue = report["sections"]["Job Queue"]
        self.assertIn("pending = 3", queue)
        self.assertIn("  send invoices", queue)
        self.assertIn("The queue is drained by the coroutines below.", queue)
        green = "\n".join(report["sections"]["Green Threads"])
        for i in range(3):
            self.assertIn("Green Thread #%d (fetcher-%d)" % (i, i), green)
        self.assertIn("in wait_for_socket+", green)
        self.assertIn("in fetch_page+", green)
        self.assertIn("state = waiting on socket", green)

    def test_json(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        with Target([os.path.join(EXAMPLES, "api")], env=env):
            (path,) = wait_reports(self.log_dir, 1, timeout=0)
        doc = self.load_json(path)
        self.assertEqual(doc["Job Queue"]["pending"], 3)
        self.assertEqual(doc["Job Queue"]["jobs"],
                         ["resize thumbnails", "send invoices", "rebuild index"])
        self.assertEqual(doc["Job Queue"]["text"],
                         ["The queue is drained by the coroutines below."])
        self.assertEqual(len(doc["green_threads"]), 3)
        for i, g in enumerate(doc["green_threads"]):
            self.assertEqual(g["index"], i)
            self.assertEqual(g["name"], "fetcher-%d" % i)
            symbols = [f.get("symbol") for f in g["frames"]]
            # (Under ASan the innermost frame is its swapcontext interceptor.)
            self.assertTrue(ordered_subsequence(["wait_for_socket", "fetch_page"], symbols[:3]),
                            symbols)
        self.assertEqual(doc["header"]["trigger"], "api")

    def test_without_libgmr(self):
        env = {k: v for k, v in base_env().items() if k != "LD_PRELOAD"}
        r = subprocess.run([os.path.join(EXAMPLES, "api"), "--lifetime", "0"], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        self.assertIn("api report: libgmr is not loaded", r.stdout)


class Edges(GmrTestCase):
    def test_misbehaving_sections_and_concurrent_requests(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        with Target([os.path.join(TARGETS, "apiuse")], env=env, timeout=60) as t:
            for check in ["registration", "unregister", "unregister-waits", "deadlock",
                          "self-unregister"]:
                self.assertEqual(t.lines(check + " "), [check + " ok"])
            self.assertEqual(t.lines("concurrent"), ["concurrent ok"] * 4)
            self.assertEqual(t.lines("slow-calls"), ["slow-calls 1"])
            paths = wait_reports(self.log_dir, 2)
        docs = [self.load_json(p) for p in paths]  # every one must parse
        last = docs[-1]
        self.assertNotIn("Slow", last)
        self.assertNotIn("Twice", last)
        self.assertNotIn("Other", last)
        # It ran in the first report, removed itself there, and in none after.
        self.assertEqual(docs[0]["SelfRemoving"], {"removed": 1})
        self.assertNotIn("SelfRemoving", last)
        self.assertEqual(last["Unbalanced"], {"open": {"never closed": ["item"]}})
        deep = last["Deep"]
        depth = 0
        while "level" in deep:
            deep, depth = deep["level"], depth + 1
        self.assertEqual(depth, 16)
        self.assertEqual(last["Deep"]["after"], "still fine")
        weird = last["Weird"]
        self.assertEqual(weird["value"], "no key")
        self.assertEqual(weird["newline\nkey"], "value\twith\ncontrols\x01")
        self.assertEqual(weird["latin1"], "caf\ufffd \ufffd\ufffd")
        self.assertEqual(weird["null value"], "")
        self.assertEqual(weird["text"], ["", "quote \" and backslash \\"])
        self.assertEqual(last["Reentrant"]["gmr_report_errno"], 35)  # EDEADLK
        # Four calls at once share reports: fewer reports than calls.
        self.assertLessEqual(len(paths), 4)


class WatcherFault(GmrTestCase):
    """Issue 11, case 5: a section callback (or the coroutine lister) that
    faults parks libgmr's watcher for good; after that nothing of the host
    waits on libgmr, and the host runs on."""

    HANG_MS = 5000

    def run_fault(self, mode, replace_step):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        steps = ["report-during-fault", "report-after", replace_step, "report-again",
                 "register-fresh", "unregister-fresh", "setxid"]
        start = time.monotonic()
        with Target([os.path.join(TARGETS, "apiuse"), mode, self.HANG_MS], env=env,
                    timeout=len(steps) * self.HANG_MS / 1000 + 20) as t:
            results = {}
            for step in steps:
                (line,) = t.lines(step + " ")
                m = re.match(r"\S+ rc=(-?\d+) errno=(\S+) ms=([\d.]+)$", line)
                self.assertTrue(m, "%s (stdout %r)" % (line, t.out))
                results[step] = (int(m.group(1)), m.group(2), float(m.group(3)))
            # libgmr's fault handler parked the watcher: the host is alive
            # and was told once. (The watcher lets the waiting caller go
            # first, then says so: on a busy machine the host's steps can
            # all be done before that line is written.)
            self.assertTrue(t.alive())
            said = "gmr: libgmr's watcher thread crashed (SIGSEGV)"
            deadline = time.monotonic() + 5
            while said not in t.stderr() and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertEqual(t.stderr().count(said), 1, t.stderr())
        elapsed = time.monotonic() - start
        # The caller waiting for the report when the watcher faulted is
        # woken (ms here count from the fault), and every later call
        # returns at once.
        self.assertEqual(results["report-during-fault"][:2], (-1, "ENOSYS"))
        self.assertEqual(results["report-after"][:2], (-1, "ENOSYS"))
        self.assertEqual(results["report-again"][:2], (-1, "ENOSYS"))
        self.assertEqual(results[replace_step][0], 0)
        self.assertEqual(results["register-fresh"][0], 0)
        self.assertEqual(results["unregister-fresh"][0], 0)
        # The host drops root after the fault: the faulted watcher neither
        # holds it up (it used to be waited for, forever) nor fails glibc's
        # all-threads call (which aborts the process).
        self.assertEqual(results["setxid"][0], 0 if os.geteuid() == 0 else 77)
        for step, (_, _, ms) in results.items():
            self.assertLess(ms, 200, "%s took %.1f ms" % (step, ms))
        self.assertLess(elapsed, 15)
        # No report was written: the watcher died writing the first one.
        self.assertFalse(os.path.exists(self.log_dir) and os.listdir(self.log_dir))
        return results

    def test_a_section_callback_faults(self):
        self.run_fault("fault-section", "unregister")

    def test_the_coroutine_lister_faults(self):
        self.run_fault("fault-green", "replace-lister")
