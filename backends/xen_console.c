/*
 * xen_console: the Xen backend's console copiers (see xen_console.h): one
 * thread per domain appends xenconsoled's pty to the console log, and
 * follows the domain to its new pty when xenconsoled is restarted.  One
 * reader per pty: another one (xl console) would take bytes from the log.
 *
 * ARCHITECTURE.md, "The Xen backend", Console, says what is kept and what
 * is lost while rumprund is down.
 */
#ifdef HAVE_XEN

#include "xen_console.h"
#include "xen_cfg.h"

#include <xenstore.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* A domain's console, copied to its console log by one thread. */
struct xen_console {
	uint32_t domid;
	int tty;     /* the pty, read-only */
	int log;     /* the console log, O_APPEND */
	int stop[2]; /* a byte in stop[1] ends the thread */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;	 /* the thread ended (under lock) */
	int64_t last_ms; /* last bytes read (under lock) */
};

/* Time and small helpers (xen.c has the same two). */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Absolute CLOCK_REALTIME deadline ms from now, for condition waits. */
static struct timespec
deadline_in(int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The reader thread. */

static void
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a full disk loses output, not us */
		buf += n;
		len -= (size_t)n;
	}
}

/* Raw mode on a console pty: xenconsoled's, and no echo into the guest. */
static void
make_raw(int tty)
{
	struct termios t;

	if (tcgetattr(tty, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(tty, TCSANOW, &t);
	}
}

/*
 * xenconsoled closed r's console while the domain may live on: it was
 * restarted.  The new xenconsoled writes the domain's console/tty again
 * (perhaps with the same path, and the old path may meanwhile be another
 * domain's pty): wait for that write with a watch of our own, and open the
 * pty it names.  Returns 0 with r->tty open, or -1 when the domain is gone
 * (the key removed), on a xenstore error, or when r is told to stop.
 */
static int
reader_reopen(struct xen_console *r)
{
	char path[XEN_CFG_PATH_MAX];
	struct xs_handle *xs;
	struct pollfd pfd[2];
	unsigned int n, len;
	char **ev, *tty;
	int events = 0, ret = -1;

	close_fd(&r->tty);
	if (!xen_cfg_path(r->domid, "console/tty", path, sizeof(path)) ||
	    (xs = xs_open(0)) == NULL)
		return -1;
	if (!xs_watch(xs, path, "tty"))
		goto out;
	for (;;) {
		pfd[0].fd = r->stop[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = xs_fileno(xs);
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (pfd[0].revents != 0)
			goto out;
		if ((ev = xs_read_watch(xs, &n)) == NULL)
			goto out;
		free(ev);
		if ((tty = xs_read(xs, XBT_NULL, path, &len)) == NULL)
			goto out; /* the domain is gone */
		/* The first event is the watch's own: the old value. */
		if (events++ == 0 || tty[0] == '\0' || strlen(tty) != len) {
			free(tty);
			continue;
		}
		r->tty = open(tty,
		    O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		free(tty);
		if (r->tty != -1) {
			make_raw(r->tty);
			ret = 0;
			goto out;
		}
	}
out:
	xs_close(xs);
	return ret;
}

static void *
reader_main(void *arg)
{
	struct xen_console *r = arg;
	struct pollfd pfd[2];
	char buf[4096];
	ssize_t n;

	for (;;) {
		pfd[0].fd = r->stop[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = r->tty;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* Told to stop: unread output stays in the pty. */
		if (pfd[0].revents != 0)
			break;
		n = read(r->tty, buf, sizeof(buf));
		if (n > 0) {
			write_all(r->log, buf, (size_t)n);
			pthread_mutex_lock(&r->lock);
			r->last_ms = now_ms();
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		/*
		 * EOF or EIO: xenconsoled closed the console, because the
		 * domain died, or because xenconsoled was restarted.
		 */
		if (reader_reopen(r) == -1)
			break;
	}
	pthread_mutex_lock(&r->lock);
	r->done = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void
reader_free(struct xen_console *r)
{
	close_fd(&r->tty);
	close_fd(&r->log);
	close_fd(&r->stop[0]);
	close_fd(&r->stop[1]);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

struct xen_console *
xen_console_start(uint32_t domid, const char *tty_path, const char *log_path,
    struct rrerr *err)
{
	struct xen_console *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	r->domid = domid;
	r->tty = r->log = r->stop[0] = r->stop[1] = -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->last_ms = now_ms();
	r->tty = open(tty_path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (r->tty == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL,
		    "cannot open the console %s: %s", tty_path,
		    strerror(errno));
		goto fail;
	}
	make_raw(r->tty);
	r->log = open(log_path,
	    O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (r->log == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "cannot open %s: %s",
		    log_path, strerror(errno));
		goto fail;
	}
	if (pipe2(r->stop, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    pthread_create(&r->thread, NULL, reader_main, r) != 0) {
		rrerr_set(err, RRERR_INTERNAL, NULL,
		    "cannot start the console reader: %s", strerror(errno));
		goto fail;
	}
	return r;
fail:
	reader_free(r);
	return NULL;
}

void
xen_console_wait_quiet(struct xen_console *r, int64_t quiet_ms, int64_t max_ms)
{
	int64_t end = now_ms() + max_ms;
	struct timespec ts;

	pthread_mutex_lock(&r->lock);
	while (!r->done) {
		int64_t idle = now_ms() - r->last_ms, wait;

		if (idle >= quiet_ms || now_ms() >= end)
			break;
		wait = quiet_ms - idle;
		if (wait > end - now_ms())
			wait = end - now_ms();
		ts = deadline_in(wait);
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	}
	pthread_mutex_unlock(&r->lock);
}

void
xen_console_stop(struct xen_console *r, int64_t wait_ms)
{
	struct timespec ts;
	ssize_t n;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	if (wait_ms > 0 && !r->done) {
		ts = deadline_in(wait_ms);
		while (!r->done &&
		    pthread_cond_timedwait(&r->cond, &r->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&r->lock);
	do
		n = write(r->stop[1], "", 1);
	while (n == -1 && errno == EINTR);
	pthread_join(r->thread, NULL);
	reader_free(r);
}

#endif /* HAVE_XEN */
