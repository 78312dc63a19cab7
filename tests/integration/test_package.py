"""The Debian package and the ABI (issue 18).

Exports: the library exports gmr.h's functions and the LD_PRELOAD glue's
wrappers of libc, nothing else, under the soname libgmr.so.0; the version
script and the package's symbols file list the same. Package: `make deb`
builds the packages, lintian finds nothing at its default level, and
installed into this machine they work: a daemon preloads the library by
its soname, the installed gmr-report asks it for its report, the installed
gmr-run finds the library, a program builds against libgmr-dev; purged,
nothing of them is left. The packages are built once for the class.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

from gmrtest import (BUILD, EXAMPLES, LIB, ROOT, SANITIZE, GmrTestCase, Target, parse_text, read,
                     wait_reports)

SONAME = "libgmr.so.0"
MULTIARCH_LIBDIR = "/usr/lib/x86_64-linux-gnu"
PACKAGES = ["libgmr0", "libgmr-dev", "gmr-tools"]
INSTALL = "scripts/install-deps --package"

# Exported on purpose though not in gmr.h: the LD_PRELOAD glue's wrappers of
# libc functions (preload/sigaction.c, threads.c, setxid.c). A program's
# calls reach them before libc's only because they are exported, and
# unversioned (src/libgmr.map says why).
INTERPOSERS = {
    "sigaction", "__sigaction", "signal", "bsd_signal", "ssignal", "sysv_signal", "__sysv_signal",
    "sigset", "sigignore", "siginterrupt",
    "pthread_create",
    "setuid", "setgid", "seteuid", "setegid", "setreuid", "setregid", "setresuid", "setresgid",
    "setgroups",
}


# A program that uses gmr.h for real (not weakly, as examples/api.c does):
# linked with -lgmr, it needs libgmr.so.0.
USES_API = r"""
#include <gmr.h>
#include <stdio.h>

static void emit(struct gmr_emitter *e, void *arg)
{
    (void)arg;
    gmr_emit_str(e, "built", "against libgmr-dev");
}

int main(void)
{
    if (gmr_register_section("Package Test", emit, NULL) < 0 || gmr_report("linked") != 0)
        return 1;
    puts("written");
    return 0;
}
"""


def source(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


def header_functions():
    """The functions include/gmr.h declares public (GMR_API)."""
    text = re.sub(r"/\*.*?\*/", "", source("include", "gmr.h"), flags=re.S)
    return set(re.findall(r"^GMR_API\b[^;{]*?\b(\w+)\s*\(", text, re.M))


def version_script_symbols():
    """The names src/libgmr.map makes global."""
    text = re.sub(r"/\*.*?\*/", "", source("src", "libgmr.map"), flags=re.S)
    m = re.search(r"global:(.*?)local:", text, re.S)
    return {name.strip() for name in m.group(1).split(";") if name.strip()}


def symbols_file_symbols():
    """The names debian/libgmr0.symbols records."""
    return set(re.findall(r"^ (\S+)@Base ", source("debian", "libgmr0.symbols"), re.M))


def exported(lib):
    """The dynamic symbols lib defines, as nm prints them (a versioned one
    as name@@VERSION: it would then not match a bare name)."""
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if len(line.split()) == 3}


def soname(lib):
    out = subprocess.run(["readelf", "-d", lib], capture_output=True, text=True, check=True).stdout
    m = re.search(r"\(SONAME\)\s+Library soname: \[(.*)\]", out)
    return m and m.group(1)


def gmr_version():
    return re.search(r'#define GMR_VERSION "(.*)"', source("include", "gmr.h")).group(1)


class Exports(unittest.TestCase):
    def test_exports_are_the_api_and_the_glue_only(self):
        api = header_functions()
        # The parse sees the header, or the comparison proves nothing.
        self.assertTrue({"gmr_report", "gmr_register_section", "gmr_emit_str"} <= api, api)
        got = exported(LIB)
        self.assertEqual(sorted(got - api - INTERPOSERS), [], "%s exports internal symbols" % LIB)
        self.assertEqual(sorted(api - got), [], "%s does not export gmr.h's functions" % LIB)
        self.assertEqual(sorted(INTERPOSERS - got), [], "%s does not export its wrappers" % LIB)

    def test_version_script_and_symbols_file_agree_with_the_header(self):
        want = header_functions() | INTERPOSERS
        self.assertEqual(sorted(version_script_symbols() ^ want), [], "src/libgmr.map")
        self.assertEqual(sorted(symbols_file_symbols() ^ want), [], "debian/libgmr0.symbols")

    def test_soname_and_its_link_in_the_build(self):
        self.assertEqual(soname(LIB), SONAME)
        link = os.path.join(BUILD, SONAME)
        self.assertEqual(os.path.realpath(link), os.path.realpath(os.path.join(BUILD, "libgmr.so")))
        control = source("debian", "control")
        self.assertIn("\nPackage: libgmr0\n", control, "the package's name follows the soname")
        self.assertIn("libgmr.so.0 libgmr0 ", source("debian", "libgmr0.symbols"))

    def test_versions_agree(self):
        version = gmr_version()
        changelog = re.match(r"libgmr \(([^)-]+)(?:-[^)]*)?\) ", source("debian", "changelog"))
        self.assertEqual(changelog and changelog.group(1), version, "debian/changelog")
        self.assertIn("\nVersion: %s\n" % version, source("scripts", "gmr.pc.in"))
        self.assertIn('"libgmr %s"' % version, source("man", "gmr.7").splitlines()[0])


def package_tools_missing():
    for tool, package in [("dpkg-buildpackage", "dpkg-dev"), ("dh", "debhelper"),
                          ("lintian", "lintian")]:
        if not shutil.which(tool):
            return "%s is not installed (Debian %s; %s)" % (tool, package, INSTALL)
    if os.geteuid() != 0:
        return "installing the package (dpkg -i) needs root"
    if SANITIZE:
        return "the package is built without sanitizers: the plain make check tests it"
    return None


def plain_env(**extra):
    """No libgmr, no GMR_ settings, and none of make's variables (make
    check SANITIZE=... must not reach the package's build)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GMR_") and k not in ("LD_PRELOAD", "MAKEFLAGS", "MFLAGS",
                                                      "MAKELEVEL", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    env.update(extra)
    return env


