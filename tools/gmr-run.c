/*
 * gmr-run - run a command with libgmr preloaded, for CI: a report of every
 * thread's stack when it crashes or hangs. See gmr-run(1).
 *
 * Without --timeout it sets the environment and exec()s the command, so
 * the exit status, signals and all, is the command's own.
 *
 * With --timeout the deadline is the run's, not each process's: gmr-run
 * stays as the command's parent (and the subreaper of everything the
 * command starts, so orphans stay in the tree), passes on the signals a CI
 * runner sends, and at the deadline asks every process of the tree that
 * runs libgmr for a timeout report over its control channel (the report
 * is written where that process writes its reports). With --timeout-abort
 * it then kills the whole tree and ends as abort() would, status 134; no
 * process of the tree outlives the run to report or abort on its own. It
 * then ends as the command did: its exit status, or its signal.
 *
 * A program built with AddressSanitizer whose runtime is a shared library
 * (GCC's libasan) must have that runtime first in the initial library
 * list: gmr-run reads the command's DT_NEEDED and puts the runtime before
 * libgmr in LD_PRELOAD (set_preload()).
 */
#include "channel.h"
#include "proctree.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef GMR_LIBDIR
#define GMR_LIBDIR "/usr/local/lib"
#endif

#define MAX_PROCS   4096
#define REPORT_MS   60000 /* one process's timeout report */
#define COLLECT_MS  60000 /* all of them */
#define END_TREE_MS 5000

struct options {
    const char *library;
    long timeout_ms; /* 0: none */
    int timeout_abort;
    char **command;
};

static void usage(FILE *out)
{
    fputs("usage: gmr-run [options] [--] COMMAND [ARGS...]\n"
          "\n"
          "Runs COMMAND with libgmr.so preloaded. It writes a Guru Meditation Report\n"
          "(every thread's stack, and more) when the command crashes, when it runs\n"
          "longer than --timeout, on SIGUSR2, or when the trigger file is touched.\n"
          "\n"
          "options:\n"
          "  --log-dir DIR        write reports to files in DIR, not to stderr\n"
          "  --json               write reports as JSON\n"
          "  --timeout SECONDS    once the run has lasted this long, a report from every\n"
          "                       process of the command's tree that runs libgmr\n"
          "  --timeout-abort      then end the whole tree and exit as abort() would\n"
          "                       (status 134), so a hung step fails\n"
          "  --signal SIGNAL      the signal that asks for a report (default USR2; none)\n"
          "  --trigger-file FILE  touching FILE asks for a report\n"
          "  --no-crash           no report when the command crashes\n"
          "  --library PATH       the libgmr.so to preload\n"
          "  -h, --help           this help\n"
          "\n"
          "The exit status is the command's; 126 if it is not executable, 127 if it\n"
          "is not found, 2 for a bad option.\n",
          out);
}

/* "gmr-run: <what><arg>", a hint, and exit status 2. */
static void die_usage(const char *what, const char *arg)
{
    fprintf(stderr, "gmr-run: %s%s\ngmr-run: try 'gmr-run --help'\n", what, arg ? arg : "");
    exit(2);
}

/* ---- options ---- */

static long parse_seconds(const char *s)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0 && v <= 365.0 * 86400) || s[0] == '.' ||
        strspn(s, "0123456789.") != strlen(s))
        return -1;
    return (long)(v * 1000 + 0.5) ? (long)(v * 1000 + 0.5) : 1;
}

static const char *need(int argc, char **argv, int i, const char *what)
{
    if (i + 1 >= argc)
        die_usage(what, NULL);
    return argv[i + 1];
}

