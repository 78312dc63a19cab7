/*
 * users.c - uid to name through /etc/passwd ("name:x:uid:gid:...").
 */
#include "users.h"

#include "procfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *user_name(uid_t uid, char *out, size_t len)
{
    char *text = procfs_slurp("/etc/passwd", NULL), *line;

    out[0] = '\0';
    for (line = text; line && *line;) {
        char *nl = strchr(line, '\n'), *c1 = strchr(line, ':'), *c2;

        if (nl)
            *nl = '\0';
        c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c1 && c2 && strtoul(c2 + 1, NULL, 10) == uid && c2[1] >= '0' && c2[1] <= '9') {
            snprintf(out, len, "%.*s", (int)(c1 - line), line);
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return out;
}
