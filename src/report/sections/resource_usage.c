/*
 * resource_usage.c - what the process has consumed: CPU time, faults,
 * context switches, block I/O (getrusage), and how long it has run.
 * JSON key "resource_usage".
 */
#include "sections.h"

#include "base/procfs.h"
#include "base/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Text "user_time = 1.234 s", JSON "user_time_ms": 1234. */
static void seconds(struct emitter *e, const char *key, const struct timeval *tv)
{
    char text[48], json_key[48];

    snprintf(text, sizeof(text), "%ld.%03ld s", (long)tv->tv_sec, (long)tv->tv_usec / 1000);
    snprintf(json_key, sizeof(json_key), "%s_ms", key);
    e->ops->str(e, key, text, EMIT_TEXT_ONLY);
    e->ops->num(e, json_key, (long long)tv->tv_sec * 1000 + tv->tv_usec / 1000, EMIT_JSON_ONLY);
}

/* Field 22 of /proc/self/stat: start time in clock ticks since boot. */
static void started(struct emitter *e)
{
    char stat[1024], up[64], when[21], text[64];
    const char *p = NULL;
    unsigned long long ticks;
    double uptime;
    long hz = sysconf(_SC_CLK_TCK);
    int field;

    if (procfs_read("/proc/self/stat", stat, sizeof(stat)) < 0 ||
        procfs_read("/proc/uptime", up, sizeof(up)) < 0 || !(p = strrchr(stat, ')'))) {
        emit_str(e, "note", "/proc/self/stat or /proc/uptime could not be read");
        return;
    }
    for (field = 2; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (sscanf(p, "%llu", &ticks) != 1 || sscanf(up, "%lf", &uptime) != 1 || hz <= 0)
        return;
    uptime -= (double)ticks / (double)hz;
    time_iso8601(time(NULL) - (time_t)uptime, when);
    emit_str(e, "started", when);
    snprintf(text, sizeof(text), "%.1f s", uptime);
    e->ops->str(e, "running_for", text, EMIT_TEXT_ONLY);
    e->ops->num(e, "running_for_ms", (long long)(uptime * 1000), EMIT_JSON_ONLY);
}

void section_resource_usage(struct emitter *e, struct report *r)
{
    struct rusage ru;

    e->ops->begin_section(e, "Resource Usage", "resource_usage");
    e->ops->begin_object(e, NULL, NULL, 0);
    started(e);
    emit_num(e, "threads", (long long)r->cap.n);
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        seconds(e, "user_time", &ru.ru_utime);
        seconds(e, "system_time", &ru.ru_stime);
        emit_num(e, "max_rss_kib", ru.ru_maxrss);
        emit_num(e, "minor_faults", ru.ru_minflt);
        emit_num(e, "major_faults", ru.ru_majflt);
        emit_num(e, "block_reads", ru.ru_inblock);
        emit_num(e, "block_writes", ru.ru_oublock);
        emit_num(e, "voluntary_switches", ru.ru_nvcsw);
        emit_num(e, "involuntary_switches", ru.ru_nivcsw);
    } else {
        emit_str(e, "note", "getrusage failed");
    }
    e->ops->end_object(e);
    e->ops->end_section(e);
}
