"""The Waits section (issue 15): tests/targets/waits.c holds threads stuck
in known ways; each report must say what each waits for and who holds it,
name every deadlock cycle (and nothing else a deadlock), and show chains
that end in a thread waiting for no thread."""

import os
import re
import unittest

from gmrtest import BUILD, GmrTestCase, Target, base_env, parse_text, read, wait_reports

WAITS = os.path.join(BUILD, "targets", "waits")


class Waits(GmrTestCase):
    deadlocks_expected = True

    def reports(self, mode):
        """(the JSON report, the text report, the stdout of the JSON run):
        two runs, so tids match only within one."""
        docs, outs = {}, {}
        for fmt in ("json", "text"):
            log_dir = os.path.join(self.log_dir, fmt)
            env = base_env(GMR_LOG_DIR=log_dir, GMR_FORMAT=fmt)
            with Target([WAITS, mode], env=env) as t:
                t.signal()
                path = wait_reports(log_dir, 1)[-1]
                outs[fmt] = t.out
            docs[fmt] = self.load_json(path) if fmt == "json" else read(path)
        return docs["json"], docs["text"], outs["json"]

    def assertLine(self, pattern, text):
        """Some line of text matches pattern; the Waits section in the message."""
        if not re.search(pattern, text, re.M):
            self.fail("no line matches %r in the Waits section:\n%s"
                      % (pattern, "\n".join(self.waits_section(text))))

    def by_name(self, doc):
        return {t["name"]: t for t in doc["threads"]}

    def waits_section(self, text):
        return parse_text(text)["sections"]["Waits"]

    def assertCycle(self, doc, names):
        threads = self.by_name(doc)
        tids = [threads[n]["tid"] for n in names]
        self.assertEqual(len(doc["deadlocks"]), 1, doc["deadlocks"])
        cycle = doc["deadlocks"][0]
        start = cycle.index(tids[0])
        self.assertEqual(cycle[start:] + cycle[:start], tids)
        for i, name in enumerate(names):
            wait = threads[name]["wait"]
            self.assertEqual(wait["kind"], "mutex")
            self.assertEqual(wait["holder"], tids[(i + 1) % len(tids)])
            self.assertIn("deadlock", threads[name])

    def test_two_threads_deadlocked_on_two_mutexes(self):
        doc, text, _ = self.reports("deadlock2")
        self.assertCycle(doc, ["dl-a", "dl-b"])
        section = self.waits_section(text)
        line = next(l for l in section if l.startswith("Deadlock: "))
        self.assertRegex(line, r"^Deadlock: Thread #(\d+) \(dl-(a|b)\) waits for mutex 0x[0-9a-f]+ "
                               r"held by Thread #(\d+) \(dl-(a|b)\), which waits for mutex "
                               r"0x[0-9a-f]+ held by Thread #\1 \(dl-\2\)$")
        # Right after the header, before any stack.
        self.assertLess(text.index("Waits"), text.index("Threads"))
        # And again in each thread's block.
        self.assertEqual(len(re.findall(r"^deadlock = Thread #", text, re.M)), 2)

    def test_the_hang_watchdog_leads_with_the_deadlock(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_TIMEOUT="1")
        with Target([WAITS, "deadlock2"], env=env):
            text = read(wait_reports(self.log_dir, 1)[-1])
        report = parse_text(text)
        self.assertEqual(report["header"]["trigger"], "timeout")
        self.assertEqual(list(report["sections"])[0], "Waits")
        self.assertTrue(report["sections"]["Waits"][0].startswith("Deadlock: Thread #"),
                        report["sections"]["Waits"])

    def test_three_threads_in_a_cycle(self):
        doc, _, _ = self.reports("deadlock3")
        self.assertCycle(doc, ["dl-a", "dl-b", "dl-c"])

    def test_each_mutex_kind_names_its_holder(self):
        doc, text, _ = self.reports("kinds")
        threads = self.by_name(doc)
        self.assertEqual(doc["deadlocks"], [])
        for kind, words in (("normal", ""), ("errchk", " (error-checking)"),
                            ("recursive", " (recursive)"), ("robust", " (robust)"),
                            ("pi", " (priority-inheritance)")):
            wait = threads["wait-" + kind]["wait"]
            holder = threads["hold-" + kind]["tid"]
            self.assertEqual((wait["kind"], wait["holder"]), ("mutex", holder), wait)
            self.assertRegex(wait["text"], r"^waits for mutex 0x[0-9a-f]+%s held by Thread #%d "
                             r"\(hold-%s\)$" % (re.escape(words), holder, kind))
            # A chain, not a deadlock: the holder sleeps.
            self.assertLine(r"^Chain: Thread #\d+ \(wait-%s\) waits for mutex 0x[0-9a-f]+%s "
                            r"held by Thread #\d+ \(hold-%s\), which sleeps for 3[56]\d\d\.\d{3} s"
                            % (kind, re.escape(words), kind), text)
        self.assertNotIn("Deadlock:", text)

    def test_other_waits_are_named_and_never_deadlocks(self):
        doc, text, out = self.reports("others")
        threads = self.by_name(doc)
        child = int(re.search(r"^child (\d+)", out, re.M).group(1))
        listen = int(re.search(r"^listen (\d+)", out, re.M).group(1))
        peer = int(re.search(r"^peer (\d+)", out, re.M).group(1))
        self.assertEqual(doc["deadlocks"], [])
        self.assertNotIn("Deadlock:", text)
        kinds = {n: threads[n]["wait"]["kind"] for n in (
            "cond-waiter", "sem-waiter", "barrier-waiter", "rw-reader", "pshared-waiter",
            "pipe-reader", "acceptor", "sock-reader", "joiner", "rw-writer", "sleeper-j",
            "poller", "epoller", "child-waiter")}
        self.assertEqual(kinds, {
            "cond-waiter": "condition_variable", "sem-waiter": "semaphore",
            "barrier-waiter": "barrier", "rw-reader": "rwlock", "pshared-waiter": "mutex",
            "pipe-reader": "fd", "acceptor": "fd", "sock-reader": "fd", "joiner": "join",
            "rw-writer": "sleep", "sleeper-j": "sleep", "poller": "poll", "epoller": "poll",
            "child-waiter": "child"})
        for name in ("cond-waiter", "sem-waiter", "barrier-waiter"):
            self.assertNotIn("holder", threads[name]["wait"])
        self.assertIn("(value 0)", threads["sem-waiter"]["wait"]["text"])
        self.assertEqual(threads["rw-reader"]["wait"]["holder"], threads["rw-writer"]["tid"])
        self.assertIn("held for writing by Thread #%d (rw-writer)" % threads["rw-writer"]["tid"],
                      threads["rw-reader"]["wait"]["text"])
        self.assertEqual(threads["joiner"]["wait"]["holder"], threads["sleeper-j"]["tid"])
        self.assertNotIn("holder", threads["pshared-waiter"]["wait"])
        self.assertIn("(process-shared) held by thread %d of process %d (waits), not this one"
                      % (child, child), threads["pshared-waiter"]["wait"]["text"])
        self.assertRegex(threads["pipe-reader"]["wait"]["text"],
                         r"^reads from fd \d+ \(pipe:\[\d+\]\); its other end: process %d "
                         r"\(waits\) fd \d+$" % child)
        self.assertRegex(threads["acceptor"]["wait"]["text"],
                         r"^accepts on fd \d+ \(tcp 127\.0\.0\.1:%d LISTEN\)$" % listen)
        self.assertRegex(threads["sock-reader"]["wait"]["text"],
                         r"^reads from fd \d+ \(tcp 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:%d "
                         r"ESTABLISHED\)$" % peer)
        # sleep() hands the kernel one timespec for the time asked and the
        # time left: a capture may have written the second over the first.
        self.assertRegex(threads["sleeper-j"]["wait"]["text"], r"^sleeps for 3[56]\d\d\.\d{3} s")
        self.assertRegex(threads["poller"]["wait"]["text"],
                         r"^polls 1 descriptor: fd \d+ \(tcp 127\.0\.0\.1:%d LISTEN\)$" % listen)
        self.assertRegex(threads["epoller"]["wait"]["text"],
                         r"^waits in epoll instance fd \d+, watching fd \d+ "
                         r"\(tcp 127\.0\.0\.1:%d LISTEN\)$" % listen)
        self.assertEqual(threads["child-waiter"]["wait"]["text"],
                         "waits for child %d (waits) (wait4)" % child)
        self.assertLine(r"^Chain: Thread #\d+ \(joiner\) waits for Thread #\d+ \(sleeper-j\) "
                        r"to end \(pthread_join\), which sleeps for", text)
        # The text block carries the same sentence.
        self.assertLine(r"^wait = waits on a condition variable \(futex 0x[0-9a-f]+\)$", text)


if __name__ == "__main__":
    unittest.main()
