/*
 * log: the daemon's own log (see log.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;		/* NULL: stderr */
static char *log_path;
static bool log_debug_on;

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
	pthread_mutex_unlock(&log_lock);
	return 0;
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

static void __attribute__((format(printf, 2, 0)))
vlog(const char *level, const char *fmt, va_list ap, const char *suffix)
{
	char stamp[32];
	struct tm tm;
	time_t now;
	FILE *f;

	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	pthread_mutex_lock(&log_lock);
	f = log_file != NULL ? log_file : stderr;
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
	vlog("warning", fmt, ap, e);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("warning", fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("info", fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	vlog("debug", fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	const char *e = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal", fmt, ap, e);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal", fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
