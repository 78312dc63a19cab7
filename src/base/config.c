/*
 * config.c - parsing of libgmr's settings.
 *
 * One table lists every setting: its environment variable, its ini keys
 * (libgmr's own [gmr] section and, for the three oslo.reports options,
 * [oslo_reports]), its default as text and its parser. Defaults go through
 * the same parsers as user input, so a default can never be a value the
 * parser would refuse.
 */
#include "config.h"

#include "ini.h"
#include "signames.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef int (*cfg_parse_fn)(struct gmr_config *cfg, const char *value, const char **why);

struct cfg_def {
    const char *env;
    const char *ini;   /* key in [gmr] */
    const char *oslo;  /* key in [oslo_reports], or NULL */
    const char *deflt; /* NULL: unset */
    cfg_parse_fn parse;
};

/* ---- value parsers ---- */

static int copy_text(char *dst, size_t cap, const char *value, const char **why)
{
    size_t n = strlen(value);

    if (n == 0) {
        *why = "empty value";
        return -1;
    }
    if (n >= cap) {
        *why = "value too long";
        return -1;
    }
    memcpy(dst, value, n + 1);
    return 0;
}

static int parse_bool(const char *value, int *out, const char **why)
{
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};
    size_t i;

    for (i = 0; i < 4; i++) {
        if (!strcasecmp(value, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(value, no[i])) {
            *out = 0;
            return 0;
        }
    }
    *why = "expected 1 or 0 (yes/no, true/false, on/off)";
    return -1;
}

/* Seconds as a decimal ("2", "0.25") into milliseconds within [lo, hi]. */
static int parse_seconds(const char *value, long lo_ms, long hi_ms, long *out, const char **why)
{
    long whole = 0, frac = 0, scale = 100;
    const char *p = value;

    if (*p < '0' || *p > '9') {
        *why = "expected a number of seconds";
        return -1;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        whole = whole * 10 + (*p - '0');
        if (whole > hi_ms / 1000 + 1)
            goto range;
    }
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    if (*p) {
        *why = "expected a number of seconds";
        return -1;
    }
    whole = whole * 1000 + frac;
    if (whole < lo_ms || whole > hi_ms)
        goto range;
    *out = whole;
    return 0;
range:
    *why = "number of seconds out of range";
    return -1;
}

static int parse_signal(struct gmr_config *cfg, const char *value, const char **why)
{
    int sig = signal_parse(value);

    if (sig < 0) {
        *why = "not a signal name or number";
        return -1;
    }
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE ||
        sig == SIGILL || sig == SIGABRT || sig == SIGTRAP) {
        *why = "this signal cannot be a trigger";
        return -1;
    }
    cfg->signal = sig;
    return 0;
}

static int parse_capture_signal(struct gmr_config *cfg, const char *value, const char **why)
{
    int sig;

    if (!strcasecmp(value, "auto")) {
        cfg->capture_signal = 0;
        return 0;
    }
    sig = signal_parse(value);
    if (sig < SIGRTMIN || sig > SIGRTMAX) {
        *why = "expected a real-time signal (RTMIN+n, RTMAX-n) or auto";
        return -1;
    }
    cfg->capture_signal = sig;
    return 0;
}

static int parse_trigger_file(struct gmr_config *cfg, const char *value, const char **why)
{
    return copy_text(cfg->trigger_file, sizeof(cfg->trigger_file), value, why);
}

static int parse_trigger_interval(struct gmr_config *cfg, const char *value, const char **why)
{
    return parse_seconds(value, 100, 86400 * 1000L, &cfg->trigger_interval_ms, why);
}

static int parse_log_dir(struct gmr_config *cfg, const char *value, const char **why)
{
    return copy_text(cfg->log_dir, sizeof(cfg->log_dir), value, why);
}

static int parse_service_name(struct gmr_config *cfg, const char *value, const char **why)
{
    if (strlen(value) > 64) {
        *why = "longer than 64 characters";
        return -1;
    }
    return copy_text(cfg->service_name, sizeof(cfg->service_name), value, why);
}

static int parse_format(struct gmr_config *cfg, const char *value, const char **why)
{
    if (!strcasecmp(value, "text"))
        cfg->format = FORMAT_TEXT;
    else if (!strcasecmp(value, "json"))
        cfg->format = FORMAT_JSON;
    else {
        *why = "expected text or json";
        return -1;
    }
    return 0;
}

