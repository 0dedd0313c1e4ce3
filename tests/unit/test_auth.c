/*
 * Unit tests of auth: the token file, bearer tokens, the rule for TCP
 * listeners, and messages that name rumprund.conf's line.  (TLS files are
 * checked end to end, tests/e2e/test_tls.py, with certificates made by
 * openssl.)
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "config.h"
#include "rrerr.h"

static char dir[] = "/tmp/rr-test-auth.XXXXXX";

static const char *
path_of(const char *name)
{
	static char buf[4][128];
	static unsigned int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

static void
write_file(const char *name, const char *text, mode_t mode)
{
	FILE *f = fopen(path_of(name), "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path_of(name), mode), 0);
}

/* Load a rumprund.conf of text into cfg; then auth_load(). */
static struct auth *
load(struct config *cfg, const char *text, struct rrerr *err)
{
	write_file("rumprund.conf", text, 0644);
	config_defaults(cfg);
	assert_int_equal(config_load(cfg, path_of("rumprund.conf"), true, err),
	    0);
	return auth_load(cfg, err);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path_of("rumprund.conf"));
	unlink(path_of("tokens"));
	return rmdir(dir);
}

static void
test_bearer(void **state)
{
	struct config cfg;
	struct rrerr err;
	struct auth *a;
	char conf[256];

	(void)state;
	write_file("tokens",
	    "# the tokens\n"
	    "first-token-0123456789\n"
	    "\n"
	    "  second.token_with~all+chars/=  # a comment\r\n",
	    0600);
	snprintf(conf, sizeof(conf), "# x\ntoken_file = %s\n",
	    path_of("tokens"));
	a = load(&cfg, conf, &err);
	assert_non_null(a);
	assert_true(auth_has_tokens(a));
	/* The line of the token, for the log. */
	assert_int_equal(auth_bearer("Bearer first-token-0123456789", a), 2);
	assert_int_equal(auth_bearer("bearer \t second.token_with~all+chars/=",
			     a),
	    4);
	assert_int_equal(auth_bearer("BEARER first-token-0123456789  ", a), 2);
	assert_int_equal(auth_bearer(NULL, a), -1);
	assert_int_equal(auth_bearer("", a), -1);
	assert_int_equal(auth_bearer("Bearer", a), -1);
	assert_int_equal(auth_bearer("Bearer ", a), -1);
	assert_int_equal(auth_bearer("Bearerfirst-token-0123456789", a), -1);
	assert_int_equal(auth_bearer("Basic first-token-0123456789", a), -1);
	assert_int_equal(auth_bearer("Bearer first-token-012345678", a), -1);
	assert_int_equal(auth_bearer("Bearer first-token-01234567890", a), -1);
	assert_int_equal(auth_bearer("Bearer First-token-0123456789", a), -1);
	/* A comment is no token. */
	assert_int_equal(auth_bearer("Bearer # the tokens", a), -1);
	assert_null(auth_tls_cert(a));

	/* SIGHUP: the new file replaces the old tokens... */
	write_file("tokens", "third-token-0123456789\n", 0600);
	assert_int_equal(auth_reload_tokens(a, &err), 0);
	assert_int_equal(auth_bearer("Bearer first-token-0123456789", a), -1);
	assert_int_equal(auth_bearer("Bearer third-token-0123456789", a), 1);
	/* ...unless it is wrong: then they stay. */
	write_file("tokens", "tiny\n", 0600);
	assert_int_equal(auth_reload_tokens(a, &err), -1);
	assert_non_null(strstr(err.message, "rumprund.conf:2: token_file: "));
	assert_non_null(strstr(err.message, "tokens:1: a token has 16 to"));
	assert_int_equal(auth_bearer("Bearer third-token-0123456789", a), 1);
	auth_free(a);
	config_free(&cfg);

	/* No token_file: everyone passes (0), the listener asks nobody. */
	a = load(&cfg, "# nothing\n", &err);
	assert_non_null(a);
	assert_false(auth_has_tokens(a));
	assert_int_equal(auth_bearer(NULL, a), 0);
	assert_int_equal(auth_reload_tokens(a, &err), 0);
	auth_free(a);
	config_free(&cfg);
	auth_free(NULL);
}

static void
expect_load_error(const char *conf, const char *tokens, mode_t mode,
    const char *want)
{
	struct config cfg;
	struct rrerr err;
	char text[512];
	size_t n = 0;

	if (tokens != NULL)
		write_file("tokens", tokens, mode);
	/* '@' in conf stands for the token file. */
	for (; *conf != '\0' && n + 128 < sizeof(text); conf++) {
		if (*conf == '@')
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s",
			    path_of("tokens"));
		else
			text[n++] = *conf;
	}
	text[n] = '\0';
	assert_null(load(&cfg, text, &err));
	if (strstr(err.message, want) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", err.message, want);
	config_free(&cfg);
}

