"""The deployment recipes of examples/deploy/ (issue 18), as far as this
machine allows: no systemd runs as PID 1 here and no container runtime,
so the drop-ins are verified with systemd-analyze, not started, and the
daemons run with the environment each file gives them, started by the test.

The files preload libgmr by its soname (LD_PRELOAD=libgmr.so.0), which an
installed package resolves through the ld.so cache; here LD_LIBRARY_PATH
resolves it to the build's libgmr.so.0. Paths on the machine (/var/log/...,
/run/nginx) become the test's own, with the owners the recipes give them.
"""

import configparser
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import unittest

from gmrtest import BUILD, EXAMPLES, ROOT, SANITIZE, GmrTestCase, Target, parse_text, read
from test_hosts import (HOSTS, NGINX, NGINX_CONF, PG_BIN, PSQL, UWSGI_BIN, UWSGI_PLUGIN, Host,
                        children, cmdline, free_port, http_get, reports_by_pid, wait_port,
                        wait_reports_from)
from report.test_output import PrivateJournal, journal_missing

DEPLOY = os.path.join(ROOT, "examples", "deploy")
GMR_REPORT = os.path.join(BUILD, "gmr-report")
SONAME = "libgmr.so.0"
AS_ROOT = os.geteuid() == 0
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
DAEMONS = "scripts/install-deps --daemons"
NO_SANITIZER = "the recipes run with the plain build (make check without SANITIZE)"


def drop_in_environment(path, unit):
    """The variables of a drop-in's Environment= lines, with the
    specifiers it uses (%N, %i) expanded for unit ("name.service")."""
    name = unit.rsplit(".", 1)[0]
    instance = name.split("@", 1)[1] if "@" in name else ""
    env = {}
    with open(path) as f:
        for line in f:
            if line.startswith("Environment="):
                key, value = line.strip()[len("Environment="):].split("=", 1)
                env[key] = value.replace("%N", name).replace("%i", instance)
    return env


def pg_environment(path):
    """The variables of a PostgreSQL cluster's environment file
    (postgresql.conf's syntax: NAME = 'value')."""
    env = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^\s*(\w+)\s*=\s*'([^']*)'\s*$", line)
            if m:
                env[m.group(1)] = m.group(2)
    return env


def daemon_env(recipe, **override):
    """The environment a recipe gives a daemon: no libgmr of the test's
    own, the recipe's variables, its soname resolved to the build, and the
    test's paths in place of the machine's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GMR_") and k not in ("LD_PRELOAD", "MAKEFLAGS", "MFLAGS",
                                                      "MAKELEVEL")}
    env.update(recipe)
    env["LD_LIBRARY_PATH"] = os.path.abspath(BUILD)
    env.update(override)
    return env


def tool_env():
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("GMR_")}


def gmr_report_tree(pid):
    """gmr-report --tree PID: its status, and the pids its reports are of."""
    r = subprocess.run([GMR_REPORT, "--tree", str(pid)], env=tool_env(), capture_output=True,
                       text=True, timeout=120)
    pids = [int(p) for p in re.findall(r"^==> pid (\d+) ", r.stdout, re.M)]
    return r.returncode, sorted(pids), r.stderr


def touch_as(user, path):
    """touch, as user (a trigger file in a directory of that user's)."""
    subprocess.run(["touch", path], check=True, user=user, env=tool_env())


def owned_dir(path, user, mode=0o700):
    """The directory a recipe says to make: install -d -o user -g user -m mode."""
    os.makedirs(path)
    shutil.chown(path, user, pwd.getpwnam(user).pw_gid)
    os.chmod(path, mode)


def report_files(log_dir):
    """{pid: (owner uid, mode)} of the reports in log_dir."""
    found = {}
    for pid, paths in reports_by_pid(log_dir).items():
        st = os.stat(paths[-1])
        found[pid] = (st.st_uid, stat.S_IMODE(st.st_mode))
    return found


def uid_of(pid):
    """A process's real uid (its /proc directory is root's once it is not
    dumpable, as a worker that changed user is)."""
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1))


