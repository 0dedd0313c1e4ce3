/*
 * log: the daemon's own log (not guests' consoles).
 *
 * Five verbs, OpenBSD style: log_warn appends strerror(errno), log_warnx
 * does not; log_info and log_debug; fatal and fatalx log and exit(1).
 * Messages about one instance start with its name.  Lines go to stderr, or
 * to the file given to log_open() (reopened by log_reopen() on SIGHUP),
 * each with a UTC timestamp and level.  When stderr is journald's
 * (JOURNAL_STREAM, under systemd), a line starts with its priority as
 * "<N>" instead of the timestamp (journald adds its own): fatal 2,
 * warning 4, info 6, debug 7.  After log_open_syslog(), lines go to
 * syslog(3) instead (facility daemon, ident "rumprund", the same
 * priorities), as "LEVEL MESSAGE".  Thread-safe.
 */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>

/* Log to path (append) instead of stderr; NULL: stderr.  -1 on error. */
int log_open(const char *path);
int log_reopen(void);
/* Log to syslog(3) from now on (until log_open()); connects at once. */
void log_open_syslog(void);
void log_set_debug(bool on);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
