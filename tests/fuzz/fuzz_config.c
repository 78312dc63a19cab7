/*
 * fuzz_config.c - libFuzzer harness for the configuration parser and the
 * ini reader (make fuzz; a short run in make check).
 *
 * The input is read three ways: as an ini file, as an environment (one
 * NAME=VALUE per line), and as a signal name; every setting is then
 * checked together and printed back, which must not overrun anything
 * either.
 */
#include "base/config.h"
#include "base/signames.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void ignore(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

static void as_environment(struct gmr_config *cfg, const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1), **envp, *line;
    size_t n = 0, lines = 1, i;

    if (!copy)
        return;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (i = 0; i < size; i++)
        lines += copy[i] == '\n';
    envp = calloc(lines + 1, sizeof(*envp));
    for (line = copy; envp && line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        envp[n++] = line;
        line = nl ? nl + 1 : NULL;
    }
    if (envp)
        config_apply_env(cfg, envp, ignore, NULL);
    free(envp);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gmr_config cfg;
    char text[256], *name;
    int k;

    memset(&cfg, 0, sizeof(cfg));
    config_defaults(&cfg);
    config_apply_ini(&cfg, "fuzz.ini", (const char *)data, size, ignore, NULL);
    as_environment(&cfg, data, size);
    config_check(&cfg, ignore, NULL);
    if (config_output(&cfg) == OUTPUT_AUTO || (cfg.output == OUTPUT_FILES && !cfg.log_dir[0]))
        abort(); /* config_check leaves a setting that works */
    config_absolutize(&cfg, "/some/working/directory");
    for (k = 0; k < CFG_COUNT; k++)
        config_value_text(&cfg, (enum cfg_key)k, text, sizeof(text));
    name = strndup((const char *)data, size < 64 ? size : 64);
    if (name) {
        signal_parse(name);
        free(name);
    }
    return 0;
}
