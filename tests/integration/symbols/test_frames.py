"""Frame names in C++ and Rust code: demangled as eu-stack and gdb show
them (the mangled symbol kept in JSON symbol_raw), inlined calls each a
frame of their own up to the function they are in, named as eu-stack -i
names them; and a command line whose process title was rewritten, shown
without the padding the title left."""

import os
import re
import shutil
import time
import unittest

from gmrtest import (ROOT, SANITIZE, TARGETS, GmrTestCase, Target, base_env, eu_stack, functions,
                     ordered_subsequence, parse_text, read, wait_reports)

CXXAPP = os.path.join(TARGETS, "cxxapp")
SOURCE = os.path.join(ROOT, "tests", "targets", "cxxapp.cc")
RUST_RAW = "_ZN7threads4main17h0123456789abcdefE"
# eu-stack demangles with __cxa_demangle alone, which keeps a Rust hash.
RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")
TEMPLATE = ("int app::relay<std::vector<int, std::allocator<int> >, 3>"
            "(std::vector<int, std::allocator<int> >&)")
EXPECTED = {
    "worker": ["app::park(char const*)", "app::Worker::depth(int)", "app::Worker::depth(int)",
               "app::Worker::depth(int)", "app::Worker::run()", "worker_thread(void*)"],
    "template": ["app::park(char const*)", TEMPLATE, "app::Queue<long>::wait_pop()",
                 "template_thread(void*)"],
    "inlined": ["app::park(char const*)", "app::Cache::probe(int)", "app::Cache::lookup(int)",
                "app::Server::serve(int)", "inlined_thread(void*)"],
    "anon": ["app::park(char const*)", "(anonymous namespace)::hidden(int)"],
    "rust": ["app::park(char const*)", "threads::main", "rust_thread(void*)"],
}


def source_line(text):
    """The line number of the first line of cxxapp.cc holding text."""
    with open(SOURCE) as f:
        return next(i for i, line in enumerate(f, 1) if text in line)


def module_range(pid, path):
    """The lowest and highest address of path's mappings in pid."""
    spans = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == path:
                lo, hi = fields[0].split("-")
                spans += [int(lo, 16), int(hi, 16)]
    return min(spans), max(spans)