static int parse_capture(struct gmr_config *cfg, const char *value, const char **why)
{
    if (!strcasecmp(value, "signal"))
        cfg->capture = CAPTURE_SIGNAL;
    else if (!strcasecmp(value, "auto"))
        cfg->capture = CAPTURE_AUTO;
    else if (!strcasecmp(value, "ptrace"))
        cfg->capture = CAPTURE_PTRACE;
    else {
        *why = "expected auto, ptrace or signal";
        return -1;
    }
    return 0;
}

static const char *capture_text(enum cfg_capture c)
{
    return c == CAPTURE_AUTO ? "auto" : c == CAPTURE_PTRACE ? "ptrace" : "signal";
}

static int parse_crash(struct gmr_config *cfg, const char *value, const char **why)
{
    return parse_bool(value, &cfg->crash, why);
}

static int parse_timeout(struct gmr_config *cfg, const char *value, const char **why)
{
    return parse_seconds(value, 0, 365 * 86400 * 1000L, &cfg->timeout_ms, why);
}

static int parse_timeout_abort(struct gmr_config *cfg, const char *value, const char **why)
{
    return parse_bool(value, &cfg->timeout_abort, why);
}

/* Globs separated by commas; spaces around them are dropped. */
static int parse_redact(struct gmr_config *cfg, const char *value, const char **why)
{
    char out[sizeof(cfg->redact)];
    size_t n = 0;
    const char *p = value;

    if (!strcasecmp(value, "none")) {
        cfg->redact[0] = '\0';
        return 0;
    }
    while (*p) {
        const char *start, *end;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        start = p;
        while (*p && *p != ',')
            p++;
        end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end == start)
            continue;
        if (n + (size_t)(end - start) + 2 > sizeof(out)) {
            *why = "list too long";
            return -1;
        }
        if (n)
            out[n++] = ',';
        memcpy(out + n, start, (size_t)(end - start));
        n += (size_t)(end - start);
    }
    if (n == 0) {
        *why = "expected comma-separated name patterns, or none";
        return -1;
    }
    out[n] = '\0';
    memcpy(cfg->redact, out, n + 1);
    return 0;
}

static int parse_inherit(struct gmr_config *cfg, const char *value, const char **why)
{
    return parse_bool(value, &cfg->inherit, why);
}

static int parse_debuginfod(struct gmr_config *cfg, const char *value, const char **why)
{
    return parse_bool(value, &cfg->debuginfod, why);
}

static int parse_output(struct gmr_config *cfg, const char *value, const char **why)
{
    if (!strcasecmp(value, "stderr"))
        cfg->output = OUTPUT_STDERR;
    else if (!strcasecmp(value, "files"))
        cfg->output = OUTPUT_FILES;
    else if (!strcasecmp(value, "journal"))
        cfg->output = OUTPUT_JOURNAL;
    else {
        *why = "expected stderr, files or journal";
        return -1;
    }
    return 0;
}

static int parse_max_reports(struct gmr_config *cfg, const char *value, const char **why)
{
    char *end;
    long v = strtol(value, &end, 10);

    if (*value < '0' || *value > '9' || *end || v < 0 || v > 1000000) {
        *why = "expected a whole number from 0 (keep all) to 1000000";
        return -1;
    }
    cfg->max_reports = (int)v;
    return 0;
}

static int parse_capture_timeout(struct gmr_config *cfg, const char *value, const char **why)
{
    return parse_seconds(value, 10, 60 * 1000L, &cfg->capture_timeout_ms, why);
}

static int parse_max_frames(struct gmr_config *cfg, const char *value, const char **why)
{
    char *end;
    long v = strtol(value, &end, 10);

    if (*value < '0' || *value > '9' || *end || v < 1 || v > 65536) {
        *why = "expected a whole number from 1 to 65536";
        return -1;
    }
    cfg->max_frames = (int)v;
    return 0;
}

static int parse_version(struct gmr_config *cfg, const char *value, const char **why)
{
    return copy_text(cfg->version, sizeof(cfg->version), value, why);
}

#define DEFAULT_REDACT "*PASSWORD*,*PASSWD*,*SECRET*,*TOKEN*,*KEY*,*CREDENTIAL*,*AUTH*"

