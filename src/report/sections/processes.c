/*
 * processes.c - the process tree around us: our parent, this process,
 * and our descendants, nested as they are (oslo.reports flattens them).
 * JSON key "processes": a list holding the parent, whose "children" hold
 * this process, whose "children" hold its own, and so on.
 *
 * Children come from /proc/PID/task/TID/children, the kernel's own list,
 * so we need not scan every process on the machine.
 */
#include "sections.h"

#include "base/procfs.h"
#include "base/redact.h"
#include "base/users.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH     16
#define MAX_PROCESSES 512

struct proc {
    pid_t pid, ppid;
    long uid;
    char state[40];
};

static int read_proc(pid_t pid, struct proc *p)
{
    char path[64], text[4096];
    const char *v;
    size_t len;

    memset(p, 0, sizeof(*p));
    p->pid = pid;
    p->uid = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (procfs_read(path, text, sizeof(text)) < 0)
        return -1;
    if ((v = procfs_field(text, "PPid:", &len)))
        p->ppid = (pid_t)strtol(v, NULL, 10);
    if ((v = procfs_field(text, "Uid:", &len)))
        p->uid = strtol(v, NULL, 10);
    if ((v = procfs_field(text, "State:", &len)))
        snprintf(p->state, sizeof(p->state), "%.*s", (int)len, v);
    return 0;
}

static void add_pid(pid_t **v, size_t *n, size_t *cap, pid_t pid)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        pid_t *grown = realloc(*v, ncap * sizeof(pid_t));
        if (!grown)
            return;
        *v = grown;
        *cap = ncap;
    }
    (*v)[(*n)++] = pid;
}

static size_t children_of(pid_t pid, pid_t **out)
{
    char path[320], text[4096];
    size_t n = 0, cap = 0;
    struct dirent *d;
    DIR *dir;

    *out = NULL;
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    dir = opendir(path);
    if (!dir)
        return 0;
    while ((d = readdir(dir))) {
        char *p, *end;
        if (d->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid, d->d_name);
        if (procfs_read(path, text, sizeof(text)) <= 0)
            continue;
        for (p = text;; p = end) {
            long child = strtol(p, &end, 10);
            if (end == p)
                break;
            add_pid(out, &n, &cap, (pid_t)child);
        }
    }
    closedir(dir);
    return n;
}

struct walk {
    struct emitter *e;
    struct report *r;
    int shown;
};

static void command_line(struct walk *w, pid_t pid)
{
    char path[64];
    size_t len = 0;
    char *args;
    struct buf line = {0};

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    args = procfs_slurp(path, &len);
    if (args && len)
        redact_cmdline(config_redact(w->r->cfg), args, len, &line);
    emit_str(w->e, "command_line", line.len ? buf_cstr(&line) : "(none)");
    buf_free(&line);
    free(args);
}

static void one(struct walk *w, pid_t pid, pid_t only_child, int depth);

static void children(struct walk *w, pid_t pid, pid_t only_child, int depth)
{
    pid_t *kids = NULL;
    size_t n, i;

    if (only_child > 0) {
        w->e->ops->begin_list(w->e, "children", 0);
        one(w, only_child, -1, depth + 1);
        w->e->ops->end_list(w->e);
        return;
    }
    n = children_of(pid, &kids);
    if (n && depth < MAX_DEPTH) {
        w->e->ops->begin_list(w->e, "children", 0);
        for (i = 0; i < n; i++)
            one(w, kids[i], -1, depth + 1);
        w->e->ops->end_list(w->e);
    } else if (n) {
        emit_str(w->e, "note", "deeper descendants not shown");
    }
    free(kids);
}

static void one(struct walk *w, pid_t pid, pid_t only_child, int depth)
{
    struct emitter *e = w->e;
    char heading[256], user[64] = "";
    struct proc p;

    if (w->shown++ >= MAX_PROCESSES) {
        if (w->shown == MAX_PROCESSES + 1)
            e->ops->str(e, NULL, "(more processes not shown)", EMIT_TEXT_ONLY);
        return;
    }
    if (read_proc(pid, &p) < 0) {
        snprintf(heading, sizeof(heading), "Process %d [ gone or unreadable ]", (int)pid);
        e->ops->begin_object(e, NULL, heading, 0);
        e->ops->num(e, "pid", pid, EMIT_JSON_ONLY);
        emit_str(e, "note", "gone or unreadable");
        e->ops->end_object(e);
        return;
    }
    if (p.uid >= 0)
        user_name((uid_t)p.uid, user, sizeof(user));
    snprintf(heading, sizeof(heading), "Process %d (under %d) [ run by: %s (%ld), state: %s ]%s",
             (int)pid, (int)p.ppid, user[0] ? user : "?", p.uid, p.state,
             pid == w->r->pid ? " <- this process" : "");
    e->ops->begin_object(e, NULL, heading, 0);
    e->ops->num(e, "pid", pid, EMIT_JSON_ONLY);
    e->ops->num(e, "ppid", p.ppid, EMIT_JSON_ONLY);
    e->ops->num(e, "uid", p.uid, EMIT_JSON_ONLY);
    e->ops->str(e, "user", user, EMIT_JSON_ONLY);
    e->ops->str(e, "state", p.state, EMIT_JSON_ONLY);
    if (pid == w->r->pid)
        e->ops->str(e, "role", "self", EMIT_JSON_ONLY);
    command_line(w, pid);
    children(w, pid, only_child, depth);
    e->ops->end_object(e);
}

void section_processes(struct emitter *e, struct report *r)
{
    struct walk w = {e, r, 0};
    struct proc self, parent;

    e->ops->begin_section(e, "Processes", "processes");
    e->ops->begin_list(e, NULL, 0);
    if (read_proc(r->pid, &self) == 0 && self.ppid > 0 && read_proc(self.ppid, &parent) == 0)
        one(&w, self.ppid, r->pid, 0);
    else
        one(&w, r->pid, -1, 0);
    e->ops->end_list(e);
    e->ops->end_section(e);
}
