/*
 * retention.h - GMR_MAX_REPORTS: a service keeps at most that many report
 * files in its log dir, so a host in a crash-restart loop cannot fill a
 * disk.
 */
#ifndef GMR_RETENTION_H
#define GMR_RETENTION_H

/*
 * In the open directory `dir`, removes the oldest of the reports named
 * <safe_service>_gurumeditation_<YYYYMMDDHHMMSS>_<pid>[.<n>][.json] (any
 * pid: earlier runs of the service too) until at most `max` remain; 0
 * keeps all. Oldest: by the time in the name, then by mtime. Only regular
 * files with such names are removed, never `keep` (the report just
 * written), and nothing is followed.
 */
void retention_prune(int dir, const char *safe_service, int max, const char *keep);

#endif
