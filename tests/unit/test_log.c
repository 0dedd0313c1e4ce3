/*
 * Unit tests of log: the line format on stderr, and under journald
 * (JOURNAL_STREAM naming stderr) the "<N>" priority prefixes without the
 * doubled timestamp; and to syslog(3) (daemon_log = syslog), read from a
 * /dev/log socket of the test's own in a private mount namespace (skipped
 * without the privilege to make one).  Each case runs in a child, whose
 * stderr is a file: log.c decides once per process whether stderr is the
 * journal's.
 */
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <sched.h>

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

#include "log.h"

/*
 * Log three lines in a child whose stderr is a new file, with
 * JOURNAL_STREAM "DEV:INO" of that file when journal, of another file
 * when stale; what the child wrote, in buf.
 */
static void
logged(bool journal, bool stale, char *buf, size_t len)
{
	char path[] = "/tmp/rrtest-log.XXXXXX";
	char other[] = "/tmp/rrtest-log2.XXXXXX";
	struct stat st;
	ssize_t n;
	pid_t pid;
	int fd, ofd, status;

	assert_true((fd = mkstemp(path)) != -1);
	assert_true((ofd = mkstemp(other)) != -1);
	if ((pid = fork()) == 0) {
		char env[64];

		dup2(fd, STDERR_FILENO);
		fstat(stale ? ofd : STDERR_FILENO, &st);
		snprintf(env, sizeof(env), "%llu:%llu",
		    (unsigned long long)st.st_dev,
		    (unsigned long long)st.st_ino);
		if (journal)
			setenv("JOURNAL_STREAM", env, 1);
		else
			unsetenv("JOURNAL_STREAM");
		log_set_debug(true);
		log_info("a: %s", "running");
		log_warnx("b: %d", 7);
		log_debug("c");
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	n = pread(fd, buf, len - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	close(ofd);
	unlink(path);
	unlink(other);
}

static void
test_plain(void **state)
{
	char buf[512];

	(void)state;
	logged(false, false, buf, sizeof(buf));
	/* "YYYY-MM-DDTHH:MM:SSZ level message". */
	assert_int_equal(strlen(buf),
	    3 * 21 +
		strlen("info a: running\n"
		       "warning b: 7\ndebug c\n"));
	assert_int_equal(buf[20], ' ');
	assert_memory_equal(buf + 21, "info a: running\n", 16);
	assert_non_null(strstr(buf, "Z warning b: 7\n"));
	assert_non_null(strstr(buf, "Z debug c\n"));
}

static void
test_journal(void **state)
{
	char buf[512];

	(void)state;
	logged(true, false, buf, sizeof(buf));
	assert_string_equal(buf,
	    "<6>info a: running\n<4>warning b: 7\n"
	    "<7>debug c\n");
	/* JOURNAL_STREAM of another stream (inherited): not the journal. */
	logged(true, true, buf, sizeof(buf));
	assert_null(strchr(buf, '<'));
	assert_non_null(strstr(buf, "Z info a: running\n"));
}

/*
 * In a child with its own /dev (a tmpfs in a new mount namespace) holding
 * a datagram socket at /dev/log: log to syslog, then back to stderr.  The
 * datagrams, one a line, in buf; stderr in ebuf.  false: no namespace.
 */
static bool
logged_syslog(char *buf, size_t len, char *ebuf, size_t elen)
{
	char path[] = "/tmp/rrtest-log.XXXXXX";
	char epath[] = "/tmp/rrtest-log2.XXXXXX";
	ssize_t n;
	pid_t pid;
	int fd, efd, status;

	assert_true((fd = mkstemp(path)) != -1);
	assert_true((efd = mkstemp(epath)) != -1);
	if ((pid = fork()) == 0) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		struct timeval tv = { 5, 0 };
		char dg[1024];
		int s, i;

		if (unshare(CLONE_NEWNS) == -1)
			_exit(77);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
		    mount("tmpfs", "/dev", "tmpfs", 0, "size=64k") == -1)
			_exit(77);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "/dev/log");
		if ((s = socket(AF_UNIX, SOCK_DGRAM, 0)) == -1 ||
		    bind(s, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
		    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ==
			-1)
			_exit(2);
		dup2(efd, STDERR_FILENO);
		unsetenv("JOURNAL_STREAM");
		log_set_debug(true);
		log_open_syslog();
		log_info("a: %s", "running");
		errno = ENOENT;
		log_warn("b: %d", 7);
		log_debug("c");
		for (i = 0; i < 3; i++) {
			if ((n = recv(s, dg, sizeof(dg) - 1, 0)) <= 0)
				_exit(3);
			dg[n] = '\n';
			if (write(fd, dg, (size_t)n + 1) != n + 1)
				_exit(4);
		}
		/* Back to stderr; nothing more reaches the socket. */
		assert_int_equal(log_open(NULL), 0);
		log_info("d");
		_exit(recv(s, dg, sizeof(dg), MSG_DONTWAIT) == -1 &&
			    errno == EAGAIN ?
			0 :
			5);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 77) {
		assert_int_equal(WEXITSTATUS(status), 0);
		n = pread(fd, buf, len - 1, 0);
		assert_true(n >= 0);
		buf[n] = '\0';
		n = pread(efd, ebuf, elen - 1, 0);
		assert_true(n >= 0);
		ebuf[n] = '\0';
	}
	close(fd);
	close(efd);
	unlink(path);
	unlink(epath);
	return WEXITSTATUS(status) != 77;
}

static void
test_syslog(void **state)
{
	char buf[2048], ebuf[512], *l2, *l3;

	(void)state;
	if (!logged_syslog(buf, sizeof(buf), ebuf, sizeof(ebuf)))
		skip();
	/* Facility daemon (3 << 3) plus the priority; syslog stamps it. */
	l2 = strchr(buf, '\n');
	assert_non_null(l2);
	*l2++ = '\0';
	l3 = strchr(l2, '\n');
	assert_non_null(l3);
	*l3++ = '\0';
	assert_memory_equal(buf, "<30>", 4);
	assert_non_null(strstr(buf, " rumprund["));
	assert_non_null(strstr(buf, "]: info a: running"));
	assert_memory_equal(l2, "<28>", 4);
	assert_non_null(strstr(l2,
	    "]: warning b: 7: No such file or "
	    "directory"));
	assert_memory_equal(l3, "<31>", 4);
	assert_non_null(strstr(l3, "]: debug c"));
	/* Only the line logged after log_open(NULL) is on stderr. */
	assert_int_equal(strlen(ebuf), 21 + strlen("info d\n"));
	assert_string_equal(ebuf + 21, "info d\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_journal),
		cmocka_unit_test(test_syslog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
