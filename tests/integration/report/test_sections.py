"""Report content beyond oslo.reports (issue 4): every section, in text and
JSON, checked against what other tools say about the same process, and
each section surviving the loss of its /proc source."""

import os
import re
import resource
import shutil
import signal
import subprocess
import time
import unittest

from gmrtest import (SECTIONS, GmrTestCase, Target, base_env, parse_text, read, testd, wait_reports,
                     wait_stderr_report)

JSON_KEYS = ["header", "deadlocks", "package", "threads", "green_threads", "processes", "configuration",
             "environment", "shared_objects", "file_descriptors", "signals", "memory",
             "resource_usage"]


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
    return re.search(r"Build ID: ([0-9a-f]+)", out).group(1)


def libc_path(pid):
    with open("/proc/%d/maps" % pid) as f:
        return next(l.split()[-1] for l in f if "/libc.so" in l)


class Content(GmrTestCase):
    def test_text_sections_in_order(self):
        with Target(testd("--threads", 2)) as t:
            t.signal()
            text = wait_stderr_report(t)
        titles = re.findall(r"^====\s+(.*?)\s+====$", text, re.M)
        self.assertEqual(titles, ["Guru Meditation"] + SECTIONS)
        # The largest mappings that hold memory, not inaccessible reserves.
        largest = re.findall(r"^\s+\d+ KiB  (\S{3})  ", text, re.M)
        self.assertTrue(largest, text)
        self.assertNotIn("---", largest)

    def test_json_sections_against_other_sources(self):
        # The host owns USR2 here, so the report comes from the trigger file.
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json", GMR_VERSION="nova 27.1.0",
                       GMR_TRIGGER_FILE=os.path.join(self.tmp, "trigger2"))
        with Target(testd("--threads", 3, "--listen", "--own-usr2"), env=env) as t:
            port = int(t.wait_line("port").split()[1])
            with open(os.path.join(self.tmp, "trigger2"), "w"):
                pass
            (path,) = wait_reports(self.log_dir, 1)
            doc = self.load_json(path)
            libc = libc_path(t.pid)
            with open("/proc/%d/status" % t.pid) as f:
                threads_now = int(re.search(r"Threads:\s+(\d+)", f.read()).group(1))
            host_fds = sorted(int(fd) for fd in os.listdir("/proc/%d/fd" % t.pid))
        self.assertEqual(list(doc.keys())[:len(JSON_KEYS)], JSON_KEYS)
        pkg = doc["package"]
        self.assertEqual((pkg["product"], pkg["version"]), ("nova", "27.1.0"))
        self.assertEqual(pkg["executable"], testd()[0])
        self.assertEqual(pkg["build_id"], build_id(testd()[0]))
        self.assertEqual(pkg["libc"], os.confstr("CS_GNU_LIBC_VERSION").split()[1])
        self.assertEqual(pkg["kernel"].split()[1], os.uname().release)
        for th in doc["threads"]:
            if th["name"] != "gmr-watcher":
                self.assertIsInstance(th["utime_ms"], int)
        objs = {o["path"]: o for o in doc["shared_objects"]}
        self.assertEqual(objs[libc]["build_id"], build_id(libc))
        self.assertIn(testd()[0], objs)
        fds = doc["file_descriptors"]
        listening = [f for f in fds if f.get("socket", {}).get("state") == "LISTEN"]
        self.assertEqual([f["socket"]["local"] for f in listening], ["127.0.0.1:%d" % port])
        connected = [f for f in fds if f.get("socket", {}).get("remote") == "127.0.0.1:%d" % port]
        self.assertEqual(len(connected), 1)
        self.assertEqual(connected[0]["socket"]["state"], "ESTABLISHED")
        # libgmr's own descriptors (the trigger file's inotify instance, the
        # files it reads) are in a table of its own, not in the program's.
        self.assertEqual([f["fd"] for f in fds], host_fds)
        self.assertEqual([f for f in fds if "inotify" in f["target"] or f.get("owner")], [])
        usr2 = [h for h in doc["signals"]["handlers"] if h["signal"] == "USR2"]
        self.assertEqual(usr2[0]["handler"], "on_usr2")
        self.assertIn("RESTART", usr2[0]["flags"])
        self.assertGreater(doc["memory"]["VmRSS"], 0)
        self.assertEqual(doc["resource_usage"]["threads"], threads_now)
        conf = doc["configuration"]
        self.assertEqual(conf["working_directory"], os.getcwd())
        self.assertRegex(conf["umask"], r"^0[0-7]{3}$")
        self.assertEqual(conf["limits"]["nofile"]["soft"],
                         str(resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
        self.assertIsInstance(conf["cgroup"], list)
        self.assertEqual(conf["settings"]["GMR_VERSION"],
                         {"value": "nova 27.1.0", "source": "environment"})
        # Defaults resolved at start show what they became.
        self.assertEqual(conf["settings"]["GMR_SERVICE_NAME"],
                         {"value": "testd", "source": "default"})
        capture = [h["signal"] for h in doc["signals"]["handlers"]
                   if h["handler"] == "handler_capture"]
        self.assertEqual([conf["settings"]["GMR_CAPTURE_SIGNAL"]["value"]], capture)

    def test_process_tree_against_proc(self):
        # testd -> sh (with a secret option) -> two sleeps: nested as /proc
        # has it, under this test runner, with the secret masked.
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json", GMR_INHERIT=0)
        spawn = "exec sh -c 'sleep 30 & sleep 31; wait' sh --db-password=hunter2"
        with Target(testd("--threads", 1, "--spawn", spawn), env=env) as t:
            deadline = time.monotonic() + 10
            # Sampled once all three are asleep: one just started may still run.
            while time.monotonic() < deadline:
                expected = {pid: proc_facts(pid) for pid in descendants(t.pid)}
                if len(expected) == 3 and all(f["state"] == "S" for f in expected.values()):
                    break
                time.sleep(0.05)
            self.assertEqual(len(expected), 3, expected)
            t.signal()
            (path,) = wait_reports(self.log_dir, 1)
            doc = self.load_json(path)
        (parent,) = doc["processes"]
        self.assertEqual(parent["pid"], os.getpid())
        (me,) = parent["children"]
        self.assertEqual((me["pid"], me["ppid"], me.get("role")), (t.pid, os.getpid(), "self"))
        (sh,) = me["children"]
        self.assertEqual(sorted(c["pid"] for c in sh["children"]),
                         sorted(p for p in expected if expected[p]["ppid"] == sh["pid"]))
        for node in [sh] + sh["children"]:
            facts = expected[node["pid"]]
            self.assertEqual(node["ppid"], facts["ppid"])
            self.assertEqual(node["uid"], os.getuid())
            self.assertEqual(node["state"][0], facts["state"])
        for leaf in sh["children"]:
            self.assertNotIn("children", leaf)
        self.assertEqual(sh["command_line"],
                         "sh -c 'sleep 30 & sleep 31; wait' sh --db-password=***")
        self.assertEqual({c["command_line"] for c in sh["children"]}, {"sleep 30", "sleep 31"})

    def test_debian_package_of_the_executable(self):
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "coreutils"],
                                 capture_output=True, text=True).stdout
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        proc = subprocess.Popen(["sleep", "30"], env=env)
        try:
            # sleep(1) retries on EINTR: the report does not end it early.
            time.sleep(0.3)
            proc.send_signal(signal.SIGUSR2)
            (path,) = wait_reports(self.log_dir, 1)
            self.assertIsNone(proc.poll())
        finally:
            proc.kill()
            proc.wait()
        pkg = self.load_json(path)["package"]
        self.assertEqual(pkg["deb_package"], "coreutils")
        self.assertEqual(pkg["deb_version"], version)

    def test_names_and_values_that_are_not_text(self):
        env = base_env(GMR_LOG_DIR=self.log_dir, GMR_FORMAT="json")
        env = {k.encode(): v.encode() for k, v in env.items()}
        env[b"WEIRD_VALUE"] = b"a\x01b\xffc\nd"
        with Target(testd("--threads", 1, "--weird-name"), env=env) as t:
            t.signal()
            doc = self.load_json(wait_reports(self.log_dir, 1)[0])
        self.assertEqual(doc["environment"]["WEIRD_VALUE"], "a\x01b\ufffdc\nd")
        names = [th["name"] for th in doc["threads"]]
        self.assertIn("new\nline\ufffd\x01", names)

    def test_weird_names_keep_the_text_layout(self):
        with Target(testd("--threads", 1, "--weird-name")) as t:
            t.signal()
            text = wait_stderr_report(t)
        self.assertIn("(new\\nline", text)
        for line in text.splitlines():
            self.assertNotIn("\x01", line)


