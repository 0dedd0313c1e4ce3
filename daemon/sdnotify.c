/*
 * sdnotify: systemd's notification and socket activation protocols (see
 * sdnotify.h).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdnotify.h"

/* The socket of $NOTIFY_SOCKET; len 0: none. */
static struct sockaddr_un notify_addr;
static socklen_t notify_len;

bool
sdnotify_init(void)
{
	const char *e = getenv("NOTIFY_SOCKET");
	size_t n;

	notify_len = 0;
	if (e == NULL)
		return false;
	n = strlen(e);
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	/* A path, or '@' for an abstract name (a leading NUL byte). */
	if ((e[0] == '/' || e[0] == '@') && n >= 2 &&
	    n < sizeof(notify_addr.sun_path)) {
		memcpy(notify_addr.sun_path, e, n);
		if (e[0] == '@') {
			notify_addr.sun_path[0] = '\0';
			notify_len = (socklen_t)(offsetof(struct sockaddr_un,
						     sun_path) +
			    n);
		} else
			notify_len = (socklen_t)sizeof(notify_addr);
	}
	unsetenv("NOTIFY_SOCKET");
	return notify_len != 0;
}

int
sdnotify_send(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	ssize_t n;
	int fd, len, saved;

	if (notify_len == 0)
		return 0;
	va_start(ap, fmt);
	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(msg)) {
		errno = EMSGSIZE;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	n = sendto(fd, msg, (size_t)len, MSG_NOSIGNAL,
	    (const struct sockaddr *)&notify_addr, notify_len);
	saved = errno;
	close(fd);
	if (n != (ssize_t)len) {
		errno = n == -1 ? saved : EMSGSIZE;
		return -1;
	}
	return 0;
}

/* A whole positive number from s, or -1. */
static long
number(const char *s)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return v;
}

static void
unset_listen_env(void)
{
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

/* Put fd into fds by its family; -1 with err if it cannot be served. */
static int
take(struct sdnotify_fds *fds, int fd, struct rrerr *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int type = 0, listening = 0, *slot;

	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1)
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "socket activation: fd %d is not a socket: %s", fd,
		    strerror(errno));
	len = sizeof(listening);
	if (type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == -1 ||
	    !listening)
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "socket activation: fd %d is not a listening stream socket "
		    "(ListenStream= in the .socket unit, Accept=no)",
		    fd);
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "socket activation: fd %d: %s", fd, strerror(errno));
	switch (ss.ss_family) {
	case AF_UNIX:
		slot = &fds->unix_fd;
		break;
	case AF_INET:
	case AF_INET6:
		slot = &fds->tcp_fd;
		break;
	default:
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "socket activation: fd %d is neither a unix nor a TCP "
		    "socket",
		    fd);
	}
	if (*slot != -1)
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "socket activation: fds %d and %d are both %s sockets; "
		    "rumprund serves one of each",
		    *slot, fd, ss.ss_family == AF_UNIX ? "unix" : "TCP");
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "socket activation: fd %d: %s", fd, strerror(errno));
	*slot = fd;
	return 0;
}

int
sdnotify_listen_fds(struct sdnotify_fds *fds, struct rrerr *err)
{
	long pid, n, i;

	fds->unix_fd = fds->tcp_fd = -1;
	pid = number(getenv("LISTEN_PID"));
	n = number(getenv("LISTEN_FDS"));
	unset_listen_env();
	/* Not for us (an ancestor's), or nothing passed. */
	if (pid != (long)getpid() || n <= 0)
		return 0;
	if (n > INT_MAX - SDNOTIFY_FDS_START)
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "socket activation: LISTEN_FDS=%ld", n);
	for (i = 0; i < n; i++) {
		if (take(fds, SDNOTIFY_FDS_START + (int)i, err) == -1) {
			fds->unix_fd = fds->tcp_fd = -1;
			return -1;
		}
	}
	return 0;
}