static const struct cfg_def defs[CFG_COUNT] = {
    [CFG_SIGNAL] = {"GMR_SIGNAL", "signal", NULL, "USR2", parse_signal},
    [CFG_TRIGGER_FILE] = {"GMR_TRIGGER_FILE", "trigger_file", "file_event_handler", NULL,
                          parse_trigger_file},
    [CFG_TRIGGER_INTERVAL] = {"GMR_TRIGGER_INTERVAL", "trigger_interval",
                              "file_event_handler_interval", "1", parse_trigger_interval},
    [CFG_LOG_DIR] = {"GMR_LOG_DIR", "log_dir", "log_dir", NULL, parse_log_dir},
    [CFG_SERVICE_NAME] = {"GMR_SERVICE_NAME", "service_name", NULL, NULL, parse_service_name},
    [CFG_FORMAT] = {"GMR_FORMAT", "format", NULL, "text", parse_format},
    [CFG_CRASH] = {"GMR_CRASH", "crash", NULL, "1", parse_crash},
    [CFG_TIMEOUT] = {"GMR_TIMEOUT", "timeout", NULL, NULL, parse_timeout},
    [CFG_TIMEOUT_ABORT] = {"GMR_TIMEOUT_ABORT", "timeout_abort", NULL, "0", parse_timeout_abort},
    [CFG_REDACT] = {"GMR_REDACT", "redact", NULL, DEFAULT_REDACT, parse_redact},
    [CFG_INHERIT] = {"GMR_INHERIT", "inherit", NULL, "1", parse_inherit},
    [CFG_DEBUGINFOD] = {"GMR_DEBUGINFOD", "debuginfod", NULL, "0", parse_debuginfod},
    /* No default text: unset means "follow the log dir" (config_output). */
    [CFG_OUTPUT] = {"GMR_OUTPUT", "output", NULL, NULL, parse_output},
    [CFG_MAX_REPORTS] = {"GMR_MAX_REPORTS", "max_reports", NULL, "100", parse_max_reports},
    [CFG_CAPTURE_SIGNAL] = {"GMR_CAPTURE_SIGNAL", "capture_signal", NULL, "auto",
                            parse_capture_signal},
    [CFG_CAPTURE_TIMEOUT] = {"GMR_CAPTURE_TIMEOUT", "capture_timeout", NULL, "1",
                             parse_capture_timeout},
    [CFG_CAPTURE] = {"GMR_CAPTURE", "capture", NULL, "auto", parse_capture},
    [CFG_MAX_FRAMES] = {"GMR_MAX_FRAMES", "max_frames", NULL, "256", parse_max_frames},
    [CFG_VERSION] = {"GMR_VERSION", "version", NULL, NULL, parse_version},
};

const char *config_env_name(enum cfg_key key)
{
    return defs[key].env;
}

const char *config_ini_name(enum cfg_key key)
{
    return defs[key].ini;
}

/*
 * The values of the default texts in defs[] (test_config checks that they
 * agree): parsing them would cost every process's start the pages of the
 * string functions, and the memset of a cleared struct its path pages.
 */
void config_defaults(struct gmr_config *cfg)
{
    cfg->signal = SIGUSR2;
    cfg->trigger_interval_ms = 1000;
    cfg->format = FORMAT_TEXT;
    cfg->crash = 1;
    cfg->inherit = 1;
    cfg->max_reports = 100;
    cfg->capture_timeout_ms = 1000;
    cfg->capture = CAPTURE_AUTO;
    cfg->max_frames = 256;
}

const char *config_default_text(enum cfg_key key)
{
    return key < CFG_COUNT ? defs[key].deflt : NULL;
}

const char *config_redact(const struct gmr_config *cfg)
{
    return config_given(cfg, CFG_REDACT) ? cfg->redact : DEFAULT_REDACT;
}

int config_given(const struct gmr_config *cfg, enum cfg_key key)
{
    return key < CFG_COUNT && cfg->source[key] != CFG_FROM_DEFAULT;
}

int config_set(struct gmr_config *cfg, enum cfg_key key, const char *value, enum cfg_source source,
               const char **why)
{
    if (key >= CFG_COUNT) {
        *why = "unknown setting";
        return -1;
    }
    if (defs[key].parse(cfg, value, why) < 0)
        return -1;
    cfg->source[key] = source;
    return 0;
}

/* Quotes a user value for a message, clipped so the line stays short. */
static const char *quoted(const char *value, char *out, size_t len)
{
    size_t n = strlen(value);

    if (n + 3 > len)
        snprintf(out, len, "'%.*s...'", (int)(len - 6), value);
    else
        snprintf(out, len, "'%s'", value);
    return out;
}

