/*
 * trigger_bits.h - SIGNAL CONTEXT. Why a report is written: the bits a
 * handler (or any thread) posts to wake the watcher (handlers.h), which
 * the report then carries (report/model.h).
 */
#ifndef GMR_TRIGGER_BITS_H
#define GMR_TRIGGER_BITS_H

/* Reasons the watcher was woken, as bits in its pending word (handler_pending). */
enum trigger_bits {
    TRIGGER_SIGNAL = 1,
    TRIGGER_FILE = 2,
    TRIGGER_TIMEOUT = 4,
    TRIGGER_API = 8,
    TRIGGER_CRASH = 16,
    TRIGGER_REQUEST = 32, /* gmr-report, over the control channel (the watcher's own) */
    TRIGGER_QUIT = 64,    /* no report: the watcher ends, to start again (watcher_follow_begin) */
};

#endif
