/*
 * netsock.c - /proc/net tables.
 *
 * inet lines:  "  0: 0100007F:2BCB 00000000:0000 0A 00000000:00000000 ... INODE ..."
 * The address is the kernel's 32-bit words printed in hex in host order
 * (little-endian here), so the bytes of each word come out reversed; the
 * port is a plain big-endian number. unix lines:
 *   "Num RefCount Protocol Flags Type St Inode Path".
 */
#include "netsock.h"

#include "procfs.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tcp_states[] = {
    "",          "ESTABLISHED", "SYN_SENT",   "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
    "TIME_WAIT", "CLOSE",       "CLOSE_WAIT", "LAST_ACK", "LISTEN",    "CLOSING",
};

/* Hex address and port ("0100007F:2BCB") to "127.0.0.1:11211". */
static int address(const char *hex, int v6, char *out, size_t len)
{
    unsigned char bytes[16];
    char ip[INET6_ADDRSTRLEN];
    size_t words = v6 ? 4 : 1, w, i;
    unsigned port;

    for (w = 0; w < words; w++) {
        unsigned word;
        if (sscanf(hex + w * 8, "%8x", &word) != 1)
            return -1;
        for (i = 0; i < 4; i++) /* host order, little-endian */
            bytes[w * 4 + i] = (unsigned char)(word >> (8 * i));
    }
    if (hex[words * 8] != ':' || sscanf(hex + words * 8 + 1, "%x", &port) != 1)
        return -1;
    if (!inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, ip, sizeof(ip)))
        return -1;
    snprintf(out, len, v6 ? "[%s]:%u" : "%s:%u", ip, port);
    return 0;
}

int netsock_parse_inet(const char *line, const char *proto, int v6, struct sock_info *out)
{
    char local[80], remote[80];
    unsigned state;
    unsigned long inode;

    memset(out, 0, sizeof(*out));
    if (sscanf(line, " %*d: %79s %79s %x %*s %*s %*s %*u %*u %lu", local, remote, &state, &inode) !=
        4)
        return -1;
    if (address(local, v6, out->local, sizeof(out->local)) < 0 ||
        address(remote, v6, out->remote, sizeof(out->remote)) < 0)
        return -1;
    out->inode = inode;
    snprintf(out->proto, sizeof(out->proto), "%s", proto);
    if (!strncmp(proto, "tcp", 3) && state < sizeof(tcp_states) / sizeof(tcp_states[0]))
        snprintf(out->state, sizeof(out->state), "%s", tcp_states[state]);
    else if (!strncmp(proto, "udp", 3) && state == 7)
        snprintf(out->state, sizeof(out->state), "UNCONNECTED");
    else if (!strncmp(proto, "udp", 3) && state == 1)
        snprintf(out->state, sizeof(out->state), "CONNECTED");
    if (!strcmp(out->remote, "0.0.0.0:0") || !strcmp(out->remote, "[::]:0"))
        out->remote[0] = '\0';
    return 0;
}

int netsock_parse_unix(const char *line, struct sock_info *out)
{
    unsigned type, st;
    unsigned long inode;
    int path_at = 0;

    memset(out, 0, sizeof(*out));
    if (sscanf(line, "%*x: %*x %*x %*x %x %x %lu %n", &type, &st, &inode, &path_at) != 3)
        return -1;
    out->inode = inode;
    snprintf(out->proto, sizeof(out->proto), "unix");
    snprintf(out->state, sizeof(out->state), "%s",
             type == 1   ? "STREAM"
             : type == 2 ? "DGRAM"
             : type == 5 ? "SEQPACKET"
                         : "?");
    if (path_at > 0)
        snprintf(out->local, sizeof(out->local), "%.*s", (int)strcspn(line + path_at, "\n"),
                 line + path_at);
    if (st == 3)
        snprintf(out->remote, sizeof(out->remote), "(connected)");
    return 0;
}

static void add(struct sock_table *t, const struct sock_info *s)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct sock_info *grown = realloc(t->v, cap * sizeof(*grown));
        if (!grown)
            return;
        t->v = grown;
        t->cap = cap;
    }
    t->v[t->n++] = *s;
}

/* Returns 1 if the file could be read (IPv6 files are missing without
   IPv6, so no single file is required), else 0. */
static int load_file(struct sock_table *t, const char *name, const char *proto, int v6)
{
    char path[64], *text, *line, *next;
    struct sock_info s;

    snprintf(path, sizeof(path), "/proc/self/net/%s", name);
    text = procfs_slurp(path, NULL);
    if (!text)
        return 0;
    line = strchr(text, '\n'); /* skip the header */
    for (line = line ? line + 1 : NULL; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if ((proto ? netsock_parse_inet(line, proto, v6, &s) : netsock_parse_unix(line, &s)) == 0)
            add(t, &s);
        if (!next)
            break;
    }
    free(text);
    return 1;
}

static int cmp_inode(const void *a, const void *b)
{
    const struct sock_info *x = a, *y = b;

    return (x->inode > y->inode) - (x->inode < y->inode);
}

int netsock_load(struct sock_table *t)
{
    int read = 0;

    memset(t, 0, sizeof(*t));
    read += load_file(t, "tcp", "tcp", 0);
    read += load_file(t, "tcp6", "tcp6", 1);
    read += load_file(t, "udp", "udp", 0);
    read += load_file(t, "udp6", "udp6", 1);
    read += load_file(t, "raw", "raw", 0);
    read += load_file(t, "raw6", "raw6", 1);
    read += load_file(t, "unix", NULL, 0);
    if (t->n)
        qsort(t->v, t->n, sizeof(t->v[0]), cmp_inode);
    return read;
}

const struct sock_info *netsock_find(const struct sock_table *t, unsigned long inode)
{
    struct sock_info key;

    if (!t->n)
        return NULL;
    key.inode = inode;
    return bsearch(&key, t->v, t->n, sizeof(t->v[0]), cmp_inode);
}

void netsock_free(struct sock_table *t)
{
    free(t->v);
    memset(t, 0, sizeof(*t));
}
