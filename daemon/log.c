/*
 * log: the daemon's own log (see log.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file; /* NULL: stderr */
static char *log_path;
static bool log_debug_on;
static int log_journal = -1; /* stderr is journald's: -1 not known yet */
static bool log_syslog;	     /* lines go to syslog(3) */

/*
 * Whether stderr is the stream journald gave us: JOURNAL_STREAM is
 * "DEV:INO" of it (systemd.exec(5)), and it must still be our stderr (not
 * inherited by a child whose stderr went elsewhere).
 */
static bool
stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

int
log_open(const char *path)
{
	FILE *f = NULL;
	char *p = NULL;

	if (path != NULL) {
		if ((p = strdup(path)) == NULL)
			return -1;
		if ((f = fopen(path, "ae")) == NULL) {
			free(p);
			return -1;
		}
		setvbuf(f, NULL, _IOLBF, 0);
	}
	pthread_mutex_lock(&log_lock);
	if (log_file != NULL)
		fclose(log_file);
	free(log_path);
	log_file = f;
	log_path = p;
	if (log_syslog)
		closelog();
	log_syslog = false;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void
log_open_syslog(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_file != NULL)
		fclose(log_file);
	free(log_path);
	log_file = NULL;
	log_path = NULL;
	/* LOG_NDELAY: connect now, at start, not at the first line. */
	openlog("rumprund", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = true;
	pthread_mutex_unlock(&log_lock);
}

int
log_reopen(void)
{
	char *path;
	int rv;

	pthread_mutex_lock(&log_lock);
	path = log_path != NULL ? strdup(log_path) : NULL;
	pthread_mutex_unlock(&log_lock);
	if (path == NULL)
		return 0;
	rv = log_open(path);
	free(path);
	return rv;
}

void
log_set_debug(bool on)
{
	log_debug_on = on;
}

/*
 * One line: "STAMP LEVEL MESSAGE".  To journald (stderr, JOURNAL_STREAM),
 * "<N>LEVEL MESSAGE" instead: the priority as sd-daemon(3) prefixes, and
 * no timestamp, which the journal adds itself.  To syslog(3), "LEVEL
 * MESSAGE" at priority prio (the syslogd stamps it).
 */
static void __attribute__((format(printf, 3, 0))) vlog(int prio,
    const char *level, const char *fmt, va_list ap, const char *suffix)
{
	char stamp[32];
	struct tm tm;
	time_t now;
	FILE *f;

	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	pthread_mutex_lock(&log_lock);
	if (log_syslog) {
		char *msg = NULL;

		if (vasprintf(&msg, fmt, ap) == -1)
			msg = NULL;
		syslog(prio, "%s %s%s%s", level, msg != NULL ? msg : fmt,
		    suffix != NULL ? ": " : "", suffix != NULL ? suffix : "");
		free(msg);
		pthread_mutex_unlock(&log_lock);
		return;
	}
	f = log_file != NULL ? log_file : stderr;
	if (log_journal == -1)
		log_journal = stderr_is_journal();
	if (f == stderr && log_journal)
		fprintf(f, "<%d>%s ", prio, level);
	else
		fprintf(f, "%s %s ", stamp, level);
	vfprintf(f, fmt, ap);
	if (suffix != NULL)
		fprintf(f, ": %s", suffix);
	fputc('\n', f);
	fflush(f);
	pthread_mutex_unlock(&log_lock);
}

void
log_warn(const char *fmt, ...)
{
	const char *e = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(4, "warning", fmt, ap, e);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(4, "warning", fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(6, "info", fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	vlog(7, "debug", fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	const char *e = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(2, "fatal", fmt, ap, e);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(2, "fatal", fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
