/*
 * proctree.c - /proc for the tools (proctree.h).
 */
#include "proctree.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SCAN  32768
#define MAX_DEPTH 4096 /* parent links followed; a loop in /proc cannot hold us */

int proc_parse_pid(const char *s, pid_t *pid)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > 0x3fffffff)
        return -1;
    *pid = (pid_t)v;
    return 0;
}

int proc_exists(pid_t pid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    return access(path, F_OK) == 0;
}

void proc_name(pid_t pid, char *out, size_t len)
{
    char path[64];
    FILE *f;

    snprintf(out, len, "?");
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return;
    if (fgets(out, (int)len, f))
        out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

int proc_maps_libgmr(pid_t pid)
{
    char path[64], line[4096];
    int found = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return 0;
    while (!found && fgets(line, sizeof(line), f)) {
        const char *name = strrchr(line, '/');
        found = name && !strncmp(name, "/libgmr", 7) && strstr(name, ".so");
    }
    fclose(f);
    return found;
}

/* /proc/PID/stat after the name (which may hold anything, parentheses
   included): from the state on, or NULL if unreadable. */
static const char *stat_fields(const char *pid, char *stat, size_t len)
{
    char path[300], *close_paren;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    f = fopen(path, "re");
    if (!f)
        return NULL;
    close_paren = fgets(stat, (int)len, f) ? strrchr(stat, ')') : NULL;
    fclose(f);
    return close_paren ? close_paren + 1 : NULL;
}

/* The parent pid; -1 if unreadable. */
static pid_t parent_of(const char *pid)
{
    char stat[1024];
    const char *fields = stat_fields(pid, stat, sizeof(stat));
    int ppid = -1;

    if (!fields || sscanf(fields, " %*c %d", &ppid) != 1)
        return -1;
    return (pid_t)ppid;
}

#define SKIP9 " %*s %*s %*s %*s %*s %*s %*s %*s %*s"

int proc_descends_from(pid_t pid, pid_t ancestor)
{
    char name[24];
    int depth;

    for (depth = 0; depth < MAX_DEPTH && pid > 1; depth++) {
        snprintf(name, sizeof(name), "%d", (int)pid);
        pid = parent_of(name);
        if (pid == ancestor)
            return 1;
    }
    return 0;
}

long long proc_age_ms(pid_t pid)
{
    char name[24], stat[1024];
    const char *fields;
    unsigned long long started;
    long hz = sysconf(_SC_CLK_TCK);
    struct timespec now;

    snprintf(name, sizeof(name), "%d", (int)pid);
    fields = stat_fields(name, stat, sizeof(stat));
    /* starttime is field 22; the fields string starts at field 3 */
    if (!fields || hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &now) < 0 ||
        sscanf(fields, " %*c" SKIP9 SKIP9 " %llu", &started) != 1)
        return -1;
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 -
           (long long)(started * 1000ULL / (unsigned long long)hz);
}

size_t proc_tree(pid_t root, pid_t *out, size_t max)
{
    pid_t *pids = malloc(MAX_SCAN * sizeof(*pids)), *parents = malloc(MAX_SCAN * sizeof(*parents));
    size_t all = 0, n = 0, i, j;
    DIR *proc = opendir("/proc");
    struct dirent *d;

    while (pids && parents && proc && (d = readdir(proc)) && all < MAX_SCAN) {
        pid_t pid;

        if (proc_parse_pid(d->d_name, &pid) < 0)
            continue;
        pids[all] = pid;
        parents[all] = parent_of(d->d_name);
        all++;
    }
    if (proc)
        closedir(proc);
    if (max)
        out[n++] = root;
    for (i = 0; i < n && n < max; i++)
        for (j = 0; j < all && n < max; j++)
            if (parents[j] == out[i] && pids[j] != root)
                out[n++] = pids[j];
    free(pids);
    free(parents);
    return n;
}