def unqualified(name):
    """A demangled name without its parameters and scopes:
    "(anonymous namespace)::hidden(int)" -> "hidden"."""
    depth = 0
    if name.endswith(")"):
        for i in range(len(name) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0:
                name = name[:i]
                break
    for i in range(len(name) - 1, 0, -1):
        depth += {">": 1, ")": 1, "<": -1, "(": -1}.get(name[i], 0)
        if depth == 0 and name[i - 1:i + 1] == "::":
            return name[i + 1:]
    return name


class Frames(GmrTestCase):
    def text_report(self, *args):
        env = base_env(GMR_LOG_DIR=self.log_dir)
        with Target([CXXAPP] + list(args), env=env) as t:
            t.signal()
            (path,) = wait_reports(self.log_dir, 1)
        return parse_text(read(path))

    def threads(self, report):
        return {th["name"]: th for th in report["threads"] if th["name"] in EXPECTED}

    def test_cxx_and_rust_names_are_demangled(self):
        threads = self.threads(self.text_report())
        self.assertEqual(set(threads), set(EXPECTED))
        for name, chain in EXPECTED.items():
            names = functions(threads[name])
            self.assertTrue(ordered_subsequence(chain, names), (name, chain, names))
            mangled = [n for n in names if n.startswith("_Z")]
            self.assertEqual(mangled, [], name)

    def test_inlined_calls_are_frames_up_to_their_function(self):
        frames = self.threads(self.text_report())["inlined"]["frames"]
        names = [f["function"] for f in frames]
        self.assertIn("app::Cache::probe(int)", names)
        at = names.index("app::Cache::probe(int)")
        probe, lookup, serve = frames[at:at + 3]
        self.assertEqual([f["function"] for f in (probe, lookup, serve)],
                         ["app::Cache::probe(int)", "app::Cache::lookup(int)",
                          "app::Server::serve(int)"])
        self.assertEqual([(f["inlined"], f["offset"]) for f in (probe, lookup)],
                         [(" [inlined]", None)] * 2)
        self.assertEqual((serve["inlined"], serve["offset"] is not None), (None, True))
        self.assertEqual(len({f["pc"] for f in (probe, lookup, serve)}), 1)
        # Each frame sits where it calls the next one in: the call sites.
        self.assertEqual([int(f["line"]) for f in (probe, lookup, serve)],
                         [source_line('park("inlined")'), source_line("probe(key * 2)"),
                          source_line("cache.lookup(key)")])
        self.assertTrue(all(f["file"].endswith("cxxapp.cc") for f in (probe, lookup, serve)))

    def test_json_keeps_the_mangled_symbol(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        with Target([CXXAPP], env=env) as t:
            doc = self.json_report(t)
        raw = {}
        for th in doc["threads"]:
            for f in th["frames"]:
                raw.setdefault(f.get("symbol"), f.get("symbol_raw"))
        self.assertEqual(raw.get("app::Worker::depth(int)"), "_ZN3app6Worker5depthEi")
        self.assertEqual(raw.get("(anonymous namespace)::hidden(int)"), "_ZN12_GLOBAL__N_16hiddenEi")
        self.assertEqual(raw.get("app::Cache::lookup(int)"), "_ZN3app5Cache6lookupEi")
        self.assertEqual(raw.get("threads::main"), RUST_RAW)
        # Names that are not mangled have no raw form.
        self.assertIn("main", raw)
        self.assertIsNone(raw["main"])
        # _start (crt1, no line information) is given no line: not the
        # nearest line before it, which is another function's.
        start = [f for th in doc["threads"] for f in th["frames"] if f.get("symbol") == "_start"]
        self.assertTrue(start)
        self.assertEqual([f.get("file") for f in start], [None] * len(start))

    @unittest.skipUnless(shutil.which("eu-stack"), "eu-stack (Debian elfutils) is not installed")
    def test_names_agree_with_eu_stack(self):
        # eu-stack -i names a function from its DWARF: fully, from its
        # linkage name, or by its plain name where it has none (a static
        # function); libgmr names it from the symbol table, fully. Inlined
        # calls are named from the DWARF by both, alike.
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        with Target([CXXAPP], env=env) as t:
            doc = self.json_report(t)
            time.sleep(0.2)
            theirs = eu_stack(t.pid, "-i")
            lo, hi = module_range(t.pid, os.path.realpath(CXXAPP))
        checked = 0
        for th in doc["threads"]:
            if th["name"] not in EXPECTED:
                continue
            ours = [(int(f["pc"], 16), f.get("symbol"), bool(f.get("inlined")))
                    for f in th["frames"] if lo <= int(f["pc"], 16) < hi]
            eu = [(pc, RUST_HASH.sub("", name or "")) for pc, name in theirs.get(th["tid"], [])
                  if lo <= pc < hi]
            self.assertEqual([pc for pc, _, _ in ours], [pc for pc, _ in eu], (th["name"], ours, eu))
            for (_, mine, inlined), (_, name) in zip(ours, eu):
                if inlined:
                    self.assertEqual(mine, name, (th["name"], ours, eu))
                else:
                    self.assertIn(name, (mine, unqualified(mine)), (th["name"], ours, eu))
                checked += 1
        self.assertGreaterEqual(checked, 20)

    @unittest.skipIf(SANITIZE, "UBSan's runtime, in libgmr, loads libstdc++ itself")
    def test_without_libstdcxx_names_stay_mangled_and_one_line_says_so(self):
        # cxxapp-static has libstdc++ linked in; libstdc++.so.6, found
        # first in LD_LIBRARY_PATH, is no library.
        libdir = os.path.join(self.tmp, "lib")
        os.mkdir(libdir)
        open(os.path.join(libdir, "libstdc++.so.6"), "w").close()
        env = base_env(GMR_LOG_DIR=self.log_dir, LD_LIBRARY_PATH=libdir)
        with Target([CXXAPP + "-static"], env=env) as t:
            for i in range(2):
                t.signal()
                paths = wait_reports(self.log_dir, i + 1)
            t.wait_watcher_idle()
            said = [l for l in t.stderr().splitlines() if "libstdc++" in l]
        self.assertEqual(len(said), 1, said)
        self.assertTrue(said[0].startswith("gmr: cannot load libstdc++.so.6"), said)
        for path in paths:
            threads = self.threads(parse_text(read(path)))
            self.assertIn("_ZN3app6Worker5depthEi", functions(threads["worker"]))
            # The Rust demangler is libgmr's own.
            self.assertIn("threads::main", functions(threads["rust"]))

    def test_title_without_its_padding(self):
        # cxxapp --title leaves /proc/PID/cmdline as "cxxapp-parked" and a
        # run of NULs, as nginx's and PostgreSQL's titles do.
        report = self.text_report("--title")
        conf = [l for l in report["sections"]["Configuration"] if l.startswith("command_line = ")]
        self.assertEqual(conf, ["command_line = cxxapp-parked"])
        procs = report["sections"]["Processes"]
        at = next(i for i, l in enumerate(procs) if l.endswith("<- this process"))
        self.assertEqual(procs[at + 1].strip(), "command_line = cxxapp-parked")


if __name__ == "__main__":
    unittest.main()
