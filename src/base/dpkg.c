/*
 * dpkg.c - find a file's package in /var/lib/dpkg/info/<pkg>[:<arch>].list
 * (one installed path per line) and its version in /var/lib/dpkg/status
 * (stanzas of "Field: value" lines separated by blank lines).
 *
 * A full search reads every list, tens of MiB on a large system (about
 * 20 ms with a warm page cache here, 140 ms cold); the caller caches the
 * answer for the life of the process.
 */
#include "dpkg.h"

#include "procfs.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Does a list (text) hold `path` as a whole line? */
static int lists(const char *text, const char *path)
{
    size_t n = strlen(path);
    const char *p = text;

    while ((p = strstr(p, path))) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}

struct wanted {
    char paths[2][4096];
    int n;
};

static int list_has(const char *admindir, const char *file, const struct wanted *w)
{
    char path[4600];
    char *text;
    int i, found = 0;

    snprintf(path, sizeof(path), "%s/info/%s", admindir, file);
    text = procfs_slurp(path, NULL);
    for (i = 0; text && i < w->n && !found; i++)
        found = lists(text, w->paths[i]);
    free(text);
    return found;
}

/* "foo.list" or "foo:amd64.list" -> "foo". */
static void package_of(const char *list, char *out, size_t len)
{
    size_t n = strcspn(list, ":");

    if (n > strlen(list) - 5)
        n = strlen(list) - 5;
    snprintf(out, len, "%.*s", (int)n, list);
}

static int is_list(const char *name)
{
    size_t n = strlen(name);

    return n > 5 && !strcmp(name + n - 5, ".list");
}

/* Searches the lists; a list named like the file is tried first. */
static int search(const char *admindir, const struct wanted *w, const char *base, char *pkg,
                  size_t plen)
{
    char dir[4200];
    struct dirent *d;
    int pass, found = 0;
    size_t blen = strlen(base);

    snprintf(dir, sizeof(dir), "%s/info", admindir);
    for (pass = 0; pass < 2 && !found; pass++) {
        DIR *dp = opendir(dir);
        if (!dp)
            return -1;
        while (!found && (d = readdir(dp))) {
            int named = !strncmp(d->d_name, base, blen) &&
                        (d->d_name[blen] == '.' || d->d_name[blen] == ':');
            if (!is_list(d->d_name) || named != !pass)
                continue;
            if (list_has(admindir, d->d_name, w)) {
                package_of(d->d_name, pkg, plen);
                found = 1;
            }
        }
        closedir(dp);
    }
    return found ? 0 : -1;
}

static void find_version(const char *admindir, const char *pkg, char *version, size_t vlen)
{
    char path[4200], needle[300];
    char *text, *stanza, *v;

    version[0] = '\0';
    snprintf(path, sizeof(path), "%s/status", admindir);
    text = procfs_slurp(path, NULL);
    if (!text)
        return;
    snprintf(needle, sizeof(needle), "Package: %s\n", pkg);
    for (stanza = text; (stanza = strstr(stanza, needle)); stanza++) {
        char *end = strstr(stanza, "\n\n");
        if (stanza != text && stanza[-1] != '\n')
            continue;
        if (end)
            *end = '\0';
        v = strstr(stanza, "\nVersion: ");
        if (v && strstr(stanza, "\nStatus: install ok installed")) {
            v += 10;
            snprintf(version, vlen, "%.*s", (int)strcspn(v, "\n"), v);
            break;
        }
        if (!end)
            break;
        *end = '\n';
    }
    free(text);
}

/* Only these trees hold files packages install; Debian's policy keeps
   them out of /usr/local, and nothing under /home or /tmp is a package's.
   A program elsewhere needs no search through tens of MiB of lists. */
static int packaged_tree(const char *path)
{
    static const char *const trees[] = {"/usr/", "/bin/", "/sbin/", "/lib", "/opt/", "/etc/"};
    size_t i;

    if (!strncmp(path, "/usr/local/", 11))
        return 0;
    for (i = 0; i < sizeof(trees) / sizeof(trees[0]); i++)
        if (!strncmp(path, trees[i], strlen(trees[i])))
            return 1;
    return 0;
}

int dpkg_owner(const char *admindir, const char *path, char *package, size_t plen, char *version,
               size_t vlen)
{
    struct wanted w;
    const char *base = strrchr(path, '/');

    if (!packaged_tree(path))
        return -1;
    w.n = 0;
    snprintf(w.paths[w.n++], sizeof(w.paths[0]), "%s", path);
    if (!strncmp(path, "/usr/", 5))
        snprintf(w.paths[w.n++], sizeof(w.paths[0]), "%s", path + 4);
    else if (path[0] == '/')
        snprintf(w.paths[w.n++], sizeof(w.paths[0]), "/usr%s", path);
    if (search(admindir, &w, base ? base + 1 : path, package, plen) < 0)
        return -1;
    find_version(admindir, package, version, vlen);
    return 0;
}
