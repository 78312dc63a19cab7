/*
 * preload.c - the LD_PRELOAD glue: what runs when libgmr.so is loaded.
 *
 * The constructor reads the configuration (GMR_CONFIG file, then GMR_*
 * variables, which win), installs the capture and trigger handlers and
 * starts the watcher thread. It does nothing heavy: no libunwind, no
 * elfutils, no symbol tables - those wait on the watcher. A bad setting
 * costs one gmr: line and its default; the host always starts.
 *
 * In secure-execution mode (setuid/setgid hosts, AT_SECURE) every GMR_*
 * variable and GMR_CONFIG are ignored: the defaults apply.
 */
#include "preload.h"

#include "signal/altstack.h"
#include "../src/api.h"
#include "base/config.h"
#include "symbols/deps.h"
#include "base/fdtable.h"
#include "signal/crash_handler.h"
#include "signal/handlers.h"
#include "base/log.h"
#include "signal/sigchain.h"
#include "trigger/signals.h"
#include "base/startup.h"
#include "../src/watcher.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (1024 * 1024)

static struct gmr_config config;
static GMR_STARTUP char service[128];

/* A garbage file must not flood the host's stderr: the first few
   problems are shown, the rest counted. */
#define CONFIG_WARNINGS_SHOWN 10

static void warn_line(void *ctx, const char *msg)
{
    int *count = ctx;

    if ((*count)++ < CONFIG_WARNINGS_SHOWN)
        log_msg("%s", msg);
}

static void warn_rest(const char *where, int count)
{
    if (count > CONFIG_WARNINGS_SHOWN)
        log_msg("%s: %d more problems not shown", where, count - CONFIG_WARNINGS_SHOWN);
}

/* A FIFO or a device named by mistake must not block or hang the host's
   start: the file is opened without blocking and read only if regular. */
static ssize_t read_regular(const char *path, char *text, size_t cap)
{
    struct stat st;
    ssize_t n = 0, got = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0) {
        got = -1;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : ENODEV;
        got = -1;
        goto out;
    }
    while ((size_t)got < cap && (n = read(fd, text + got, cap - (size_t)got)) > 0)
        got += n;
    if (n < 0 && got == 0)
        got = -1;
out:
    close(fd);
    return got;
}

static void read_config_file(const char *path)
{
    char *text = malloc(CONFIG_FILE_MAX), where[PATH_MAX + 16];
    int warnings = 0;
    ssize_t n;

    snprintf(config.config_file, sizeof(config.config_file), "%s", path);
    n = text ? read_regular(path, text, CONFIG_FILE_MAX) : -1;
    if (n < 0) {
        log_msg("GMR_CONFIG=%s: cannot read it (%s); using the environment and defaults", path,
                errno == ENODEV ? "not a regular file" : strerror(errno));
        free(text);
        return;
    }
    if (n == CONFIG_FILE_MAX)
        log_msg("GMR_CONFIG=%s: larger than 1 MiB; only the first MiB is read", path);
    config_apply_ini(&config, path, text, (size_t)n, warn_line, &warnings);
    snprintf(where, sizeof(where), "GMR_CONFIG=%s", path);
    warn_rest(where, warnings);
    free(text);
}