static void warn_value(cfg_warn_fn warn, void *ctx, const char *where, const struct gmr_config *cfg,
                       enum cfg_key key, const char *value, const char *why)
{
    char msg[400], q[80], now[96];

    /* Where reports go by default depends on a log dir that may be set
       later in the environment or the file: say the rule, not a guess. */
    if (key == CFG_OUTPUT && cfg->output == OUTPUT_AUTO)
        snprintf(now, sizeof(now), "files with a log directory, else stderr");
    else
        config_value_text(cfg, key, now, sizeof(now));
    snprintf(msg, sizeof(msg), "%s=%s: %s; using %s", where, quoted(value, q, sizeof(q)), why, now);
    warn(ctx, msg);
}

struct ini_ctx {
    struct gmr_config *cfg;
    const char *path;
    cfg_warn_fn warn;
    void *ctx;
};

static int find_key(const char *section, const char *key)
{
    int i, oslo = !strcasecmp(section, "oslo_reports");

    for (i = 0; i < CFG_COUNT; i++) {
        const char *name = oslo ? defs[i].oslo : defs[i].ini;
        if (name && !strcasecmp(key, name))
            return i;
    }
    return -1;
}

static void ini_pair(void *p, int line, const char *section, const char *key, const char *value)
{
    struct ini_ctx *c = p;
    char where[PATH_MAX + 300];
    const char *why;
    int k;

    if (strcasecmp(section, "gmr") && strcasecmp(section, "oslo_reports"))
        return; /* another program's section: not ours to judge */
    k = find_key(section, key);
    snprintf(where, sizeof(where), "%s:%d: [%s] %s", c->path, line, section, key);
    if (k < 0) {
        char msg[sizeof(where) + 32];
        snprintf(msg, sizeof(msg), "%s: unknown key; ignored", where);
        c->warn(c->ctx, msg);
        return;
    }
    if (config_set(c->cfg, (enum cfg_key)k, value, CFG_FROM_FILE, &why) < 0)
        warn_value(c->warn, c->ctx, where, c->cfg, (enum cfg_key)k, value, why);
}

static void ini_bad(void *p, int line, const char *why)
{
    struct ini_ctx *c = p;
    char msg[PATH_MAX + 200];

    snprintf(msg, sizeof(msg), "%s:%d: %s; line ignored", c->path, line, why);
    c->warn(c->ctx, msg);
}

void config_apply_ini(struct gmr_config *cfg, const char *path, const char *text, size_t len,
                      cfg_warn_fn warn, void *ctx)
{
    struct ini_ctx c = {cfg, path, warn, ctx};
    struct ini_handler h = {ini_pair, ini_bad, &c};

    ini_parse(text, len, &h);
}

static int env_key(const char *name, size_t len)
{
    int i;

    for (i = 0; i < CFG_COUNT; i++)
        if (strlen(defs[i].env) == len && !memcmp(defs[i].env, name, len))
            return i;
    return -1;
}

void config_apply_env(struct gmr_config *cfg, char *const *envp, cfg_warn_fn warn, void *ctx)
{
    char *const *e;

    for (e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '='), *why;
        size_t len;
        int k;

        if (strncmp(*e, "GMR_", 4) || !eq)
            continue;
        len = (size_t)(eq - *e);
        if (len == 10 && !memcmp(*e, "GMR_CONFIG", 10))
            continue; /* read by the caller before the file */
        k = env_key(*e, len);
        if (k < 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%.*s: unknown variable; ignored",
                     (int)(len > 64 ? 64 : len), *e);
            warn(ctx, msg);
            continue;
        }
        if (config_set(cfg, (enum cfg_key)k, eq + 1, CFG_FROM_ENV, &why) < 0)
            warn_value(warn, ctx, defs[k].env, cfg, (enum cfg_key)k, eq + 1, why);
    }
}

void config_check(struct gmr_config *cfg, cfg_warn_fn warn, void *ctx)
{
    if (cfg->output == OUTPUT_FILES && !cfg->log_dir[0]) {
        warn(ctx, "GMR_OUTPUT=files: no log directory is set (GMR_LOG_DIR); using stderr");
        cfg->output = OUTPUT_STDERR;
    }
}