def exe_of(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None


def gmr_lines(text):
    return [line for line in text.splitlines() if line.startswith("gmr: ")]


def user_missing(user, package):
    try:
        pwd.getpwnam(user)
        return None
    except KeyError:
        return "no user %s (Debian %s creates it; %s)" % (user, package, DAEMONS)


def daemon_missing(installed, what, as_root_why, user, user_package):
    """Why a daemon recipe's test cannot run here, or None; returns the
    daemon user's uid as the second value."""
    if not installed:
        return "%s is not installed (%s)" % (what, DAEMONS), None
    if not AS_ROOT:
        return as_root_why, None
    why = user_missing(user, user_package)
    return why, None if why else pwd.getpwnam(user).pw_uid


class Documented(unittest.TestCase):
    def test_every_recipe_is_named_in_the_readmes_and_the_man_page(self):
        with open(os.path.join(DEPLOY, "README.md")) as f:
            index = f.read()
        files = []
        for directory, _, names in os.walk(DEPLOY):
            files += [os.path.relpath(os.path.join(directory, n), DEPLOY) for n in names]
        self.assertGreaterEqual(len(files), 7, files)
        for path in files:
            if path != "README.md":
                self.assertIn("(%s)" % path, index, "examples/deploy/README.md does not link it")
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        self.assertIn("### Install on a server", readme)
        self.assertIn("](examples/deploy/README.md)", readme)
        with open(os.path.join(ROOT, "man", "gmr.7")) as f:
            self.assertIn("examples/deploy/", f.read().replace("\\-", "-").replace("\\%", ""))


# ----------------------------------------------------------------- systemd

@unittest.skipUnless(SYSTEMD_ANALYZE, "systemd-analyze is not installed (Debian systemd; %s)"
                     % DAEMONS)
class DropInsVerify(GmrTestCase):
    """Each drop-in, under the unit it is for, passes systemd-analyze
    verify without a word."""

    def verify(self, unit_file, unit, drop_in, extra=""):
        """systemd-analyze verify of unit (an instance of unit_file if that
        is a template), with drop_in as its gmr.conf: status and output."""
        units = tempfile.mkdtemp(dir=self.tmp)
        name = os.path.basename(unit_file)
        os.makedirs(os.path.join(units, name + ".d"))
        shutil.copy(unit_file, os.path.join(units, name))
        with open(drop_in) as f, open(os.path.join(units, name + ".d", "gmr.conf"), "w") as out:
            out.write(f.read() + extra)
        r = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", os.path.join(units, unit)],
                           capture_output=True, text=True, timeout=120)
        return r.returncode, (r.stdout + r.stderr).strip()

    def sample_unit(self):
        path = os.path.join(self.tmp, "mydaemon.service")
        with open(path, "w") as f:
            f.write("[Unit]\nDescription=A daemon\n\n[Service]\nExecStart=/bin/sleep infinity\n")
        return path

    def test_the_generic_drop_in(self):
        drop_in = os.path.join(DEPLOY, "systemd", "gmr.conf")
        self.assertEqual(self.verify(self.sample_unit(), "mydaemon.service", drop_in), (0, ""))
        # The drop-in is read: a line systemd does not know is named.
        _, said = self.verify(self.sample_unit(), "mydaemon.service", drop_in, "Bogus=1\n")
        self.assertIn("gmr.conf:", said)
        self.assertIn("Bogus", said)

    def test_the_uwsgi_and_nginx_drop_ins_under_debians_units(self):
        checked = 0
        for unit_file, unit, drop_in in [
                ("/lib/systemd/system/uwsgi-app@.service", "uwsgi-app@myapp.service",
                 os.path.join(DEPLOY, "uwsgi", "gmr.conf")),
                ("/lib/systemd/system/nginx.service", "nginx.service",
                 os.path.join(DEPLOY, "nginx", "gmr.conf"))]:
            with self.subTest(unit=unit):
                if not os.path.exists(unit_file):
                    continue  # its package is missing: the class below says so
                self.assertEqual(self.verify(unit_file, unit, drop_in), (0, ""))
                checked += 1
        if not checked:
            self.skipTest("neither uwsgi-core nor nginx is installed (%s)" % DAEMONS)

    def test_the_drop_ins_set_what_the_readme_says(self):
        env = drop_in_environment(os.path.join(DEPLOY, "systemd", "gmr.conf"), "mydaemon.service")
        self.assertEqual(env, {"LD_PRELOAD": SONAME, "GMR_OUTPUT": "journal",
                               "GMR_TRIGGER_FILE": "/run/mydaemon/gmr"})
        env = drop_in_environment(os.path.join(DEPLOY, "uwsgi", "gmr.conf"), "uwsgi-app@myapp.service")
        self.assertEqual(env, {"LD_PRELOAD": SONAME,
                               "GMR_CONFIG": "/etc/uwsgi/apps-available/myapp.ini"})