static void
test_load_errors(void **state)
{
	(void)state;
	expect_load_error("\n\ntoken_file = @\n", "x-0123456789abcdef\n", 0604,
	    "rumprund.conf:3: token_file: ");
	expect_load_error("\n\ntoken_file = @\n", "x-0123456789abcdef\n", 0604,
	    "may be read or written by others (mode 0604)");
	expect_load_error("token_file = @\n", "# empty\n\n", 0600,
	    "holds no token");
	expect_load_error("token_file = @\n", "two words-0123456789\n", 0600,
	    "tokens:1: a token is one word");
	expect_load_error("token_file = @\n", "ok-0123456789abcdef\nshort\n",
	    0600, "tokens:2: a token has 16");
	expect_load_error("token_file = /nonexistent-rr-test/tokens\n", NULL, 0,
	    "rumprund.conf:1: token_file: ");
	expect_load_error("token_file = /nonexistent-rr-test/tokens\n", NULL, 0,
	    "No such file or directory");
	expect_load_error("#\ntls_cert = /x/cert.pem\n", NULL, 0,
	    "rumprund.conf:2: tls_cert: needs tls_key too");
	expect_load_error("tls_key = /x/key.pem\n", NULL, 0,
	    "rumprund.conf:1: tls_key: needs tls_cert too");
	expect_load_error("tls_client_ca = /x/ca.pem\n", NULL, 0,
	    "rumprund.conf:1: tls_client_ca: needs tls_cert and tls_key");
	expect_load_error("tls_cert = /tmp\ntls_key = /tmp\n", NULL, 0,
	    "/tmp is not a file");
}

/* daemon_log takes a path or "syslog"; stop_timeout is 0 by default. */
static void
test_config_daemon_log(void **state)
{
	struct config cfg;
	struct rrerr err;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.stop_timeout, 0);
	write_file("rumprund.conf", "daemon_log = syslog\n", 0644);
	assert_int_equal(config_load(&cfg, path_of("rumprund.conf"), true,
			     &err),
	    0);
	assert_string_equal(cfg.daemon_log, "syslog");
	config_free(&cfg);
	config_defaults(&cfg);
	write_file("rumprund.conf", "\ndaemon_log = syslog.log\n", 0644);
	assert_int_equal(config_load(&cfg, path_of("rumprund.conf"), true,
			     &err),
	    -1);
	if (strstr(err.message,
		"rumprund.conf:2: daemon_log: must be an "
		"absolute path") == NULL)
		fail_msg("\"%s\"", err.message);
	config_free(&cfg);
}

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else {
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr),
		    1);
		sin6->sin6_family = AF_INET6;
	}
	return ss;
}

static bool
loopback(const char *text)
{
	struct sockaddr_storage ss = addr(text);

	return auth_is_loopback((struct sockaddr *)&ss);
}

static int
check(const struct auth *a, const char *text, struct rrerr *err)
{
	struct sockaddr_storage ss = addr(text);

	return auth_check_tcp(a, (struct sockaddr *)&ss, "here: tcp", err);
}

static void
test_tcp_rule(void **state)
{
	struct config cfg;
	struct rrerr err;
	struct auth *a;
	char conf[256];

	(void)state;
	assert_true(loopback("127.0.0.1"));
	assert_true(loopback("127.200.1.2"));
	assert_true(loopback("::1"));
	assert_true(loopback("::ffff:127.0.0.1"));
	assert_false(loopback("0.0.0.0"));
	assert_false(loopback("::"));
	assert_false(loopback("10.1.2.3"));
	assert_false(loopback("128.0.0.1"));
	assert_false(loopback("::ffff:10.0.0.1"));
	assert_false(loopback("::2"));

	/* Nothing authenticates clients: refused, whatever the address. */
	a = load(&cfg, "# x\n", &err);
	assert_non_null(a);
	assert_int_equal(check(a, "127.0.0.1", &err), -1);
	assert_non_null(strstr(err.message,
	    "here: tcp: nothing "
	    "authenticates TCP clients"));
	assert_int_equal(check(a, "0.0.0.0", &err), -1);
	auth_free(a);
	config_free(&cfg);

	/* tcp_insecure: on loopback only. */
	a = load(&cfg, "tcp_insecure = yes\n", &err);
	assert_non_null(a);
	assert_int_equal(check(a, "127.0.0.1", &err), 0);
	assert_int_equal(check(a, "::1", &err), 0);
	assert_int_equal(check(a, "0.0.0.0", &err), -1);
	assert_non_null(strstr(err.message,
	    "here: tcp: tcp_insecure = yes "
	    "serves loopback addresses only (127.0.0.0/8, [::1]), not "
	    "0.0.0.0"));
	assert_int_equal(check(a, "::", &err), -1);
	assert_non_null(strstr(err.message, "not ::"));
	auth_free(a);
	config_free(&cfg);

	/* Tokens without TLS: on loopback only, insecure or not. */
	write_file("tokens", "ok-0123456789abcdef\n", 0600);
	snprintf(conf, sizeof(conf), "token_file = %s\ntcp_insecure = yes\n",
	    path_of("tokens"));
	a = load(&cfg, conf, &err);
	assert_non_null(a);
	assert_int_equal(check(a, "127.0.0.1", &err), 0);
	assert_int_equal(check(a, "192.0.2.1", &err), -1);
	assert_non_null(strstr(err.message,
	    "plain HTTP (no tls_cert and "
	    "tls_key) is served on loopback addresses only, not 192.0.2.1"));
	auth_free(a);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_config_daemon_log),
		cmocka_unit_test(test_tcp_rule),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