enum cfg_output config_output(const struct gmr_config *cfg)
{
    if (cfg->output != OUTPUT_AUTO)
        return cfg->output;
    return cfg->log_dir[0] ? OUTPUT_FILES : OUTPUT_STDERR;
}

static const char *output_text(enum cfg_output output)
{
    switch (output) {
    case OUTPUT_FILES:
        return "files";
    case OUTPUT_JOURNAL:
        return "journal";
    case OUTPUT_STDERR:
    case OUTPUT_AUTO:
        break;
    }
    return "stderr";
}

static void absolutize(char *path, size_t cap, const char *cwd)
{
    char tmp[PATH_MAX];
    int n;

    if (!path[0] || path[0] == '/' || !cwd || !cwd[0])
        return;
    n = snprintf(tmp, sizeof(tmp), "%s/%s", cwd, path);
    if (n > 0 && (size_t)n < cap)
        memcpy(path, tmp, (size_t)n + 1);
}

void config_absolutize(struct gmr_config *cfg, const char *cwd)
{
    absolutize(cfg->trigger_file, sizeof(cfg->trigger_file), cwd);
    absolutize(cfg->log_dir, sizeof(cfg->log_dir), cwd);
}

static const char *seconds_text(long ms, char *out, size_t len)
{
    if (ms % 1000)
        snprintf(out, len, "%ld.%03ld", ms / 1000, ms % 1000);
    else
        snprintf(out, len, "%ld", ms / 1000);
    return out;
}

static const char *text_or_unset(const char *s, char *out, size_t len)
{
    snprintf(out, len, "%s", s[0] ? s : "(unset)");
    return out;
}

const char *config_value_text(const struct gmr_config *cfg, enum cfg_key key, char *out, size_t len)
{
    switch (key) {
    case CFG_SIGNAL:
        if (!cfg->signal)
            return text_or_unset("none", out, len);
        return signal_name(cfg->signal, out, len);
    case CFG_CAPTURE_SIGNAL:
        if (!cfg->capture_signal)
            return text_or_unset("auto", out, len);
        return signal_name(cfg->capture_signal, out, len);
    case CFG_TRIGGER_FILE:
        return text_or_unset(cfg->trigger_file, out, len);
    case CFG_LOG_DIR:
        return text_or_unset(cfg->log_dir, out, len);
    case CFG_SERVICE_NAME:
        return text_or_unset(cfg->service_name, out, len);
    case CFG_VERSION:
        return text_or_unset(cfg->version, out, len);
    case CFG_REDACT:
        return text_or_unset(config_redact(cfg)[0] ? config_redact(cfg) : "none", out, len);
    case CFG_TRIGGER_INTERVAL:
        return seconds_text(cfg->trigger_interval_ms, out, len);
    case CFG_CAPTURE_TIMEOUT:
        return seconds_text(cfg->capture_timeout_ms, out, len);
    case CFG_TIMEOUT:
        if (!cfg->timeout_ms)
            return text_or_unset("", out, len);
        return seconds_text(cfg->timeout_ms, out, len);
    case CFG_FORMAT:
        return text_or_unset(cfg->format == FORMAT_JSON ? "json" : "text", out, len);
    case CFG_CAPTURE:
        return text_or_unset(capture_text(cfg->capture), out, len);
    case CFG_CRASH:
        return text_or_unset(cfg->crash ? "1" : "0", out, len);
    case CFG_TIMEOUT_ABORT:
        return text_or_unset(cfg->timeout_abort ? "1" : "0", out, len);
    case CFG_INHERIT:
        return text_or_unset(cfg->inherit ? "1" : "0", out, len);
    case CFG_DEBUGINFOD:
        return text_or_unset(cfg->debuginfod ? "1" : "0", out, len);
    case CFG_MAX_FRAMES:
        snprintf(out, len, "%d", cfg->max_frames);
        return out;
    case CFG_OUTPUT:
        return text_or_unset(output_text(config_output(cfg)), out, len);
    case CFG_MAX_REPORTS:
        snprintf(out, len, "%d", cfg->max_reports);
        return out;
    case CFG_COUNT:
        break;
    }
    return text_or_unset("", out, len);
}

const char *config_source_name(enum cfg_source source)
{
    switch (source) {
    case CFG_FROM_FILE:
        return "file";
    case CFG_FROM_ENV:
        return "environment";
    case CFG_FROM_DEFAULT:
        break;
    }
    return "default";
}