@unittest.skipIf(SANITIZE, NO_SANITIZER)
@unittest.skipIf(journal_missing(), journal_missing())
class SystemdService(GmrTestCase):
    """The demo daemon with the generic drop-in's environment, as systemd
    would start it: reports go to a journald of the test's own, the
    trigger file lies in the unit's runtime directory."""

    def test_reports_reach_the_journal(self):
        unit = "gmr-deploy-test-%d.service" % os.getpid()
        env = drop_in_environment(os.path.join(DEPLOY, "systemd", "gmr.conf"), unit)
        runtime_dir = os.path.dirname(env["GMR_TRIGGER_FILE"])
        self.assertEqual(runtime_dir, "/run/" + unit[:-len(".service")])
        os.mkdir(runtime_dir)  # RuntimeDirectory=%N
        self.addCleanup(shutil.rmtree, runtime_dir, True)
        journal = PrivateJournal(self.tmp)
        self.addCleanup(journal.stop)
        argv = ["nsenter", "-t", str(journal.proc.pid), "-m", "--", "env"] + [
            "%s=%s" % kv for kv in sorted(daemon_env(env).items())] + [
            os.path.join(EXAMPLES, "demo"), "--lifetime", "60"]
        with Target(argv, env=tool_env()) as t:
            time.sleep(0.3)
            with open(env["GMR_TRIGGER_FILE"], "w"):
                pass
            entry, = journal.wait_entries("demo", 1, "GMR_TRIGGER=file")
            self.assertEqual(gmr_lines(t.stderr()), [])
            status, pids, err = gmr_report_tree(t.pid)
            self.assertEqual((status, pids), (0, [t.pid]), err)
        report = parse_text(entry["MESSAGE"])
        self.assertEqual(report["header"]["trigger"], "file")
        self.assertIn("worker-1", [th["name"] for th in report["threads"]])
        self.assertTrue(any(line.rstrip().endswith("(environment)") and "GMR_TRIGGER_FILE" in line
                            for line in report["sections"]["Configuration"]))


# ------------------------------------------------------------------- uWSGI

@unittest.skipIf(SANITIZE, NO_SANITIZER)
class UWSGIRecipe(GmrTestCase):
    """uWSGI started with the app's ini file (examples/deploy/uwsgi/myapp.ini)
    as its --ini and as libgmr's GMR_CONFIG: uWSGI takes its section,
    libgmr its own, and a touch gives one report per process, named after
    the app."""

    def test_one_file_for_uwsgi_and_libgmr(self):
        if not (UWSGI_BIN and os.path.exists(UWSGI_PLUGIN)):
            self.skipTest("uWSGI is not installed (Debian uwsgi-core, uwsgi-plugin-python3; %s)"
                          % DAEMONS)
        ini = os.path.join(DEPLOY, "uwsgi", "myapp.ini")
        settings = configparser.ConfigParser()
        settings.read(ini)
        service = settings["gmr"]["service_name"]
        env = drop_in_environment(os.path.join(DEPLOY, "uwsgi", "gmr.conf"),
                                  "uwsgi-app@myapp.service")
        self.assertEqual(env["GMR_CONFIG"], "/etc/uwsgi/apps-available/myapp.ini")
        # The file's log dir and trigger file are the machine's: the
        # environment, which wins over the file, gives the test's.
        trigger = os.path.join(self.tmp, "gmr")
        env = daemon_env(env, GMR_CONFIG=ini, GMR_LOG_DIR=self.log_dir, GMR_TRIGGER_FILE=trigger)
        port = free_port()
        host = Host([UWSGI_BIN, "--ini", ini, "--processes", "2", "--http-socket",
                     "127.0.0.1:%d" % port, "--wsgi-file", os.path.join(HOSTS, "app.py"),
                     "--die-on-term"], env, self.tmp, "uwsgi")
        self.addCleanup(host.kill)
        wait_port(port, host)
        self.assertTrue(http_get(port).startswith("200 "))
        workers = children(host.pid)
        self.assertEqual(len(workers), 2, host.logs()[-3000:])
        time.sleep(0.5)  # the workers' handlers in place
        with open(trigger, "w"):
            pass
        found = wait_reports_from(self.log_dir, {pid: 1 for pid in [host.pid] + workers})
        self.assertEqual(sorted(found), sorted([host.pid] + workers))
        for paths in found.values():
            self.assertTrue(os.path.basename(paths[0]).startswith(service + "_gurumeditation_"))
        report = parse_text(read(found[host.pid][0]))
        self.assertIn("config_file = " + ini, report["sections"]["Configuration"])
        status, pids, err = gmr_report_tree(host.pid)
        self.assertEqual((status, pids), (0, sorted([host.pid] + workers)), err)
        self.assertTrue(http_get(port).startswith("200 "))
        self.assertEqual(gmr_lines(host.logs()), [])
        os.kill(host.pid, signal.SIGTERM)
        self.assertEqual(host.wait(), 0, host.logs()[-3000:])


