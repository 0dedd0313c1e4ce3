/*
 * Unit tests of sdnotify: $NOTIFY_SOCKET messages (path and abstract
 * sockets) and the sockets of socket activation ($LISTEN_PID,
 * $LISTEN_FDS), put at fds 3 and 4 the way systemd does.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sdnotify.h"

/* A datagram socket bound to name ('@': abstract); its fd. */
static int
listener(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", name);
	len = sizeof(sun);
	if (name[0] == '@') {
		sun.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    strlen(name));
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, len), 0);
	return fd;
}

static void
expect_message(int fd, const char *want)
{
	char buf[512];
	ssize_t n;

	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void
test_notify_path(void **state)
{
	char dir[] = "/tmp/rr-test-sdnotify.XXXXXX", path[64];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = listener(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_true(sdnotify_init());
	/* Gone from the environment: children do not inherit it. */
	assert_null(getenv("NOTIFY_SOCKET"));
	assert_int_equal(sdnotify_send("READY=1\nMAINPID=%d", 42), 0);
	expect_message(fd, "READY=1\nMAINPID=42");
	assert_int_equal(sdnotify_send("STOPPING=1"), 0);
	expect_message(fd, "STOPPING=1");
	close(fd);
	unlink(path);
	/* Nobody listens any more: an error, not a crash. */
	assert_int_equal(sdnotify_send("STOPPING=1"), -1);
	rmdir(dir);
}

static void
test_notify_abstract(void **state)
{
	char name[64];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@rr-test-sdnotify-%d", (int)getpid());
	fd = listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_true(sdnotify_init());
	assert_int_equal(sdnotify_send("READY=1"), 0);
	expect_message(fd, "READY=1");
	close(fd);
}

static void
test_notify_none(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_false(sdnotify_init());
	assert_int_equal(sdnotify_send("READY=1"), 0);
	/* Not a path nor an abstract name: ignored, and unset all the same. */
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	assert_false(sdnotify_init());
	assert_null(getenv("NOTIFY_SOCKET"));
	assert_int_equal(sdnotify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "@", 1);
	assert_false(sdnotify_init());
}

static void
set_listen_env(long pid, int n)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", pid);
	setenv("LISTEN_PID", buf, 1);
	snprintf(buf, sizeof(buf), "%d", n);
	setenv("LISTEN_FDS", buf, 1);
	setenv("LISTEN_FDNAMES", "a:b", 1);
}

static void
assert_listen_env_gone(void)
{
	assert_null(getenv("LISTEN_PID"));
	assert_null(getenv("LISTEN_FDS"));
	assert_null(getenv("LISTEN_FDNAMES"));
}

/* A listening socket of family (AF_UNIX or AF_INET), moved to fd at. */
static void
listening_at(int family, int type, int at, const char *dir)
{
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	int fd;

	fd = socket(family, type, 0);
	assert_true(fd >= 0);
	if (family == AF_UNIX) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s%d", dir, at);
		unlink(sun.sun_path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)),
		    0);
	} else {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)),
		    0);
	}
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 4), 0);
	if (fd != at) {
		assert_int_equal(dup2(fd, at), at);
		close(fd);
	}
}

static void
test_listen_fds(void **state)
{
	char dir[] = "/tmp/rr-test-sdnotify.XXXXXX", path[64];
	struct sdnotify_fds fds;
	struct rrerr err;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));

	/* Nothing passed. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	assert_int_equal(sdnotify_listen_fds(&fds, &err), 0);
	assert_int_equal(fds.unix_fd, -1);
	assert_int_equal(fds.tcp_fd, -1);

	/* A unix and a TCP socket, in either order. */
	listening_at(AF_INET, SOCK_STREAM, 3, dir);
	listening_at(AF_UNIX, SOCK_STREAM, 4, dir);
	set_listen_env((long)getpid(), 2);
	assert_int_equal(sdnotify_listen_fds(&fds, &err), 0);
	assert_int_equal(fds.tcp_fd, 3);
	assert_int_equal(fds.unix_fd, 4);
	assert_true(fcntl(3, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(4, F_GETFD) & FD_CLOEXEC);
	assert_listen_env_gone();

	/* Another process's sockets (an ancestor's): not ours to take. */
	set_listen_env((long)getpid() + 1, 2);
	assert_int_equal(sdnotify_listen_fds(&fds, &err), 0);
	assert_int_equal(fds.unix_fd, -1);
	assert_int_equal(fds.tcp_fd, -1);
	assert_listen_env_gone();

	/* Two unix sockets. */
	listening_at(AF_UNIX, SOCK_STREAM, 3, dir);
	set_listen_env((long)getpid(), 2);
	assert_int_equal(sdnotify_listen_fds(&fds, &err), -1);
	assert_non_null(strstr(err.message, "fds 3 and 4 are both unix"));
	assert_int_equal(fds.unix_fd, -1);
	assert_listen_env_gone();

	/* A datagram socket, a stream socket that does not listen, a file. */
	listening_at(AF_INET, SOCK_DGRAM, 3, dir);
	set_listen_env((long)getpid(), 1);
	assert_int_equal(sdnotify_listen_fds(&fds, &err), -1);
	assert_non_null(
	    strstr(err.message, "fd 3 is not a listening stream socket"));
	close(3);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd != 3) {
		assert_int_equal(dup2(fd, 3), 3);
		close(fd);
	}
	set_listen_env((long)getpid(), 1);
	assert_int_equal(sdnotify_listen_fds(&fds, &err), -1);
	assert_non_null(
	    strstr(err.message, "fd 3 is not a listening stream socket"));
	close(3);
	snprintf(path, sizeof(path), "%s/file", dir);
	assert_int_equal(open(path, O_CREAT | O_RDWR, 0600), 3);
	set_listen_env((long)getpid(), 1);
	assert_int_equal(sdnotify_listen_fds(&fds, &err), -1);
	assert_non_null(strstr(err.message, "fd 3 is not a socket"));
	close(3);
	close(4);

	snprintf(path, sizeof(path), "%s/file", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/s3", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/s4", dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify_path),
		cmocka_unit_test(test_notify_abstract),
		cmocka_unit_test(test_notify_none),
		cmocka_unit_test(test_listen_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
