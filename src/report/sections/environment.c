/*
 * environment.c - the environment the process started with, from
 * /proc/self/environ, values masked where the name matches GMR_REDACT.
 * JSON key "environment": an object of name -> value.
 *
 * Why /proc and not environ: another thread may be calling setenv while
 * we read, and glibc frees the old array under our feet; /proc is a copy.
 */
#include "sections.h"

#include "base/procfs.h"
#include "base/redact.h"

#include <stdlib.h>
#include <string.h>

void section_environment(struct emitter *e, struct report *r)
{
    size_t len = 0, pos = 0;
    char *env = procfs_slurp("/proc/self/environ", &len);

    e->ops->begin_section(e, "Environment", "environment");
    e->ops->begin_object(e, NULL, NULL, 0);
    if (!env)
        e->ops->text(e, "note: /proc/self/environ could not be read");
    while (env && pos < len) {
        char *var = env + pos, *eq;
        size_t vlen = strnlen(var, len - pos);

        pos += vlen + 1;
        var[vlen] = '\0';
        eq = strchr(var, '=');
        if (!eq || eq == var)
            continue;
        *eq = '\0';
        emit_str(e, var,
                 redact_name(config_redact(r->cfg), var, (size_t)(eq - var)) ? REDACTED : eq + 1);
    }
    e->ops->end_object(e);
    e->ops->end_section(e);
    free(env);
}
