/*
 * users.h - user names for uids, read from /etc/passwd directly.
 *
 * getpwuid would go through NSS, which may load modules or ask LDAP or
 * sssd over the network; a report must do neither.
 */
#ifndef GMR_USERS_H
#define GMR_USERS_H

#include <stddef.h>
#include <sys/types.h>

/* Writes the name of uid into out, or "" if /etc/passwd does not say. */
const char *user_name(uid_t uid, char *out, size_t len);

#endif
