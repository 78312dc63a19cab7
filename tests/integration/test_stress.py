"""Stress (issue 6): many reports of busy, churning, huge and deep
processes; the host keeps working, every report is whole, nothing grows.

GMR_STRESS=full (make stress) takes 1000 reports in a row; make check runs
the same tests with fewer."""

import collections
import os
import re
import time

from gmrtest import (SANITIZE, TARGETS, GmrTestCase, Target, base_env, functions, ordered_subsequence,
                     parse_text, read, wait_reports)

FULL = os.environ.get("GMR_STRESS") == "full"
REPORTS = 1000 if FULL else 60
STRESS = os.path.join(TARGETS, "stress")


def progress(path):
    with open(path) as f:
        text = f.read().strip()
    return int(text) if text else 0


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Stress(GmrTestCase):
    def reports_in_a_row(self, t, count):
        """Asks for `count` reports one after the other; returns their paths."""
        for i in range(count):
            t.signal()
            wait_reports(self.log_dir, i + 1, timeout=60)
        return wait_reports(self.log_dir, count)

    def test_malloc_hammering_threads(self):
        counter = os.path.join(self.tmp, "work")
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target([STRESS, "malloc", 50, counter], env=env) as t:
            before = progress(counter)
            paths = self.reports_in_a_row(t, REPORTS)
            time.sleep(0.3)
            self.assertGreater(progress(counter), before, "the host stopped working")
            self.assertTrue(t.alive())
        uncaptured = collections.Counter()
        for p in paths:
            report = parse_text(read(p))
            self.assertEqual(len(report["threads"]), 52, p)  # main, watcher, 50 workers
            self.assertIn("Environment", report["sections"])
            for th in report["threads"][1:]:
                if th["name"] == "gmr-watcher":
                    continue
                # Whole: its frames, or a note saying why there are none.
                if "allocator" not in functions(th):
                    self.assertTrue(th["notes"], (p, th))
                    uncaptured.update(th["notes"])
        print("\n    %d reports x 50 busy threads; not captured: %s"
              % (len(paths), dict(uncaptured) or "none"))

    def test_threads_coming_and_going(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        notes = collections.Counter()
        count = REPORTS // 2
        with Target([STRESS, "churn", 4], env=env) as t:
            paths = self.reports_in_a_row(t, count)
            self.assertTrue(t.alive())
        for p in paths:
            report = parse_text(read(p))
            tids = [th["tid"] for th in report["threads"]]
            self.assertEqual(len(tids), len(set(tids)), "a thread listed twice in " + p)
            for th in report["threads"]:
                notes.update(n for n in th["notes"])
                if not th["frames"]:
                    self.assertTrue(th["notes"] or th["name"] == "gmr-watcher", th)
        print("\n    churn notes over %d reports: %s" % (len(paths), dict(notes)))
        # With threads living a few milliseconds, some leave mid-capture:
        # they are listed, with a note saying so.
        self.assertGreater(notes["not captured: the thread exited during the capture"], 0, notes)

    def test_two_thousand_threads(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_CAPTURE_TIMEOUT=10)
        with Target([STRESS, "many", 2000], env=env, timeout=120) as t:
            tids = set(t.tids())
            t.signal()
            report = parse_text(read(wait_reports(self.log_dir, 1, timeout=120)[0]))
        listed = {th["tid"] for th in report["threads"]}
        self.assertEqual(listed, tids)
        parked = [th for th in report["threads"] if "parked" in functions(th)]
        self.assertEqual(len(parked), 2000)

    def test_ten_thousand_frames(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target([STRESS, "deep", 10000], env=env) as t:
            t.signal()
            report = parse_text(read(wait_reports(self.log_dir, 1)[0]))
        deep = next(th for th in report["threads"] if "descend" in functions(th))
        # 256 addresses; an inlined call may add a line.
        self.assertGreaterEqual(len(deep["frames"]), 256)
        self.assertLessEqual(len(deep["frames"]), 260)
        note = next(n for n in deep["notes"] if "more frames not shown" in n)
        omitted = int(note.split()[0])
        self.assertGreater(omitted, 9000, note)

    def test_thread_inside_its_own_handler_on_its_own_altstack(self):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target([STRESS, "altstack"], env=env) as t:
            t.signal()
            report = parse_text(read(wait_reports(self.log_dir, 1)[0]))
        th = next(th for th in report["threads"] if "waiting_in_handler" in functions(th))
        # Through the signal frame: the handler, then where the signal hit.
        self.assertTrue(ordered_subsequence(["waiting_in_handler", "on_usr1",
                                             "before_the_signal", "on_own_altstack"],
                                            functions(th)), functions(th))

    def test_no_descriptor_or_memory_growth(self):
        # A leak grows the RSS in every stretch of reports. The allocator
        # keeps the high-water mark of elfutils' tables, which rises once
        # when a thread is caught in code whose debug information is bigger
        # (the main thread in vfprintf, under load): one stretch at most.
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target([STRESS, "many", 20], env=env) as t:
            self.reports_in_a_row(t, 10)  # caches loaded, stacks touched
            t.wait_watcher_idle()
            fd0, rss = fds(t.pid), [rss_kib(t.pid)]
            for _ in range(2):
                for p in os.listdir(self.log_dir):
                    os.unlink(os.path.join(self.log_dir, p))
                self.reports_in_a_row(t, REPORTS // 2)
                t.wait_watcher_idle()
                rss.append(rss_kib(t.pid))
            fd1 = fds(t.pid)
        print("\n    after %d more reports: fds %d -> %d, RSS %s KiB"
              % (REPORTS, fd0, fd1, " -> ".join(str(r) for r in rss)))
        self.assertEqual(fd1, fd0)
        if SANITIZE:
            return  # ASan's quarantine holds freed memory by design
        growth = [b - a for a, b in zip(rss, rss[1:])]
        self.assertLess(min(growth), 1024, "RSS grew in every stretch: %s KiB" % growth)
