/*
 * dpkg.h - which Debian package installed a file, from dpkg's database.
 */
#ifndef GMR_DPKG_H
#define GMR_DPKG_H

#include <stddef.h>

/*
 * Looks `path` up in the file lists under `admindir` (/var/lib/dpkg):
 * first the lists named like the file (foo for /usr/bin/foo), then all of
 * them. With usrmerge, /usr/bin/x may be listed as /bin/x and the other
 * way round; both are tried. Files outside the trees packages install
 * into (/usr but not /usr/local, /bin, /sbin, /lib*, /opt, /etc) are not
 * looked for. Returns 0 with the package name and its installed version
 * (from `status`), or -1.
 */
int dpkg_owner(const char *admindir, const char *path, char *package, size_t plen, char *version,
               size_t vlen);

#endif
