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


def memcached_command(sock, line, payload=None):
    sock.sendall(line.encode() + b"\r\n" + (payload + b"\r\n" if payload is not None else b""))
    data = b""
    while not data.endswith((b"END\r\n", b"STORED\r\n", b"ERROR\r\n")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode()


@unittest.skipUnless(shutil.which("memcached"),
                     "memcached is not installed (Debian memcached; scripts/install-deps --daemons)")
class Memcached(GmrTestCase):
    REPORTS = 100

    def test_every_thread_hundred_times_and_still_serving(self):
        os.chmod(self.tmp, 0o777)  # memcached runs as nobody
        port = free_port()
        env = base_env(GMR_LOG_DIR=self.log_dir)
        proc = subprocess.Popen(["memcached", "-t", "4", "-p", str(port), "-U", "0", "-l",
                                 "127.0.0.1", "-u", "nobody"], env=env,
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        try:
            wait_port(port)
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                self.assertEqual(memcached_command(s, "set before 0 0 5", b"hello"),
                                 "STORED\r\n")
            tids = sorted(int(t) for t in os.listdir("/proc/%d/task" % proc.pid))
            for i in range(self.REPORTS):
                proc.send_signal(signal.SIGUSR2)
                wait_reports(self.log_dir, i + 1, timeout=60)
            self.assertIsNone(proc.poll())
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                self.assertIn("STAT threads 4", memcached_command(s, "stats"))
                self.assertEqual(memcached_command(s, "get before"),
                                 "VALUE before 0 5\r\nhello\r\nEND\r\n")
                self.assertEqual(memcached_command(s, "set after 0 0 3", b"abc"), "STORED\r\n")
                self.assertEqual(memcached_command(s, "get after"),
                                 "VALUE after 0 3\r\nabc\r\nEND\r\n")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            proc.stderr.close()
        paths = wait_reports(self.log_dir, self.REPORTS)
        for p in paths:
            report = parse_text(read(p))
            self.assertEqual(sorted(t["tid"] for t in report["threads"]), tids, p)
            for t in report["threads"]:
                if t["name"] == "gmr-watcher":
                    continue
                self.assertTrue(t["frames"], (p, t))
                self.assertEqual(t["notes"], [], (p, t))
            waiting = [t for t in report["threads"]
                       if "event_base_loop" in [f["function"] for f in t["frames"]]]
            self.assertGreaterEqual(len(waiting), 5, "main loop and 4 workers, in libevent")
        print("\n    memcached: %d threads, %d reports; first report's threads: %s"
              % (len(tids), len(paths),
                 sorted({t["name"] for t in parse_text(read(paths[0]))["threads"]})))
