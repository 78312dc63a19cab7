"""The source tree keeps the shape the README's "Layout" describes: no
import circles between modules, folders (stages) that import only the
ones before them, and code that runs in signal handlers in src/signal/,
saying so at its top."""

import glob
import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys
import unittest

from gmrtest import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "import-graph")

# Lower stages first; a folder may import only folders of a lower rank.
RANKS = {"base": 0, "arch": 0, "render": 1, "signal": 2, "capture": 3, "symbols": 3, "trigger": 3,
         "report": 4, "(top)": 5}


def graph_module():
    loader = importlib.machinery.SourceFileLoader("import_graph", SCRIPT)
    spec = importlib.util.spec_from_loader("import_graph", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def first_comment(path):
    with open(path) as f:
        text = f.read()
    m = re.match(r"\s*/\*(.*?)\*/", text, re.S)
    # One line of words: no comment stars, no line breaks.
    return re.sub(r"\s*\n\s*\*?\s*", " ", m.group(1)) if m else ""


class Layout(unittest.TestCase):
    def test_no_import_circles(self):
        run = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        # The graph is the real one: the watcher imports the report.
        self.assertRegex(run.stdout, r"(?m)^watcher: .*\breport/report\b")

    def test_the_circle_finder_finds_circles(self):
        g = graph_module()
        self.assertEqual(g.circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}), [["a", "b", "c", "a"]])
        self.assertEqual(g.circles({"a": {"b"}, "b": set(), "c": {"a", "b"}}), [])

    def test_folders_import_only_earlier_stages(self):
        g = graph_module()
        mods = g.modules()
        folders = {g.folder(m) for m in mods}
        self.assertEqual(folders - set(RANKS), set(), "a folder with no rank in this test")
        wrong = sorted("%s -> %s" % (m, d) for m, deps in mods.items() for d in deps
                       if g.folder(d) != g.folder(m)
                       and RANKS[g.folder(d)] >= RANKS[g.folder(m)])
        self.assertEqual(wrong, [])

    def test_signal_handlers_live_in_src_signal(self):
        handlers = set()
        for path in glob.glob(os.path.join(ROOT, "src", "**", "*.c"), recursive=True):
            with open(path) as f:
                text = f.read()
            # Functions handed to the kernel as handlers: sigchain_take's.
            handlers |= set(re.findall(r"sigchain_take\([^;]*?\b(handler_\w+)", text, re.S))
        self.assertGreaterEqual(handlers, {"handler_capture", "handler_trigger", "handler_crash"})
        for name in handlers:
            defined = [p for p in glob.glob(os.path.join(ROOT, "src", "**", "*.c"), recursive=True)
                       if re.search(r"(?m)^void %s\(" % name, open(p).read())]
            self.assertEqual(len(defined), 1, name)
            self.assertEqual(os.path.basename(os.path.dirname(defined[0])), "signal", name)

    def test_signal_files_say_so_at_their_top(self):
        for path in glob.glob(os.path.join(ROOT, "src", "signal", "*.[ch]")):
            top = first_comment(path)
            self.assertTrue("SIGNAL CONTEXT" in top or "not itself signal context" in top.lower(),
                            "%s does not say whether it runs in signal handlers" % path)


if __name__ == "__main__":
    unittest.main()