# ------------------------------------------------------------------- nginx

@unittest.skipIf(SANITIZE, NO_SANITIZER)
class NginxRecipe(GmrTestCase):
    """nginx with examples/deploy/nginx/gmr.conf's environment: the master
    as root, its workers as www-data, the log dir www-data's (0700). Each
    process writes its own report there, as its own user."""

    def test_workers_write_into_their_log_dir(self):
        why, www = daemon_missing(NGINX, "nginx (Debian nginx-light)",
                                  "nginx's workers change user only when the master runs as root",
                                  "www-data", "base-passwd")
        if why:
            self.skipTest(why)
        os.chmod(self.tmp, 0o711)  # the workers reach their log dir
        env = drop_in_environment(os.path.join(DEPLOY, "nginx", "gmr.conf"), "nginx.service")
        self.assertEqual(env["GMR_LOG_DIR"], "/var/log/nginx/gmr")
        log_dir = os.path.join(self.tmp, "log", "nginx", "gmr")
        os.makedirs(os.path.dirname(log_dir))
        owned_dir(log_dir, "www-data")
        run_dir = os.path.join(self.tmp, "run", "nginx")  # RuntimeDirectory=%N: root's
        os.makedirs(run_dir)
        trigger = os.path.join(run_dir, "gmr")
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(os.path.join(d, "html"))
        with open(os.path.join(d, "html", "index.html"), "w") as f:
            f.write("hello\n")
        os.chmod(d, 0o755)
        os.chmod(os.path.join(d, "html"), 0o755)
        os.chmod(os.path.join(d, "html", "index.html"), 0o644)
        port = free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("user www-data;\n" + NGINX_CONF.format(d=d, port=port))
        host = Host([NGINX, "-e", os.path.join(d, "error.log"), "-c", conf, "-p", d],
                    daemon_env(env, GMR_LOG_DIR=log_dir, GMR_TRIGGER_FILE=trigger), d, "nginx")
        self.addCleanup(host.kill)
        wait_port(port, host)
        self.assertEqual(http_get(port), "200 hello\n")
        deadline = time.monotonic() + 20
        while True:  # the workers are forked, then change user
            workers = children(host.pid)
            uids = {uid_of(pid) for pid in workers}
            if len(workers) == 2 and uids == {www}:
                break
            self.assertLess(time.monotonic(), deadline, (workers, uids))
            time.sleep(0.05)
        time.sleep(0.3)
        with open(trigger, "w"):
            pass
        wait_reports_from(log_dir, {pid: 1 for pid in [host.pid] + workers})
        self.assertEqual(report_files(log_dir),
                         dict([(host.pid, (0, 0o600))] + [(pid, (www, 0o600)) for pid in workers]))
        status, pids, err = gmr_report_tree(host.pid)
        self.assertEqual((status, pids), (0, sorted([host.pid] + workers)), err)
        self.assertEqual(children(host.pid), workers)
        self.assertEqual(http_get(port), "200 hello\n")
        self.assertEqual(gmr_lines(host.logs()), [])
        os.kill(host.pid, signal.SIGQUIT)
        host.wait()


# -------------------------------------------------------------- PostgreSQL

