/*
 * config.h - libgmr's settings: their defaults, how text becomes a value,
 * and where each value came from.
 *
 * Pure parsing, no I/O: the caller reads the environment and the ini file
 * and hands their text in. Every rejected value produces one message
 * through `warn` and leaves the previous value (default or file) in place,
 * so bad input never stops the host. This file is unit-tested and fuzzed.
 */
#ifndef GMR_CONFIG_H
#define GMR_CONFIG_H

#include <limits.h>
#include <stddef.h>

enum cfg_key {
    CFG_SIGNAL,
    CFG_TRIGGER_FILE,
    CFG_TRIGGER_INTERVAL,
    CFG_LOG_DIR,
    CFG_SERVICE_NAME,
    CFG_FORMAT,
    CFG_CRASH,
    CFG_TIMEOUT,
    CFG_TIMEOUT_ABORT,
    CFG_REDACT,
    CFG_INHERIT,
    CFG_DEBUGINFOD,
    CFG_OUTPUT,
    CFG_MAX_REPORTS,
    CFG_CAPTURE_SIGNAL,
    CFG_CAPTURE_TIMEOUT,
    CFG_CAPTURE,
    CFG_MAX_FRAMES,
    CFG_VERSION,
    CFG_COUNT
};

enum cfg_source { CFG_FROM_DEFAULT, CFG_FROM_FILE, CFG_FROM_ENV };

enum cfg_format { FORMAT_TEXT, FORMAT_JSON };

/* How threads are captured: signals, or ptrace first (capture_ptrace.c). */
enum cfg_capture { CAPTURE_SIGNAL, CAPTURE_AUTO, CAPTURE_PTRACE };

/* Where reports go. AUTO (not set) means files with a log dir, else stderr. */
enum cfg_output { OUTPUT_AUTO, OUTPUT_STDERR, OUTPUT_FILES, OUTPUT_JOURNAL };

/*
 * The long paths come last, each on pages of its own: a process started
 * with no settings (most of a build's compilers and shells) touches only
 * the first page, which is what its start costs (preload.c).
 */
struct gmr_config {
    int signal; /* trigger signal; 0 = none */
    long trigger_interval_ms;
    enum cfg_format format;
    int crash;
    long timeout_ms; /* 0 = no watchdog */
    int timeout_abort;
    int inherit;
    int debuginfod;
    enum cfg_output output;
    int max_reports;    /* report files a service keeps in its log dir; 0 = all */
    int capture_signal; /* 0 = choose a free real-time signal */
    long capture_timeout_ms;
    enum cfg_capture capture;
    int max_frames;
    enum cfg_source source[CFG_COUNT];
    char service_name[128]; /* "" = derive from argv[0] */
    char version[128];      /* "VERSION" or "PRODUCT VERSION"; "" = not set */
    char redact[1024];      /* comma-separated globs, if given: see config_redact */
    char trigger_file[PATH_MAX];
    char log_dir[PATH_MAX];     /* "" = stderr */
    char config_file[PATH_MAX]; /* GMR_CONFIG, "" if none */
};

typedef void (*cfg_warn_fn)(void *ctx, const char *msg);

/* The environment variable and ini key of a setting. */
const char *config_env_name(enum cfg_key key);
const char *config_ini_name(enum cfg_key key);

/* The defaults, on a zeroed cfg (static storage, or = {0}): written
   directly, no text parsed, and the path fields left untouched. */
void config_defaults(struct gmr_config *cfg);
/* Was a setting given (file or environment)? Text settings are empty
   unless given; asking this first spares a read of their pages. */
int config_given(const struct gmr_config *cfg, enum cfg_key key);
/* The globs to mask: the redact setting, or the default list if none was
   given ("" = mask nothing). */
const char *config_redact(const struct gmr_config *cfg);
/* The documented default of a setting as text, or NULL if it has none. */
const char *config_default_text(enum cfg_key key);

/*
 * Sets one key from text. Returns 0, or -1 with a reason in *why (a static
 * string) and the configuration unchanged.
 */
int config_set(struct gmr_config *cfg, enum cfg_key key, const char *value, enum cfg_source source,
               const char **why);

/* Applies an ini file's text; `path` is only used in messages. */
void config_apply_ini(struct gmr_config *cfg, const char *path, const char *text, size_t len,
                      cfg_warn_fn warn, void *ctx);

/* Applies GMR_* variables from a NULL-terminated environment. */
void config_apply_env(struct gmr_config *cfg, char *const *envp, cfg_warn_fn warn, void *ctx);

/*
 * Checks what only the settings together can tell (GMR_OUTPUT=files with
 * no log dir), after the file and the environment are applied: one
 * message through `warn` and a setting that works.
 */
void config_check(struct gmr_config *cfg, cfg_warn_fn warn, void *ctx);

/* Where reports go, AUTO resolved: never OUTPUT_AUTO. */
enum cfg_output config_output(const struct gmr_config *cfg);

/* Makes relative paths absolute against `cwd`, as the host may chdir. */
void config_absolutize(struct gmr_config *cfg, const char *cwd);

/* The effective value of a key as text ("USR2", "1.5", "(unset)"). */
const char *config_value_text(const struct gmr_config *cfg, enum cfg_key key, char *out,
                              size_t len);

const char *config_source_name(enum cfg_source source);

#endif
