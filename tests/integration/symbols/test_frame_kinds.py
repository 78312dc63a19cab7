"""Frames in code elfutils does not know (issue 12): the vDSO, the signal
trampoline, JIT code with and without a perf map; each frame's kind in
JSON; and every frame eu-stack names, named the same way."""

import os
import shutil
import time
import unittest

from gmrtest import (TARGETS, GmrTestCase, Target, base_env, eu_stack, parse_text, read,
                     wait_reports)

FRAMES = os.path.join(TARGETS, "frames")


def thread(doc, name):
    return next(t for t in doc["threads"] if t["name"] == name)


def symbols(t):
    return [f.get("symbol") for f in t["frames"]]


def vdso_range(pid):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if line.rstrip().endswith("[vdso]"):
                lo, hi = line.split()[0].split("-")
                return int(lo, 16), int(hi, 16)
    return None


def remove_perf_map(pid):
    try:
        os.unlink("/tmp/perf-%d.map" % pid)
    except FileNotFoundError:
        pass


NODE = shutil.which("node") or shutil.which("nodejs")
SPIN_JS = """
function spinForGmr() { let a = 0; for (;;) { a = (a * 31 + 1) % 1000003; } }
console.log('ready ' + process.pid);
spinForGmr();
"""


class FrameKinds(GmrTestCase):
    def report(self, t):
        return self.json_report(t)

    def text_thread(self, name):
        """The frames target's text report, and its thread of that name."""
        with Target([FRAMES], env=base_env(GMR_LOG_DIR=self.log_dir)) as t:
            t.signal()
            (path,) = wait_reports(self.log_dir, 1)
        return next(th for th in parse_text(read(path))["threads"] if th["name"] == name)

    def test_vdso_frames_are_named_and_never_given_to_another_module(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        with Target([FRAMES], env=env) as t:
            lo, hi = vdso_range(t.pid)
            named = False
            for _ in range(20):
                spin = thread(self.report(t), "vdso-spin")
                for f in spin["frames"]:
                    if lo <= int(f["pc"], 16) < hi:
                        self.assertEqual((f.get("kind"), f.get("module")), ("vdso", "[vdso]"), f)
                        named |= f.get("symbol") in ("__vdso_clock_gettime", "clock_gettime")
                    else:
                        self.assertNotEqual(f.get("kind"), "vdso", f)
                if named:
                    break
            self.assertTrue(named, "no report caught the thread in the vDSO, named")

    def test_signal_trampoline_is_named_and_marked(self):
        handler = self.text_thread("in-handler")
        names = [f["function"] for f in handler["frames"]]
        marked = [f for f in handler["frames"] if "signal handler called" in f["marks"]]
        self.assertEqual(len(marked), 1, names)
        self.assertEqual(marked[0]["function"], "__restore_rt")
        at = names.index("__restore_rt")
        self.assertIn("sig_parked", names[:at])
        self.assertIn("sig_interrupted", names[at:])

    def test_jit_frames_named_from_the_perf_map_and_unwound_through(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        with Target([FRAMES, "--perf-map"], env=env) as t:
            self.addCleanup(remove_perf_map, t.pid)
            doc = self.report(t)
        jit = thread(doc, "jit-spin")
        first = jit["frames"][0]
        self.assertEqual((first.get("kind"), first.get("symbol"), first.get("module")),
                         ("jit", "jit_spin_loop", "[jit]"))
        self.assertEqual(symbols(jit)[1:3], ["jit_caller", "jit_spin"])
        self.assertIn("found by frame pointer", jit.get("note", ""))
        kinds = {f.get("kind") for th in doc["threads"] for f in th["frames"]}
        self.assertLessEqual(kinds, {"native", "jit", "vdso", "signal"})
        self.assertIn("native", kinds)

    def test_jit_frames_without_a_perf_map_say_where_they_are(self):
        jit = self.text_thread("jit-spin")
        first = jit["frames"][0]
        self.assertEqual((first["function"], first["marks"]), ("??", " [jit]"))
        self.assertTrue(first["module"].startswith("[jit]+0x"), first)
        self.assertEqual(jit["frames"][1]["function"], "jit_caller")

    @unittest.skipUnless(shutil.which("eu-stack"), "eu-stack (Debian elfutils) is not installed")
    def test_every_frame_eu_stack_names_is_named_alike(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        with Target([FRAMES], env=env) as t:
            # The main thread prints "ready", then goes to sleep: both tools
            # must see it where it stays (clock_nanosleep, 230 on x86_64).
            deadline = time.monotonic() + 10
            while read("/proc/%d/syscall" % t.pid).split()[0] != "230":
                self.assertLess(time.monotonic(), deadline, "the main thread never slept")
                time.sleep(0.01)
            doc = self.report(t)
            time.sleep(0.2)
            theirs = {tid: [name for _, name in frames]
                      for tid, frames in eu_stack(t.pid).items()}
        parked = [th for th in doc["threads"] if th["name"] in ("frames", "in-handler", "jit-spin")]
        self.assertEqual(len(parked), 3)
        for th in parked:
            ours = [f.get("symbol") for f in th["frames"] if not f.get("inlined")]
            names = theirs.get(th["tid"], [])
            self.assertEqual(len(ours), len(names), (th["name"], ours, names))
            for mine, eu in zip(ours, names):
                if eu:
                    self.assertEqual(mine, eu, (th["name"], ours, names))

    @unittest.skipUnless(NODE, "node is not installed (Debian nodejs)")
    def test_node_jit_frames_named_from_its_perf_map(self):
        # node --perf-basic-prof publishes /tmp/perf-<pid>.map: the busy
        # function, compiled by V8, is named from it, and unwinding goes on
        # through V8's builtins by frame pointer.
        script = os.path.join(self.tmp, "spin.js")
        with open(script, "w") as f:
            f.write(SPIN_JS)
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        # cwd: V8 writes an isolate-*.log where it runs.
        with Target([NODE, "--perf-basic-prof", script], env=env, cwd=self.tmp) as t:
            self.addCleanup(remove_perf_map, t.pid)
            for _ in range(10):  # until V8 has compiled the loop
                time.sleep(0.3)
                doc = self.report(t)
                main = next(th for th in doc["threads"] if th["tid"] == t.pid)
                first = main["frames"][0]
                if first.get("kind") == "jit":
                    break
        self.assertEqual((first.get("kind"), first.get("module")), ("jit", "[jit]"), main["frames"][:3])
        self.assertIn("spinForGmr", first.get("symbol", ""))
        self.assertGreater(len(main["frames"]), 1)