def descendants(pid):
    """Every process below pid, from /proc's children lists."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        out += kids
        todo += kids
    return out


def proc_facts(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return {"state": fields[0], "ppid": int(fields[1])}


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"),
                     "needs root and unshare to hide /proc files")
class MissingSources(GmrTestCase):
    def test_each_section_survives_its_source_failing(self):
        # A private mount namespace where some of this process's /proc files
        # fail to read (EACCES), then the target itself: same pid, same mounts.
        hide = " ".join("mount --bind /proc/sys/vm/compact_memory /proc/$$/%s &&" % f
                        for f in ["environ", "cmdline", "cgroup", "status"])
        empty = os.path.join(self.tmp, "empty")
        os.mkdir(empty)
        hide += " mount --bind %s /proc/$$/net &&" % empty
        argv = ["unshare", "-m", "sh", "-c",
                "%s exec %s --threads 2 --listen" % (hide, testd()[0])]
        with Target(argv) as t:
            t.signal()
            text = wait_stderr_report(t)
            self.assertTrue(t.alive())
        report = parse_text(text)
        self.assertEqual([s for s in report["sections"] if s in SECTIONS], SECTIONS)
        self.assertIn("note: /proc/self/environ could not be read",
                      report["sections"]["Environment"])
        conf = "\n".join(report["sections"]["Configuration"])
        self.assertIn("command_line = (unreadable: /proc/self/cmdline)", conf)
        self.assertIn("cgroup = (unreadable: /proc/self/cgroup)", conf)
        self.assertIn("umask = (unreadable: /proc/self/status)", conf)
        self.assertIn("note = /proc/self/status could not be read",
                      "\n".join(report["sections"]["Signals"]))
        self.assertIn("note = /proc/self/status could not be read",
                      "\n".join(report["sections"]["Memory"]))
        fds = report["sections"]["File Descriptors"]
        self.assertIn("note: /proc/self/net could not be read; sockets are shown without "
                      "protocol or addresses", fds)
        self.assertTrue(any("socket:[" in line for line in fds), fds)
        # The threads are all there, stacks and all.
        names = {th["name"] for th in report["threads"]}
        self.assertTrue({"alpha", "bravo"} <= names)
        alpha = next(th for th in report["threads"] if th["name"] == "alpha")
        self.assertChain(alpha, "alpha")
