/*
 * configuration.c - how the process was started and how libgmr is set up.
 * JSON key "configuration": command_line (secrets masked), the config
 * file, and "settings" mapping each GMR_ variable to its value and source.
 */
#include "sections.h"

#include "../procfs.h"
#include "../redact.h"

#include <stdio.h>
#include <stdlib.h>

static void command_line(struct emitter *e, const struct report *r)
{
    size_t len = 0;
    char *args = procfs_slurp("/proc/self/cmdline", &len);
    struct buf line = {0};

    if (!args) {
        emit_str(e, "command_line", "(unreadable)");
        return;
    }
    redact_cmdline(r->cfg->redact, args, len, &line);
    emit_str(e, "command_line", buf_cstr(&line));
    buf_free(&line);
    free(args);
}

static void settings(struct emitter *e, const struct gmr_config *cfg)
{
    char value[512], shown[600];
    int k;

    e->ops->begin_object(e, "settings", NULL, 0);
    for (k = 0; k < CFG_COUNT; k++) {
        const char *src = config_source_name(cfg->source[k]);

        config_value_text(cfg, (enum cfg_key)k, value, sizeof(value));
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
    emit_str(e, "config_file", r->cfg->config_file[0] ? r->cfg->config_file : "(none)");
    settings(e, r->cfg);
    e->ops->end_object(e);
    e->ops->end_section(e);
}