static void parse_options(int argc, char **argv, struct options *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--")) {
            i++;
            break;
        } else if (!strcmp(a, "--log-dir")) {
            setenv("GMR_LOG_DIR", need(argc, argv, i++, "--log-dir needs a directory"), 1);
        } else if (!strcmp(a, "--json")) {
            setenv("GMR_FORMAT", "json", 1);
        } else if (!strcmp(a, "--timeout")) {
            const char *v = need(argc, argv, i++, "--timeout needs a number of seconds");
            o->timeout_ms = parse_seconds(v);
            if (o->timeout_ms < 0)
                die_usage("--timeout: not a number of seconds: ", v);
        } else if (!strcmp(a, "--timeout-abort")) {
            o->timeout_abort = 1;
        } else if (!strcmp(a, "--signal")) {
            setenv("GMR_SIGNAL", need(argc, argv, i++, "--signal needs a signal name or number"),
                   1);
        } else if (!strcmp(a, "--trigger-file")) {
            setenv("GMR_TRIGGER_FILE", need(argc, argv, i++, "--trigger-file needs a path"), 1);
        } else if (!strcmp(a, "--no-crash")) {
            setenv("GMR_CRASH", "0", 1);
        } else if (!strcmp(a, "--library")) {
            o->library = need(argc, argv, i++, "--library needs a path");
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            die_usage("unknown option ", a);
        }
    }
    if (i >= argc)
        die_usage("no command given", NULL);
    o->command = argv + i;
}

/* ---- the library ---- */

static int is_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Beside this program (the build tree), in ../lib (and its multiarch
   directory) of where it is installed, or where make install put it. */
static int find_library(char *out, size_t len)
{
    static const char *const rel[] = {"/libgmr.so", "/../lib/libgmr.so",
                                      "/../lib/x86_64-linux-gnu/libgmr.so.0",
                                      "/../lib/x86_64-linux-gnu/libgmr.so"};
    char self[PATH_MAX], *slash;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    size_t i;

    if (n > 0) {
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
            snprintf(out, len, "%s%s", self, rel[i]);
            if (is_file(out) && realpath(out, self))
                return snprintf(out, len, "%s", self), 0;
        }
    }
    snprintf(out, len, "%s/libgmr.so", GMR_LIBDIR);
    return is_file(out) ? 0 : -1;
}

/*
 * libgmr judges the settings itself: what it would say to the command's
 * stderr (and then fall back to a default) is an error here, before the
 * command runs with settings other than those asked for. `true` is run
 * with the environment the command will have, LD_PRELOAD included.
 */
static void check_settings(void)
{
    char *argv[] = {"true", NULL}, line[1024];
    posix_spawn_file_actions_t fa;
    int pipefd[2], bad = 0, status;
    extern char **environ;
    FILE *err;
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC) < 0 || posix_spawn_file_actions_init(&fa) != 0)
        return;
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid, "true", &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    err = fdopen(pipefd[0], "r");
    while (err && fgets(line, sizeof(line), err))
        if (!strncmp(line, "gmr:", 4)) {
            fprintf(stderr, "gmr-run: %s", line);
            bad = 1;
        }
    if (err)
        fclose(err);
    else
        close(pipefd[0]);
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (bad) {
        fputs("gmr-run: try 'gmr-run --help'\n", stderr);
        exit(2);
    }
}

/* ---- a sanitizer's runtime first ---- */

/* The command as execvp would find it. */
static int resolve_command(const char *name, char *out, size_t len)
{
    const char *path = getenv("PATH"), *p;

    if (strchr(name, '/'))
        return snprintf(out, len, "%s", name), 0;
    for (p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");

        snprintf(out, len, "%.*s/%s", (int)n, n ? p : ".", name);
        if (access(out, X_OK) == 0 && is_file(out))
            return 0;
        p += n + (p[n] == ':');
    }
    return -1;
}

static int read_at(FILE *f, long off, void *buf, size_t len)
{
    return fseek(f, off, SEEK_SET) == 0 && fread(buf, 1, len, f) == len ? 0 : -1;
}

/* The file offset of a virtual address, through the PT_LOAD that maps it. */
static long file_offset(const Elf64_Phdr *ph, int n, Elf64_Addr addr)
{
    int i;

    for (i = 0; i < n; i++)
        if (ph[i].p_type == PT_LOAD && addr >= ph[i].p_vaddr &&
            addr - ph[i].p_vaddr < ph[i].p_filesz)
            return (long)(ph[i].p_offset + (addr - ph[i].p_vaddr));
    return -1;
}

