/*
 * package.c - what is running: executable, build-id, the Debian package
 * that installed it and its version, the C library and kernel, libgmr.
 * GMR_VERSION overrides the product and version for programs that know
 * better than dpkg ("VERSION" or "PRODUCT VERSION"). JSON key "package".
 */
#include "sections.h"

#include "base/dpkg.h"
#include "symbols/elf_image.h"

#include <gmr.h>
#include <gnu/libc-version.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/utsname.h>
#include <unistd.h>

#define DPKG_ADMINDIR "/var/lib/dpkg"

static void owner(struct emitter *e, const struct report *r, const char *exe)
{
    struct package_cache *pc = r->ctx->package;

    if (pc->state == 0)
        pc->state = dpkg_owner(DPKG_ADMINDIR, exe, pc->name, sizeof(pc->name), pc->version,
                               sizeof(pc->version)) == 0
                        ? 1
                        : -1;
    if (pc->state < 0) {
        emit_str(e, "deb_package", "(none: not installed by a Debian package)");
        return;
    }
    emit_str(e, "deb_package", pc->name);
    emit_str(e, "deb_version", pc->version[0] ? pc->version : "(unknown)");
}

/* GMR_VERSION: "PRODUCT VERSION", or just "VERSION" (product: the service). */
static void product(struct emitter *e, const struct report *r)
{
    const char *v = r->cfg->version, *space = strrchr(v, ' ');
    char name[128];

    if (!v[0])
        return;
    if (space) {
        snprintf(name, sizeof(name), "%.*s", (int)(space - v), v);
        emit_str(e, "product", name);
        emit_str(e, "version", space + 1);
    } else {
        emit_str(e, "product", r->ctx->service);
        emit_str(e, "version", v);
    }
}

/*
 * The executable's program headers (AT_PHDR) lie in its first segment,
 * mapped from file offset 0, whatever its load address: the image is read
 * from memory there, as for the Shared Objects.
 */
static const char *build_id(const struct report *r, char *out, size_t len)
{
    const struct mapping *m = maps_find(&r->cap.maps, (uintptr_t)getauxval(AT_PHDR));
    struct elf_image img;

    if (!r->mr || !m || elf_image_read(r->mr, m->start - (uintptr_t)m->offset, &img) != 0 ||
        !elf_image_build_id(&img, out, len)[0])
        return "(none)";
    return out;
}

void section_package(struct emitter *e, struct report *r)
{
    char exe[4096], id[129], kernel[300];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    struct utsname u;

    if (n > 0)
        exe[n] = '\0';
    else
        snprintf(exe, sizeof(exe), "(unknown)");
    e->ops->begin_section(e, "Package", "package");
    e->ops->begin_object(e, NULL, NULL, 0);
    product(e, r);
    emit_str(e, "executable", exe);
    emit_str(e, "build_id", build_id(r, id, sizeof(id)));
    if (n > 0)
        owner(e, r, exe);
    emit_str(e, "service", r->ctx->service);
    emit_str(e, "libc", gnu_get_libc_version());
    if (uname(&u) == 0) {
        snprintf(kernel, sizeof(kernel), "%s %s %s", u.sysname, u.release, u.machine);
        emit_str(e, "kernel", kernel);
    }
    emit_str(e, "libgmr", GMR_VERSION);
    e->ops->end_object(e);
    e->ops->end_section(e);
}