static void load_config(char **envp)
{
    const char *file = getenv("GMR_CONFIG");
    char cwd[PATH_MAX];
    int env_warnings = 0, check_warnings = 0;

    config_defaults(&config);
    if (getauxval(AT_SECURE))
        return;
    if (file && file[0])
        read_config_file(file);
    config_apply_env(&config, envp, warn_line, &env_warnings);
    warn_rest("environment", env_warnings);
    config_check(&config, warn_line, &check_warnings);
    if ((config_given(&config, CFG_TRIGGER_FILE) || config_given(&config, CFG_LOG_DIR)) &&
        getcwd(cwd, sizeof(cwd)))
        config_absolutize(&config, cwd);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* The program's name as started: argv[0], so that a daemon run through a
   symlink (redis-server -> redis-check-rdb) keeps the name it was given. */
static void set_service(const char *name)
{
    size_t n = strnlen(name, sizeof(service) - 1);

    memcpy(service, name, n);
    service[n] = '\0';
}

static void pick_service(int argc, char **argv)
{
    char exe[PATH_MAX];
    ssize_t n;

    if (config.service_name[0]) {
        set_service(config.service_name);
        return;
    }
    if (argc > 0 && argv && argv[0] && base_name(argv[0])[0]) {
        set_service(base_name(argv[0]));
        return;
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    set_service(n > 0 ? base_name(exe) : "process");
}

/* GMR_INHERIT=0: take ourselves out of LD_PRELOAD so children run bare. */
static void drop_from_preload(void)
{
    const char *preload = getenv("LD_PRELOAD"), *me;
    char out[4096], item[PATH_MAX];
    size_t len = 0;
    Dl_info info;

    if (!preload || !dladdr((void *)drop_from_preload, &info) || !info.dli_fname)
        return;
    me = base_name(info.dli_fname);
    while (*preload) {
        size_t n = strcspn(preload, ": ");
        if (n && n < sizeof(item)) {
            memcpy(item, preload, n);
            item[n] = '\0';
            if (strcmp(base_name(item), me) && len + n + 2 < sizeof(out)) {
                if (len)
                    out[len++] = ':';
                memcpy(out + len, item, n);
                len += n;
            }
        }
        preload += n;
        preload += strspn(preload, ": ");
    }
    out[len] = '\0';
    if (len)
        setenv("LD_PRELOAD", out, 1);
    else
        unsetenv("LD_PRELOAD");
}

/*
 * GMR_TIMEOUT's clock is this process's: a child that exec()s would start
 * one of its own and, hung under a hung parent, report and abort on its
 * own long after the run it belonged to (gmr-run --timeout owns the
 * deadline of a whole tree). A child that should have a clock of its own
 * is given GMR_TIMEOUT in its own environment.
 */
static void keep_timeout_to_ourselves(void)
{
    if (getenv("GMR_TIMEOUT")) /* (unsetenv's page is a fault a process without it saves) */
        unsetenv("GMR_TIMEOUT");
    if (getenv("GMR_TIMEOUT_ABORT"))
        unsetenv("GMR_TIMEOUT_ABORT");
}

/* fork() waits for a load of libunwind or elfutils under way, and for a
   change to a signal's view, to end. */
static void before_fork(void)
{
    deps_fork_prepare();
    sigchain_fork_prepare();
}

static void after_fork_parent(void)
{
    sigchain_fork_parent();
    deps_fork_parent();
}

/* fork() without exec: the child gets its own, fresh watcher. */
static void after_fork_child(void)
{
    sigchain_fork_child();
    fdtable_after_fork();
    signals_after_fork();
    api_after_fork();
    watcher_after_fork();
}

__attribute__((constructor)) static void gmr_init(int argc, char **argv, char **envp)
{
    int capture;

    preload_resolve_signal_calls(); /* before the host's first sigaction can reach ours */
    load_config(envp);
    pick_service(argc, argv);
    if (!config.inherit)
        drop_from_preload();
    keep_timeout_to_ourselves();
    handler_set_process(getpid(), service);
    /* A crashing thread waits this long for the watcher's full report. */
    crash_set_wait_ms((int)config.capture_timeout_ms + 10000);
    if (config.crash) {
        preload_altstacks = 1;
        altstack_install();
        signals_install_crash();
        preload_watch_sanitizer();
    }
    capture = signals_install_capture(config.capture_signal, config.signal);
    handler_set_signals(capture, 0);
    /* Both wake signals are in place before the watcher first sleeps: its
       sleep lets through only the ones that are ours by then. */
    if (config.signal && config.signal == capture)
        log_msg(
            "GMR_SIGNAL and GMR_CAPTURE_SIGNAL name the same signal; the signal trigger is off");
    else if (config.signal &&
             signals_install_trigger(config.signal, config_given(&config, CFG_TRIGGER_FILE)) == 0)
        handler_set_signals(capture, config.signal);
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    watcher_start(&config, service, capture); /* if it fails, a trigger says so */
}
