/*
 * sdnotify: what rumprund says to systemd and takes from it, without
 * libsystemd.
 *
 * Readiness (sd_notify(3)): one datagram of "KEY=VALUE" lines, such as
 * "READY=1" or "STOPPING=1", to the AF_UNIX socket named by $NOTIFY_SOCKET
 * (a path, or an abstract name when it starts with '@').
 *
 * Socket activation (sd_listen_fds(3)): when $LISTEN_PID is our pid,
 * $LISTEN_FDS listening sockets start at fd 3 (SD_LISTEN_FDS_START).
 *
 * Both take their variables out of the environment, so that nothing
 * rumprund starts (libvirt's helpers inherit its environment) speaks to
 * systemd in its name or takes its sockets for its own.
 */
#ifndef SDNOTIFY_H
#define SDNOTIFY_H

#include <stdbool.h>

#include "rrerr.h"

#define SDNOTIFY_FDS_START 3

/*
 * Take $NOTIFY_SOCKET out of the environment and remember it for
 * sdnotify_send().  Returns whether there is one to talk to.
 */
bool sdnotify_init(void);

/*
 * Send one state message ("READY=1\nMAINPID=42") to the socket
 * sdnotify_init() found.  Returns 0, also when there is none (nobody
 * listens: nothing to say), or -1 with errno.
 */
int sdnotify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct sdnotify_fds {
	int unix_fd; /* a listening AF_UNIX stream socket, or -1 */
	int tcp_fd;  /* a listening AF_INET or AF_INET6 one, or -1 */
};

/*
 * Take the sockets systemd passed (at most one unix and one TCP listening
 * stream socket), mark them close-on-exec and unset LISTEN_PID, LISTEN_FDS
 * and LISTEN_FDNAMES.  No sockets for us is not an error: both fds are -1.
 * Returns 0, or -1 with err when a passed fd is something else; the fds
 * are then left open (they are not ours to judge).
 */
int sdnotify_listen_fds(struct sdnotify_fds *fds, struct rrerr *err);

#endif