/* Only AddressSanitizer insists on coming first ("ASan runtime does not
   come first in initial library list"). UBSan's and TSan's runtimes work
   after libgmr, and TSan's crashes placed before it (seen with GCC 12). */
static int is_sanitizer_runtime(const char *soname)
{
    return !strncmp(soname, "libasan.so", 10);
}

/* The soname of a sanitizer runtime the ELF file needs, in out; -1 if none. */
static int needed_sanitizer(FILE *f, char *out, size_t len)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph[64];
    Elf64_Dyn dyn[512];
    long dyn_off = -1, str_off = -1;
    size_t ndyn = 0, i;
    int n, found = -1;

    if (read_at(f, 0, &eh, sizeof(eh)) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phnum > 64 || read_at(f, (long)eh.e_phoff, ph, eh.e_phnum * sizeof(*ph)) < 0)
        return -1;
    n = eh.e_phnum;
    for (i = 0; i < (size_t)n; i++)
        if (ph[i].p_type == PT_DYNAMIC) {
            dyn_off = (long)ph[i].p_offset;
            ndyn = ph[i].p_filesz / sizeof(Elf64_Dyn);
        }
    if (dyn_off < 0 || !ndyn)
        return -1;
    ndyn = ndyn < 512 ? ndyn : 512;
    if (read_at(f, dyn_off, dyn, ndyn * sizeof(*dyn)) < 0)
        return -1;
    for (i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++)
        if (dyn[i].d_tag == DT_STRTAB)
            str_off = file_offset(ph, n, dyn[i].d_un.d_ptr);
    for (i = 0; str_off >= 0 && i < ndyn && dyn[i].d_tag != DT_NULL && found < 0; i++) {
        char name[128] = "";

        if (dyn[i].d_tag != DT_NEEDED ||
            fseek(f, str_off + (long)dyn[i].d_un.d_val, SEEK_SET) != 0 ||
            !fgets(name, sizeof(name), f))
            continue;
        name[strnlen(name, sizeof(name) - 1)] = '\0';
        if (is_sanitizer_runtime(name))
            found = snprintf(out, len, "%s", name) > 0 ? 0 : -1;
    }
    return found;
}

/* The sanitizer runtime the ELF file at path needs, in out ("" if none). */
static void runtime_of(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "re");

    out[0] = '\0';
    if (!f)
        return;
    if (needed_sanitizer(f, out, len) < 0)
        out[0] = '\0';
    fclose(f);
}

/* [the runtime the command needs, or libgmr itself when it was built with
   ASan (the project's own sanitizer tests)]:libgmr:[what was there] */
static void set_preload(const char *library, const char *command)
{
    char path[PATH_MAX], runtime[128] = "", *value;
    const char *old = getenv("LD_PRELOAD");

    if (resolve_command(command, path, sizeof(path)) == 0)
        runtime_of(path, runtime, sizeof(runtime));
    if (!runtime[0])
        runtime_of(library, runtime, sizeof(runtime));
    if (old && runtime[0] && strstr(old, runtime))
        runtime[0] = '\0'; /* already preloaded, first or not: the user's choice */
    if (asprintf(&value, "%s%s%s%s%s", runtime, runtime[0] ? ":" : "", library,
                 old && *old ? ":" : "", old ? old : "") < 0)
        exit(1);
    setenv("LD_PRELOAD", value, 1);
    free(value);
}

/* ---- the run ---- */

