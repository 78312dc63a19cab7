/*
 * netsock.h - what a socket descriptor is connected to, from /proc/net.
 *
 * /proc/self/fd shows a socket only as "socket:[INODE]"; the tables in
 * /proc/self/net (tcp, udp, raw, unix and their IPv6 twins) map inodes to
 * protocol, addresses and state.
 */
#ifndef GMR_NETSOCK_H
#define GMR_NETSOCK_H

#include <stddef.h>

struct sock_info {
    unsigned long inode;
    char proto[8];   /* "tcp", "udp6", "unix", ... */
    char local[112]; /* "127.0.0.1:11211", "[::1]:80", a unix path */
    char remote[64]; /* "" when there is none */
    char state[16];  /* "LISTEN", "ESTABLISHED", "STREAM", ... */
};

/* Parses a line of /proc/net/{tcp,udp,raw}[6]; 0, or -1 (the header). */
int netsock_parse_inet(const char *line, const char *proto, int v6, struct sock_info *out);
/* Parses a line of /proc/net/unix; 0 or -1. */
int netsock_parse_unix(const char *line, struct sock_info *out);

struct sock_table {
    struct sock_info *v;
    size_t n, cap;
};

/* Reads every table of the process's network namespace. */
/* Reads the socket tables; returns how many of /proc/self/net's files
   could be read (0: sockets cannot be described). */
int netsock_load(struct sock_table *t);
const struct sock_info *netsock_find(const struct sock_table *t, unsigned long inode);
void netsock_free(struct sock_table *t);

#endif
