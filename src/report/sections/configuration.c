/*
 * configuration.c - how the process was started and set up: command line
 * (secrets masked), working directory, umask, resource limits, cgroup,
 * and libgmr's own settings with where each came from (default, file,
 * environment). JSON key "configuration".
 */
#include "sections.h"

#include "base/procfs.h"
#include "base/redact.h"
#include "signal/sigchain.h"
#include "base/signames.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void command_line(struct emitter *e, const struct report *r)
{
    size_t len = 0;
    char *args = procfs_slurp("/proc/self/cmdline", &len);
    struct buf line = {0};

    if (!args) {
        emit_str(e, "command_line", "(unreadable: /proc/self/cmdline)");
        return;
    }
    redact_cmdline(config_redact(r->cfg), args, len, &line);
    emit_str(e, "command_line", buf_cstr(&line));
    buf_free(&line);
    free(args);
}

static void working_directory(struct emitter *e)
{
    char cwd[4096];
    ssize_t n = readlink("/proc/self/cwd", cwd, sizeof(cwd) - 1);

    if (n < 0) {
        emit_str(e, "working_directory", "(unreadable: /proc/self/cwd)");
        return;
    }
    cwd[n] = '\0';
    emit_str(e, "working_directory", cwd);
}

static void umask_of_process(struct emitter *e)
{
    char text[4096], value[16];
    const char *v = NULL;
    size_t len = 0;

    if (procfs_read("/proc/self/status", text, sizeof(text)) >= 0)
        v = procfs_field(text, "Umask:", &len);
    if (!v) {
        emit_str(e, "umask", "(unreadable: /proc/self/status)");
        return;
    }
    snprintf(value, sizeof(value), "%.*s", (int)(len < 8 ? len : 8), v);
    emit_str(e, "umask", value);
}

static const struct {
    const char *name;
    int resource;
} limits[] = {
    {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},       {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO},   {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
};

static const char *limit_text(rlim_t v, char *out, size_t len)
{
    if (v == RLIM_INFINITY)
        snprintf(out, len, "unlimited");
    else
        snprintf(out, len, "%llu", (unsigned long long)v);
    return out;
}

static void resource_limits(struct emitter *e)
{
    char soft[32], hard[32], both[80];
    size_t i;

    e->ops->begin_object(e, "limits", NULL, 0);
    for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        struct rlimit rl;
        if (getrlimit(limits[i].resource, &rl) < 0)
            continue;
        limit_text(rl.rlim_cur, soft, sizeof(soft));
        limit_text(rl.rlim_max, hard, sizeof(hard));
        snprintf(both, sizeof(both), "%s (hard %s)", soft, hard);
        e->ops->str(e, limits[i].name, both, EMIT_TEXT_ONLY);
        e->ops->begin_object(e, limits[i].name, NULL, EMIT_JSON_ONLY);
        emit_str(e, "soft", soft);
        emit_str(e, "hard", hard);
        e->ops->end_object(e);
    }
    e->ops->end_object(e);
}

/* cgroup v2 has one line "0::/path"; v1 one per hierarchy. */
static void cgroup(struct emitter *e)
{
    char text[4096], *line, *next;

    if (procfs_read("/proc/self/cgroup", text, sizeof(text)) < 0) {
        emit_str(e, "cgroup", "(unreadable: /proc/self/cgroup)");
        return;
    }
    e->ops->begin_list(e, "cgroup", 0);
    for (line = text; *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        else
            next = line + strlen(line);
        if (*line)
            e->ops->str(e, NULL, line, 0);
    }
    e->ops->end_list(e);
}

/* A signal libgmr wanted: is it still libgmr's? */
static const char *signal_state(int sig, enum sigchain_role role)
{
    if (sig <= 0)
        return "";
    if (sigchain_taken_over(sig))
        return ", taken over by the program after start: off";
    if (sigchain_role_of(sig) != role)
        return ", the program's own at start: off";
    return "";
}

/* Defaults that are resolved at start are shown as what they became, and
   signals the program kept or took say so. */
static void effective_value(const struct report *r, enum cfg_key k, char *value, size_t len)
{
    char name[32];
    size_t n;

    config_value_text(r->cfg, k, value, len);
    if (k == CFG_SERVICE_NAME && !r->cfg->service_name[0])
        snprintf(value, len, "%s", r->ctx->service);
    else if (k == CFG_CAPTURE_SIGNAL && !r->cfg->capture_signal)
        snprintf(value, len, "%s",
                 r->ctx->capture_signal > 0
                     ? signal_name(r->ctx->capture_signal, name, sizeof(name))
                     : "(none free)");
    n = strlen(value);
    if (k == CFG_SIGNAL)
        snprintf(value + n, len - n, "%s", signal_state(r->cfg->signal, ROLE_TRIGGER));
    else if (k == CFG_CAPTURE_SIGNAL)
        snprintf(value + n, len - n, "%s", signal_state(r->ctx->capture_signal, ROLE_CAPTURE));
}

static void settings(struct emitter *e, const struct report *r)
{
    const struct gmr_config *cfg = r->cfg;
    char value[512], shown[600];
    int k;

    e->ops->begin_object(e, "settings", NULL, 0);
    for (k = 0; k < CFG_COUNT; k++) {
        const char *src = config_source_name(cfg->source[k]);

        effective_value(r, (enum cfg_key)k, value, sizeof(value));
        snprintf(shown, sizeof(shown), "%s (%s)", value, src);
        e->ops->str(e, config_env_name((enum cfg_key)k), shown, EMIT_TEXT_ONLY);
        e->ops->begin_object(e, config_env_name((enum cfg_key)k), NULL, EMIT_JSON_ONLY);
        emit_str(e, "value", value);
        emit_str(e, "source", src);
        e->ops->end_object(e);
    }
    e->ops->end_object(e);
}

void section_configuration(struct emitter *e, struct report *r)
{
    e->ops->begin_section(e, "Configuration", "configuration");
    e->ops->begin_object(e, NULL, NULL, 0);
    command_line(e, r);
    working_directory(e);
    umask_of_process(e);
    resource_limits(e);
    cgroup(e);
    emit_str(e, "config_file", r->cfg->config_file[0] ? r->cfg->config_file : "(none)");
    settings(e, r);
    e->ops->end_object(e);
    e->ops->end_section(e);
}
