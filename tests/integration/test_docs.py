"""The documentation says what the code does: every GMR_ variable the
sources read is documented, and the man pages render without warnings."""

import glob
import os
import re
import shutil
import subprocess
import unittest

from gmrtest import ROOT


def variables_in_code():
    names = set()
    for path in glob.glob(os.path.join(ROOT, "src", "**", "*.c"), recursive=True) + glob.glob(
            os.path.join(ROOT, "preload", "*.c")):
        with open(path) as f:
            names |= set(re.findall(r'"(GMR_[A-Z_]+)"', f.read()))
    return names


class Docs(unittest.TestCase):
    def test_code_reads_the_variables_we_expect(self):
        names = variables_in_code()
        # The scan itself must see the well-known ones, or it proves nothing.
        for name in ["GMR_SIGNAL", "GMR_LOG_DIR", "GMR_CONFIG", "GMR_TRIGGER_FILE"]:
            self.assertIn(name, names)

    def test_every_variable_is_documented(self):
        names = variables_in_code()
        for doc in [os.path.join(ROOT, "README.md")] + glob.glob(os.path.join(ROOT, "man", "*")):
            with open(doc) as f:
                text = f.read().replace("\\-", "-").replace("\\_", "_")
            missing = sorted(n for n in names if n not in text)
            if doc.endswith((".7", "README.md")):
                self.assertEqual(missing, [], "%s does not document %s" % (doc, missing))

    @unittest.skipUnless(shutil.which("groff"), "groff is not installed")
    def test_man_pages_render_without_warnings(self):
        pages = glob.glob(os.path.join(ROOT, "man", "*.[0-9]"))
        self.assertTrue(pages)
        for page in pages:
            r = subprocess.run(["groff", "-ww", "-z", "-man", page], capture_output=True, text=True)
            self.assertEqual((r.returncode, r.stderr), (0, ""), page)
