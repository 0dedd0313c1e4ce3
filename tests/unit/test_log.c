/*
 * Unit tests of log: the line format on stderr, and under journald
 * (JOURNAL_STREAM naming stderr) the "<N>" priority prefixes without the
 * doubled timestamp.  Each case runs in a child, whose stderr is a file:
 * log.c decides once per process whether stderr is the journal's.
 */
#include <sys/stat.h>
#include <sys/wait.h>

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
	assert_int_equal(strlen(buf), 3 * 21 + strlen("info a: running\n"
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
	assert_string_equal(buf, "<6>info a: running\n<4>warning b: 7\n"
	    "<7>debug c\n");
	/* JOURNAL_STREAM of another stream (inherited): not the journal. */
	logged(true, true, buf, sizeof(buf));
	assert_null(strchr(buf, '<'));
	assert_non_null(strstr(buf, "Z info a: running\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_journal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