def dpkg(*args):
    """dpkg, waiting (a minute at most) for a lock another dpkg holds."""
    deadline = time.monotonic() + 60
    while True:
        r = subprocess.run(["dpkg"] + list(args), capture_output=True, text=True, timeout=300)
        if r.returncode == 0 or "lock" not in r.stderr or time.monotonic() > deadline:
            return r
        time.sleep(1)


def installed(package):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", package], capture_output=True,
                       text=True)
    return r.stdout.endswith(" installed")


class Package(GmrTestCase):
    @classmethod
    def setUpClass(cls):
        why = package_tools_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.version = gmr_version()
        start = time.monotonic()
        # nocheck: make check runs the unit tests that the package's build
        # would run again.
        r = subprocess.run(["make", "-s", "deb"], cwd=ROOT, env=plain_env(DEB_BUILD_OPTIONS="nocheck"),
                           capture_output=True, text=True, timeout=1200)
        if r.returncode != 0:
            raise AssertionError("make deb failed:\n" + (r.stdout + r.stderr)[-6000:])
        sys.stderr.write("\n    make deb: %.1f s\n" % (time.monotonic() - start))
        cls.debs = {}
        for package in PACKAGES:
            path = os.path.join(ROOT, "build", "%s_%s_amd64.deb" % (package, cls.version))
            if not os.path.exists(path):
                raise AssertionError("make deb left no %s; it said:\n%s" % (path, r.stdout[-3000:]))
            cls.debs[package] = path
        cls.changes = os.path.join(ROOT, "build", "libgmr_%s_amd64.changes" % cls.version)

    def contents(self, package):
        out = subprocess.run(["dpkg-deb", "-c", self.debs[package]], capture_output=True,
                             text=True, check=True).stdout
        # "lrwxrwxrwx root/root 0 date time ./usr/lib/.../libgmr.so -> libgmr.so.0"
        return {line.split(None, 5)[5].lstrip("."): line[0] for line in out.splitlines()}

    def test_lintian_finds_nothing(self):
        r = subprocess.run(["lintian", "--fail-on", "error,warning", self.changes],
                           capture_output=True, text=True, timeout=600)
        tags = [line for line in r.stdout.splitlines() if re.match(r"^[EW]: ", line)]
        self.assertEqual((r.returncode, tags), (0, []), r.stdout + r.stderr)

    def test_what_each_package_holds(self):
        lib = MULTIARCH_LIBDIR + "/" + SONAME
        self.assertEqual(self.contents("libgmr0").get(lib), "-")
        dev = self.contents("libgmr-dev")
        self.assertEqual(dev.get(MULTIARCH_LIBDIR + "/libgmr.so -> libgmr.so.0"), "l")
        for path in ["/usr/include/gmr.h", MULTIARCH_LIBDIR + "/pkgconfig/gmr.pc",
                     "/usr/share/man/man3/gmr.h.3.gz"]:
            self.assertIn(path, dev)
        tools = self.contents("gmr-tools")
        for path in ["/usr/bin/gmr-run", "/usr/bin/gmr-report", "/usr/share/man/man1/gmr-run.1.gz",
                     "/usr/share/man/man1/gmr-report.1.gz", "/usr/share/man/man7/gmr.7.gz",
                     "/usr/share/doc/gmr-tools/examples/deploy/README.md"]:
            self.assertIn(path, tools)
        for package in PACKAGES:
            self.assertIn("/usr/share/doc/%s/copyright" % package, self.contents(package))
        # The library in the package: its soname, and the same exports.
        tree = os.path.join(self.tmp, "libgmr0")
        subprocess.run(["dpkg-deb", "-x", self.debs["libgmr0"], tree], check=True)
        self.assertEqual(soname(tree + lib), SONAME)
        self.assertEqual(exported(tree + lib), exported(LIB))

    def test_installed_it_reports_and_purged_it_is_gone(self):
        self.addCleanup(dpkg, "--purge", *PACKAGES)
        # A package an earlier run left installed is replaced, then purged.
        r = dpkg("-i", *[self.debs[p] for p in PACKAGES])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lib = os.path.join(MULTIARCH_LIBDIR, SONAME)

        # The demo daemon, preloading the library by its soname alone.
        env = plain_env(LD_PRELOAD=SONAME, GMR_LOG_DIR=self.log_dir)
        with Target([os.path.join(EXAMPLES, "demo"), "--lifetime", "60"], env=env) as t:
            time.sleep(0.3)  # the workers park
            with open("/proc/%d/maps" % t.pid) as f:
                maps = f.read()
            libgmrs = {line.split()[-1] for line in maps.splitlines() if "libgmr" in line}
            self.assertEqual(libgmrs, {lib})
            r = subprocess.run(["/usr/bin/gmr-report", str(t.pid)], env=plain_env(),
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            report = parse_text(r.stdout)
            self.assertEqual(report["header"]["trigger"], "request")
            self.assertEqual(report["header"]["libgmr"], self.version)
            names = {th["name"]: th for th in report["threads"]}
            for name in ["demo", "worker-1", "worker-2", "worker-3", "dispatcher", "flusher",
                         "checksum"]:
                self.assertIn(name, names)
            frames = [f["function"] for f in names["worker-1"]["frames"]]
            self.assertIn("worker", frames)
            self.assertIn("pthread_cond_wait@@GLIBC_2.3.2", frames)
            self.assertTrue(any(lib in line for line in report["sections"]["Shared Objects"]))
            # And the signal, into the log dir.
            t.signal(signal.SIGUSR2)
            (path,) = wait_reports(self.log_dir, 1)
            self.assertEqual(parse_text(read(path))["header"]["trigger"], "signal")

        # The installed gmr-run finds the installed library by itself.
        r = subprocess.run(["/usr/bin/gmr-run", "--", "sh", "-c", 'echo "$LD_PRELOAD"'],
                           env=plain_env(), capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, lib), r.stderr)

        # A program built against libgmr-dev (gmr.h, pkg-config, -lgmr):
        # it needs the soname, and runs libgmr without LD_PRELOAD.
        prog = os.path.join(self.tmp, "uses_api.c")
        with open(prog, "w") as f:
            f.write(USES_API)
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "gmr"], capture_output=True,
                               text=True, check=True).stdout.split()
        exe = os.path.join(self.tmp, "uses_api")
        r = subprocess.run(["cc", "-Wall", "-Werror", "-o", exe, prog] + flags,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        needed = subprocess.run(["readelf", "-d", exe], capture_output=True, text=True).stdout
        self.assertIn("Shared library: [%s]" % SONAME, needed)
        r = subprocess.run([exe], env=plain_env(GMR_LOG_DIR=self.log_dir), capture_output=True,
                           text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout), (0, "written\n"), r.stderr)
        (path,) = [p for p in wait_reports(self.log_dir, 2) if "/uses_api_" in p]
        report = parse_text(read(path))
        self.assertEqual(report["header"]["trigger"], "api")
        self.assertIn("built = against libgmr-dev", report["sections"]["Package Test"])

        # Purged: no file, no package, no ld.so cache entry.
        r = dpkg("--purge", *PACKAGES)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual([p for p in PACKAGES if installed(p)], [])
        for path in [lib, MULTIARCH_LIBDIR + "/libgmr.so", "/usr/include/gmr.h", "/usr/bin/gmr-run",
                     "/usr/bin/gmr-report", "/usr/share/doc/gmr-tools"]:
            self.assertFalse(os.path.lexists(path), path)
        cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        self.assertNotIn(SONAME, cache)


if __name__ == "__main__":
    unittest.main()
