"""Real daemons nobody here wrote, run under libgmr (issues 3 and 6).

The packages come from Debian (scripts/install-deps --daemons, which
.ci/run calls); a test skips, saying which package is missing, only when
it is not installed.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
import unittest
import urllib.request

from gmrtest import GmrTestCase, base_env, parse_text, read, wait_reports

UWSGI_PLUGIN = "/usr/lib/uwsgi/plugins/python3_plugin.so"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on port %d" % port)


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(p) for p in f.read().split()]


@unittest.skipUnless(shutil.which("uwsgi") and os.path.exists(UWSGI_PLUGIN),
                     "uWSGI is not installed (Debian uwsgi-core, uwsgi-plugin-python3; "
                     "scripts/install-deps --daemons)")
class UWSGI(GmrTestCase):
    def setUp(self):
        super().setUp()
        self.app = os.path.join(self.tmp, "app.py")
        with open(self.app, "w") as f:
            f.write("def application(env, start_response):\n"
                    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                    "    return [b'hello from uwsgi\\n']\n")
        self.port = free_port()
        self.trigger = os.path.join(self.tmp, "trigger")
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_TRIGGER_FILE=self.trigger)
        self.out = open(os.path.join(self.tmp, "uwsgi.log"), "wb")
        self.proc = subprocess.Popen(
            ["uwsgi", "--master", "--processes", "2", "--plugin", "python3", "--http-socket",
             "127.0.0.1:%d" % self.port, "--wsgi-file", self.app, "--die-on-term"],
            env=env, stdout=self.out, stderr=subprocess.STDOUT, cwd=self.tmp)
        wait_port(self.port)

    def tearDown(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        super().tearDown()

    def get(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/" % self.port, timeout=10) as r:
            return r.read()

    def test_one_touch_one_report_per_process_and_still_serving(self):
        self.assertEqual(self.get(), b"hello from uwsgi\n")
        workers = children(self.proc.pid)
        self.assertEqual(len(workers), 2)
        time.sleep(0.3)
        with open(self.trigger, "w"):
            pass
        paths = wait_reports(self.log_dir, 3)
        time.sleep(1.0)  # nothing more may come
        paths = sorted(os.listdir(self.log_dir))
        pids = sorted(int(p.rsplit("_", 1)[1]) for p in paths)
        self.assertEqual(pids, sorted([self.proc.pid] + workers), paths)
        for p in paths:
            report = parse_text(read(os.path.join(self.log_dir, p)))
            self.assertEqual(report["header"]["trigger"], "file")
            main = report["threads"][0]
            self.assertIn("main", [f["function"] for f in main["frames"]], main)
        for _ in range(5):
            self.assertEqual(self.get(), b"hello from uwsgi\n")
        self.assertIsNone(self.proc.poll())