static void exec_command(char **command)
{
    execvp(command[0], command);
    fprintf(stderr, "gmr-run: %s: %s\n", command[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

/* Ends gmr-run by signal sig, without a core of its own. */
static void die_by(int sig)
{
    struct rlimit none = {0, 0};
    sigset_t all;

    setrlimit(RLIMIT_CORE, &none);
    signal(sig, SIG_DFL);
    sigfillset(&all);
    sigdelset(&all, sig);
    sigprocmask(SIG_SETMASK, &all, NULL);
    raise(sig);
    exit(128 + sig);
}

/* Ends gmr-run as the command ended: its exit status, or its signal. */
static void end_as(int status)
{
    if (WIFEXITED(status))
        exit(WEXITSTATUS(status));
    die_by(WTERMSIG(status));
}

/* Every process of the tree: gmr-run is the subreaper, so the tree is
   gmr-run's descendants. */
static size_t tree_now(pid_t *pids, size_t max)
{
    size_t n = proc_tree(getpid(), pids, max);

    if (n)
        memmove(pids, pids + 1, --n * sizeof(*pids)); /* not gmr-run itself */
    return n;
}

/*
 * One process's timeout report. A process that exec()s as it is asked
 * closes the connection without a word (its watcher goes with the old
 * image): the new image is asked again, once it listens.
 */
static enum channel_result ask_timeout_report(pid_t pid, long long until, char **answer,
                                              size_t *len, char *why, size_t why_len)
{
    struct timespec pause = {0, 50 * 1000000};
    enum channel_result r;
    int tries = 0;

    for (;;) {
        long long left = until - channel_now_ms();

        r = channel_ask(pid, "report timeout",
                        left > REPORT_MS ? REPORT_MS
                        : left > 1       ? (int)left
                                         : 1,
                        answer, len, why, why_len);
        if (r != CHANNEL_OK || *len || ++tries > 3)
            return r;
        free(*answer);
        nanosleep(&pause, NULL);
    }
}

/* Every libgmr process of the tree, one after the other, within
   COLLECT_MS in all: a stopped or stuck one cannot hold the run for long. */
static void collect_reports(long timeout_ms)
{
    static pid_t pids[MAX_PROCS];
    size_t n = tree_now(pids, MAX_PROCS), i, asked = 0, reached = 0;
    long long until = channel_now_ms() + COLLECT_MS;

    fprintf(stderr,
            "gmr-run: the run has lasted %g s (--timeout); a report from each process "
            "that runs libgmr\n",
            timeout_ms / 1000.0);
    for (i = 0; i < n; i++) {
        char why[320], name[64], *answer;
        enum channel_result r;
        size_t len;

        if (channel_now_ms() >= until) {
            fprintf(stderr, "gmr-run: no time left to ask the other %zu processes\n", n - i);
            break;
        }
        r = ask_timeout_report(pids[i], until, &answer, &len, why, sizeof(why));
        proc_name(pids[i], name, sizeof(name));
        reached += r != CHANNEL_NONE;
        if (r != CHANNEL_OK && !proc_exists(pids[i])) {
            free(answer);
            continue; /* gone since the walk: nothing to ask */
        }
        if (r == CHANNEL_OK && !strncmp(answer, "ok", 2)) {
            answer[strcspn(answer, "\n")] = '\0';
            fprintf(stderr, "gmr-run: pid %d (%s): report written to %s\n", (int)pids[i], name,
                    answer[2] ? answer + 3 : "?");
            asked++;
        } else if (r == CHANNEL_OK) {
            fprintf(stderr, "gmr-run: pid %d (%s): %.*s\n", (int)pids[i], name,
                    (int)strcspn(answer, "\n"), answer);
        } else if (r != CHANNEL_NONE) {
            fprintf(stderr, "gmr-run: pid %d (%s): %s\n", (int)pids[i], name, why);
        }
        free(answer);
    }
    if (!reached)
        fputs("gmr-run: no process of the tree runs libgmr: no report\n", stderr);
    else if (!asked)
        fputs("gmr-run: no process of the tree could write a report\n", stderr);
}

/*
 * SIGKILL for a process of the tree, through a pidfd opened before we
 * check that the pid is still ours: a process seen in the scan may have
 * been reaped by its parent since and its pid reused by a stranger, and a
 * pidfd never reaches a process that reused its pid. (Without pidfds, a
 * kernel older than 5.3: the check, then kill.)
 */
static void kill_member(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);

    if (!proc_descends_from(pid, getpid())) {
        if (fd >= 0)
            close(fd);
        return;
    }
    if (fd < 0) {
        kill(pid, SIGKILL);
        return;
    }
    syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
    close(fd);
}

/* SIGKILL for every process of the tree, until none is left (bounded). */
static void end_tree(void)
{
    static pid_t pids[MAX_PROCS];
    long long deadline = channel_now_ms() + END_TREE_MS;
    struct timespec pause = {0, 10 * 1000000};
    size_t n, i;

    while ((n = tree_now(pids, MAX_PROCS)) && channel_now_ms() < deadline) {
        for (i = 0; i < n; i++)
            kill_member(pids[i]);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        nanosleep(&pause, NULL);
    }
}

static const int passed_on[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};

static void supervise(const struct options *o)
{
    long long deadline = channel_now_ms() + o->timeout_ms;
    sighandler_t old_chld;
    sigset_t set, old;
    pid_t child;
    size_t i;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    for (i = 0; i < sizeof(passed_on) / sizeof(passed_on[0]); i++)
        sigaddset(&set, passed_on[i]);
    sigprocmask(SIG_BLOCK, &set, &old);
    /* Ignored SIGCHLD (inherited from whoever started us) would have the
       kernel reap the command unseen: gmr-run would wait for ever. */
    old_chld = signal(SIGCHLD, SIG_DFL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    child = fork();
    if (child < 0) {
        perror("gmr-run: fork");
        exit(1);
    }
    if (child == 0) {
        prctl(PR_SET_CHILD_SUBREAPER, 0);
        signal(SIGCHLD, old_chld); /* the command's as it would have been */
        sigprocmask(SIG_SETMASK, &old, NULL);
        exec_command(o->command);
    }
    for (;;) {
        long long left = deadline ? deadline - channel_now_ms() : 3600 * 1000LL;
        struct timespec wait = {0, 0};
        siginfo_t si;
        int sig, status;
        pid_t p;

        if (left > 0) {
            wait.tv_sec = left / 1000;
            wait.tv_nsec = left % 1000 * 1000000;
        }
        sig = left > 0 ? sigtimedwait(&set, &si, &wait) : -1;
        if (sig < 0 && errno == EINTR)
            continue;
        if (sig < 0 && deadline && channel_now_ms() >= deadline) {
            deadline = 0;
            collect_reports(o->timeout_ms);
            if (o->timeout_abort) {
                end_tree();
                fputs("gmr-run: ended the command and every process it started "
                      "(--timeout-abort)\n",
                      stderr);
                die_by(SIGABRT);
            }
            continue;
        }
        if (sig == SIGCHLD) {
            while ((p = waitpid(-1, &status, WNOHANG)) > 0)
                if (p == child)
                    end_as(status);
        } else if (sig > 0 && si.si_code != SI_KERNEL) {
            /* SI_KERNEL: typed at the terminal, so the whole foreground
               group, the command too, has it already. */
            if (kill(child, sig) < 0 && errno == ESRCH && waitpid(child, &status, WNOHANG) == child)
                end_as(status);
        }
    }
}

int main(int argc, char **argv)
{
    struct options o;
    char library[PATH_MAX];

    parse_options(argc, argv, &o);
    if (o.library) {
        if (!is_file(o.library))
            die_usage("no such library: ", o.library);
        if (!realpath(o.library, library))
            die_usage("no such library: ", o.library);
    } else if (find_library(library, sizeof(library)) < 0) {
        die_usage("cannot find libgmr.so (use --library)", NULL);
    }
    /* The deadline is gmr-run's: no process of the tree keeps one of its
       own from the environment gmr-run was given. */
    unsetenv("GMR_TIMEOUT");
    unsetenv("GMR_TIMEOUT_ABORT");
    set_preload(library, o.command[0]);
    check_settings();
    if (!o.timeout_ms)
        exec_command(o.command);
    supervise(&o);
    return 1;
}
