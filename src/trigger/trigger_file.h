/*
 * trigger_file.h - GMR_TRIGGER_FILE: creating or touching a file asks for
 * a report, for hosts (uWSGI, nginx) that keep SIGUSR2 for themselves.
 *
 * The file need not exist at start; deleting and re-creating it keeps
 * working; a missing directory is watched for. inotify does the watching,
 * of the file itself and of its directory for names coming and going, so
 * an idle process never wakes up, nor one whose neighbours in the
 * directory are written; where inotify cannot be had (its per-user limits
 * are small), the file is polled every GMR_TRIGGER_INTERVAL seconds
 * instead, and we say so once.
 */
#ifndef GMR_TRIGGER_FILE_H
#define GMR_TRIGGER_FILE_H

#include <limits.h>
#include <sys/stat.h>
#include <sys/types.h>

struct trigger_file {
    char path[PATH_MAX];
    char watched[PATH_MAX]; /* the directory inotify watches (maybe an ancestor) */
    int fd;                 /* inotify instance, -1 when polling or off */
    int wd;                 /* its watch on `watched` */
    int file_wd;            /* its watch on the file itself, -1 while there is none */
    int dir_full;           /* the file cannot be watched: `watched` is, for writes too */
    pid_t owner;            /* its F_SETOWN_EX mark: the watcher's tid */
    dev_t watched_dev;
    ino_t watched_ino;
    int polling;
    long interval_ms;
    int exists; /* last seen state of the file, for polling */
    struct timespec mtime;
    ino_t ino;
    int said_missing; /* the missing directory was reported */
    int said_full;    /* so was a file that cannot be watched itself */
};

/* Sets up the watch; path "" leaves the trigger off. */
void trigger_file_open(struct trigger_file *tf, const char *path, long interval_ms);
/* The descriptor to wait on (validated), or -1. */
int trigger_file_fd(struct trigger_file *tf);
/* How long the caller may sleep, in ms; -1 for "until something happens". */
long trigger_file_wait_ms(const struct trigger_file *tf);
/* After a wake-up (or timeout): 1 if the file was created or touched. */
int trigger_file_check(struct trigger_file *tf);
/* In a forked child: drop the parent's instance (if still ours); the
   child's watcher starts its own. */
void trigger_file_after_fork(struct trigger_file *tf);

#endif