@unittest.skipIf(SANITIZE, NO_SANITIZER)
class PostgreSQLRecipe(GmrTestCase):
    """PostgreSQL started with the variables of
    examples/deploy/postgresql/environment, as pg_ctlcluster would start it
    (with those only): every process runs as postgres and writes its own
    report into postgres's log dir; gmr-report --tree asks them all."""

    def test_every_process_reports_into_postgres_log_dir(self):
        why, pg = daemon_missing(PG_BIN and PSQL, "PostgreSQL (Debian postgresql)",
                                 "running PostgreSQL as postgres needs root", "postgres",
                                 "postgresql")
        if why:
            self.skipTest(why)
        env = pg_environment(os.path.join(DEPLOY, "postgresql", "environment"))
        self.assertEqual(env["GMR_LOG_DIR"], "/var/log/postgresql/gmr")
        os.chmod(self.tmp, 0o711)
        d = os.path.join(self.tmp, "pg")
        owned_dir(d, "postgres")
        log_dir = os.path.join(self.tmp, "log", "postgresql", "gmr")
        os.makedirs(os.path.dirname(log_dir))
        owned_dir(log_dir, "postgres")
        run_dir = os.path.join(self.tmp, "run", "postgresql")  # postgres's, as on Debian
        os.makedirs(os.path.dirname(run_dir))
        owned_dir(run_dir, "postgres", 0o2775)
        data = os.path.join(d, "data")
        r = subprocess.run([os.path.join(PG_BIN, "initdb"), "-D", data, "-A", "trust", "-U",
                            "postgres", "--no-sync", "--no-instructions"], capture_output=True,
                           text=True, env=tool_env(), cwd=d, user="postgres", timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        port = free_port()
        # pg_ctlcluster's environment: the file's variables, and no others
        # but what finds the build's library and the test's paths.
        pg_env = dict(env, PATH="/usr/bin:/bin", LD_LIBRARY_PATH=os.path.abspath(BUILD),
                      GMR_LOG_DIR=log_dir, GMR_TRIGGER_FILE=os.path.join(run_dir, "gmr"))
        host = Host([os.path.join(PG_BIN, "postgres"), "-D", data, "-k", run_dir, "-p", port,
                     "-c", "listen_addresses=127.0.0.1"], pg_env, d, "postgres", user="postgres")
        self.addCleanup(host.kill)
        wait_port(port, host)
        # A backend that lives through the reports.
        session = subprocess.Popen([PSQL, "-h", run_dir, "-p", str(port), "-U", "postgres", "-Atc",
                                    "select pg_sleep(20)"], env=tool_env(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(session.kill)
        deadline = time.monotonic() + 30
        while not any("postgres postgres" in cmdline(p) for p in children(host.pid)):
            self.assertLess(time.monotonic(), deadline, [cmdline(p) for p in children(host.pid)])
            time.sleep(0.05)
        time.sleep(0.3)
        processes = [host.pid] + children(host.pid)
        self.assertEqual({uid_of(p) for p in processes}, {pg})
        touch_as("postgres", os.path.join(run_dir, "gmr"))
        found = wait_reports_from(log_dir, {pid: 1 for pid in processes})
        files = report_files(log_dir)
        self.assertEqual({files[p] for p in processes}, {(pg, 0o600)})
        status, pids, err = gmr_report_tree(host.pid)
        self.assertEqual(status, 0, err)
        self.assertEqual(sorted(set(processes) - set(pids)), [], err)
        self.assertEqual(gmr_lines(host.logs()), [])
        self.assertTrue(set(processes) <= set(found))
        session.kill()
        os.kill(host.pid, signal.SIGINT)
        host.wait()


# --------------------------------------------------------------- containers

def namespaces_missing():
    if not AS_ROOT:
        return "namespaces of the test's own need root"
    for tool in ("unshare", "nsenter"):
        if not shutil.which(tool):
            return "%s is not installed (Debian util-linux)" % tool
    r = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount", "--mount-proc", "true"],
                       capture_output=True, text=True)
    if r.returncode:
        return "unshare cannot make network, PID and mount namespaces here: " + r.stderr.strip()
    return None


@unittest.skipIf(SANITIZE, NO_SANITIZER)
class Container(GmrTestCase):
    """The demo daemon as a container's PID 1 (network, PID and mount
    namespaces of its own, the library bind-mounted in, as docker run -v
    does): gmr-report on the host does not reach it; gmr-report run in
    its namespaces (nsenter, which is what docker exec does) does."""

    def test_gmr_report_through_the_runtimes_exec(self):
        why = namespaces_missing()
        if why:
            self.skipTest(why)
        mounted = os.path.join(self.tmp, "opt-gmr", SONAME)  # -v lib:/opt/gmr/libgmr.so.0:ro
        os.makedirs(os.path.dirname(mounted))
        open(mounted, "w").close()
        script = ("mount --bind -o ro '{lib}' '{at}' && exec env LD_PRELOAD='{at}' '{demo}' "
                  "--lifetime 60".format(lib=os.path.realpath(os.path.join(BUILD, "libgmr.so")),
                                          at=mounted, demo=os.path.join(EXAMPLES, "demo")))
        argv = ["unshare", "--net", "--pid", "--fork", "--mount", "--mount-proc",
                "--propagation", "private", "sh", "-c", script]
        with Target(argv, env=tool_env()) as t:
            self.assertEqual(t.lines("ready"), ["ready 1"])  # PID 1, as in a container
            (pid,) = children(t.pid)
            time.sleep(0.3)
            r = subprocess.run([GMR_REPORT, str(pid)], env=tool_env(), capture_output=True,
                               text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0, r.stdout[:300])
            self.assertNotIn("Guru Meditation", r.stdout)
            r = subprocess.run(["nsenter", "-t", str(pid), "--net", "--pid", "--mount", "--",
                                GMR_REPORT, "1"], env=tool_env(), capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            report = parse_text(r.stdout)
            self.assertEqual((report["header"]["pid"], report["header"]["trigger"]),
                             ("1", "request"))
            self.assertIn("worker-1", [th["name"] for th in report["threads"]])
            self.assertTrue(any(mounted in line for line in report["sections"]["Shared Objects"]))


# ------------------------------------------------------- /etc/ld.so.preload

@unittest.skipIf(SANITIZE, NO_SANITIZER)
class LdSoPreload(GmrTestCase):
    """What examples/deploy/README.md says of /etc/ld.so.preload, shown in a
    mount namespace of the test's own where /etc is an overlay holding
    that file: every program loads libgmr without being asked, a setuid
    one too, which ignores LD_PRELOAD."""

    def test_every_program_loads_it_setuid_ones_too(self):
        why = namespaces_missing()
        if why:
            self.skipTest(why)
        if os.path.exists("/etc/ld.so.preload"):
            self.skipTest("this machine has an /etc/ld.so.preload of its own")
        lib = os.path.realpath(os.path.join(BUILD, "libgmr.so"))
        os.chmod(self.tmp, 0o711)
        upper, work = os.path.join(self.tmp, "upper"), os.path.join(self.tmp, "work")
        os.makedirs(upper)
        os.makedirs(work)
        with open(os.path.join(upper, "ld.so.preload"), "w") as f:
            f.write(lib + "\n")
        # A setuid-root program, run by nobody: secure execution.
        suid = os.path.join(self.tmp, "suid-sleep")
        shutil.copy("/bin/sleep", suid)
        os.chmod(suid, 0o4755)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]

        def maps_of(setup, argv, env):
            """Starts argv (after setup, in the namespace), returns its
            maps and whether it answers gmr-report."""
            script = setup + "exec " + " ".join("'%s'" % a for a in argv)
            p = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                  script], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 10
                while exe_of(p.pid) != os.path.realpath(shutil.which(argv[-2])):
                    self.assertLess(time.monotonic(), deadline, p.poll())
                    time.sleep(0.02)
                time.sleep(0.3)  # libgmr's watcher up
                with open("/proc/%d/maps" % p.pid) as f:
                    maps = f.read()
                r = subprocess.run([GMR_REPORT, str(p.pid)], env=tool_env(), capture_output=True,
                                   text=True, timeout=60)
                return maps, r.returncode == 0
            finally:
                p.kill()
                p.wait()

        overlay = ("mount -t overlay overlay -o lowerdir=/etc,upperdir='%s',workdir='%s' /etc && "
                   % (upper, work))
        plain = tool_env()
        maps, answers = maps_of(overlay, ["sleep", "30"], plain)
        self.assertIn(lib, maps)
        self.assertTrue(answers)
        maps, answers = maps_of(overlay, nobody + [suid, "30"], plain)
        self.assertIn(lib, maps)
        self.assertTrue(answers)
        # LD_PRELOAD alone does not reach the setuid program.
        maps, answers = maps_of("", nobody + [suid, "30"], dict(plain, LD_PRELOAD=lib))
        self.assertNotIn(lib, maps)
        self.assertFalse(answers)
        # Outside the namespace nothing changed.
        self.assertFalse(os.path.exists("/etc/ld.so.preload"))


if __name__ == "__main__":
    unittest.main()
