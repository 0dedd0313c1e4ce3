/*
 * rumprund: the entry point.
 *
 * Reads the options and rumprund.conf, then either checks something and
 * exits (-n: the configuration; -C: a launch request, printing the
 * configuration its guest would receive) or runs the daemon: one libuv
 * loop that owns the engine (daemon/engine.c) and the HTTP server
 * (api/httpd.c, api/routes.c).
 *
 * The composition root: the one file that includes the core (daemon/), the
 * API (api/) and the backends' tables, and puts them together; it lives
 * outside daemon/ so that the core includes neither (ARCHITECTURE.md).
 *
 * Signals: SIGTERM and SIGINT stop accepting requests, let backend calls in
 * flight finish, leave every guest running and exit 0.  SIGHUP reopens the
 * daemon's log file and rereads token_file.
 *
 * Under systemd (daemon/sdnotify.c): sockets passed by socket activation
 * are served instead of binding the configured ones; READY=1 goes to
 * $NOTIFY_SOCKET once the API is served, STOPPING=1 on SIGTERM.  The unit
 * runs "rumprund -d" (Type=notify wants the process it started).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "auth.h"
#include "backend.h"
#include "config.h"
#include "engine.h"
#include "fsutil.h"
#include "imgstore.h"
#include "httpd.h"
#include "kvm.h"
#include "log.h"
#include "routes.h"
#include "rrerr.h"
#include "guestconf.h"
#include "sbuf.h"
#include "sdnotify.h"
#include "spec.h"
#include "version.h"
#include "xen.h"

struct daemon_state {
	struct engine *engine;
	struct httpd *httpd;
	struct auth *auth;
	uv_signal_t sigs[3];
	bool stopping;
};

static void __attribute__((noreturn)) usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: rumprund [-dnv] [-f CONFIG] [-C REQUEST.json]\n"
	    "\n"
	    "  -f FILE  read FILE instead of " CONFIG_DEFAULT_PATH "\n"
	    "  -d       stay in the foreground and log to stderr\n"
	    "  -n       check the configuration, print it and exit\n"
	    "  -v       log debug messages too\n"
	    "  -C FILE  check the launch request in FILE (- for stdin) and "
	    "print the\n"
	    "           rumprun configuration its guest would receive\n"
	    "  -h       this text;  --version  the version\n");
	exit(status);
}

/* Read all of path ("-" for stdin), at most max bytes; NULL on error. */
static char *
slurp(const char *path, size_t max, size_t *lenp)
{
	struct sbuf sb = SBUF_INIT;
	char buf[8192];
	size_t n;
	FILE *f;

	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	if (f == NULL) {
		fprintf(stderr, "rumprund: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && sb.len <= max)
		sbuf_addn(&sb, buf, n);
	if (f != stdin)
		fclose(f);
	*lenp = sb.len;
	sbuf_addn(&sb, "", 0);
	return sbuf_finish(&sb);
}

static int
print_config(const char *path, const struct spec_policy *policy)
{
	struct spec *spec = NULL;
	struct rrerr err;
	char *text, *cfg;
	size_t len;

	if ((text = slurp(path, SPEC_BODY_MAX, &len)) == NULL)
		return 1;
	if (spec_parse(text, len, policy, &spec, &err) == -1) {
		fprintf(stderr, "rumprund: %s: %s\n", path, err.message);
		free(text);
		return 1;
	}
	free(text);
	cfg = guestconf_build(spec, spec->image, &err);
	if (cfg == NULL) {
		fprintf(stderr, "rumprund: %s: %s\n", path, err.message);
		spec_free(spec);
		return 1;
	}
	printf("%s\n", cfg);
	free(cfg);
	spec_free(spec);
	return 0;
}

/*
 * Every instance that has not ended keeps its console log open (about one
 * descriptor each, up to max_instances; ended ones keep none, see
 * console_rest()), so take the hard limit on descriptors, not the
 * customary soft 1024.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("cannot raise the limit on open files");
}

/*
 * libuv's thread pool runs every backend call (a create blocks its thread
 * for the whole virDomainCreateXML, 100-500 ms), the path checks before
 * them, ISO builds (at most 2 at once) and the reads of a built image; its
 * default is 4 threads, whatever the work.  libvirtd serves at most 5 calls
 * of one client connection at once (max_client_requests, default 5), and
 * rumprund has one connection: POOL_THREADS = 5 creates, 2 ISO builds and
 * one for the rest, so that a burst of launches runs as many creates as
 * libvirtd takes and an ISO build never waits behind them.  The record
 * writes have a thread of their own (daemon/recwriter.c).  Read by libuv
 * once, at the first uv_queue_work(): set before anything queues work.  An
 * operator's UV_THREADPOOL_SIZE wins.
 */
#define POOL_THREADS "8"

static void
size_pool(void)
{
	if (setenv("UV_THREADPOOL_SIZE", POOL_THREADS, 0) == -1)
		log_warn("cannot size libuv's thread pool");
}

static void
on_signal(uv_signal_t *h, int sig)
{
	struct daemon_state *ds = h->data;
	size_t i;

	if (sig == SIGHUP) {
		struct rrerr err;

		if (log_reopen() == -1)
			log_warn("cannot reopen the log");
		log_info("log reopened");
		if (auth_reload_tokens(ds->auth, &err) == -1)
			log_warnx("%s; the tokens in use stay", err.message);
		else if (auth_has_tokens(ds->auth))
			log_info("token_file reread");
		return;
	}
	if (ds->stopping)
		return;
	ds->stopping = true;
	if (sdnotify_send("STOPPING=1") == -1)
		log_warn("cannot tell systemd we stop");
	log_info("signal %d: stopping; guests keep running", sig);
	/* Waiting requests get 503 before the server goes. */
	engine_quiesce(ds->engine);
	httpd_stop(ds->httpd);
	ds->httpd = NULL;
	for (i = 0; i < 3; i++)
		uv_close((uv_handle_t *)&ds->sigs[i], NULL);
}

/*
 * Detach from the terminal.  The parent waits until the child says it
 * serves (or dies), so that "rumprund" fails visibly when it cannot start.
 * Returns the fd the child writes its verdict to.
 */
static int
detach(void)
{
	int fds[2], null;
	char ok;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0) {
		close(fds[1]);
		_exit(read(fds[0], &ok, 1) == 1 && ok == 0 ? 0 : 1);
	}
	close(fds[0]);
	if (setsid() == -1)
		fatal("setsid");
	if (chdir("/") == -1)
		fatal("chdir /");
	if ((null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	return fds[1];
}

/*
 * The rule of auth.h for the tcp key's address.  Returns 0, or -1 with err
 * naming the line of rumprund.conf.
 */
static int
check_tcp(const struct config *cfg, const struct auth *auth, struct rrerr *err)
{
	struct sockaddr_storage ss;
	char where[4200];
	struct rrerr perr;

	if (cfg->tcp == NULL)
		return 0;
	config_where(cfg, "tcp", where, sizeof(where));
	if (httpd_parse_addr(cfg->tcp, &ss, &perr) == -1)
		return rrerr_set(err, RRERR_INVALID, NULL, "%s: %s", where,
		    perr.message);
	return auth_check_tcp(auth, (const struct sockaddr *)&ss, where, err);
}

/*
 * Take the sockets systemd passed, if any, and check an inherited TCP one
 * against the rule of auth.h.  Exits on error.
 */
static void
take_sockets(struct sdnotify_fds *fds, const struct auth *auth)
{
	struct sockaddr_storage ss;
	struct rrerr err;
	socklen_t len;

	if (sdnotify_listen_fds(fds, &err) == -1)
		fatalx("%s", err.message);
	if (fds->tcp_fd == -1)
		return;
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fds->tcp_fd, (struct sockaddr *)&ss, &len) == -1)
		fatal("the TCP socket passed by systemd");
	if (auth_check_tcp(auth, (const struct sockaddr *)&ss,
		"the TCP socket passed by systemd", &err) == -1)
		fatalx("%s", err.message);
}

static int
run(struct config *cfg, const struct spec_policy *policy, struct auth *auth,
    bool foreground)
{
	struct engine_config ec;
	struct httpd_config hc;
	struct daemon_state ds;
	struct sdnotify_fds fds;
	char console_dir[4096], daemon_log[4096];
	struct rrerr err;
	struct group *gr;
	uv_loop_t *loop;
	int verdict = -1;
	char zero = 0;
	bool notify;
	size_t i;

	memset(&ds, 0, sizeof(ds));
	ds.auth = auth;
	/* Before a fork: LISTEN_PID names this process. */
	notify = sdnotify_init();
	take_sockets(&fds, auth);
	snprintf(console_dir, sizeof(console_dir), "%s/console", cfg->log_dir);
	if (fsutil_mkdir_p(cfg->state_dir, 0755, 0700) == -1)
		fatal("%s", cfg->state_dir);
	if (fsutil_mkdir_p(console_dir, 0755, 0750) == -1)
		fatal("%s", console_dir);
	if (cfg->daemon_log != NULL && strcmp(cfg->daemon_log, "syslog") == 0) {
		log_open_syslog();
	} else if (!foreground) {
		snprintf(daemon_log, sizeof(daemon_log), "%s/rumprund.log",
		    cfg->log_dir);
		if (log_open(cfg->daemon_log != NULL ? cfg->daemon_log :
						       daemon_log) == -1)
			fatal("cannot open the log");
	} else if (cfg->daemon_log != NULL && log_open(cfg->daemon_log) == -1) {
		fatal("%s", cfg->daemon_log);
	}
	if (!foreground) {
		if (notify)
			log_warnx(
			    "NOTIFY_SOCKET is set but rumprund detaches: "
			    "systemd waits for the process it started; run "
			    "rumprund -d under systemd");
		verdict = detach();
	}
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	size_pool();

	loop = uv_default_loop();
	memset(&ec, 0, sizeof(ec));
	ec.loop = loop;
	ec.state_dir = cfg->state_dir;
	ec.log_dir = console_dir;
	ec.policy = policy;
	ec.ops[SPEC_PLATFORM_KVM] = &backend_kvm_ops;
#ifdef HAVE_XEN
	ec.ops[SPEC_PLATFORM_XEN] = &backend_xen_ops;
#else
	ec.ops[SPEC_PLATFORM_XEN] = NULL;
#endif
	ec.backend.uri = cfg->libvirt_uri;
	ec.backend.accel = cfg->accel;
	ec.backend.cpu_model = cfg->cpu_model;
	ec.backend.firmware = cfg->firmware;
	ec.backend.guest_dir = cfg->guest_dir;
	ec.backend.fast_cpu_probe = cfg->fast_cpu_probe;
	ec.max_instances = cfg->max_instances;
	ec.max_total_memory_mib = cfg->max_total_memory_mib;
	ec.console_cap = cfg->console_log_max;
	ec.stop_timeout_s = cfg->stop_timeout;
	ec.boot_timeout_s = cfg->boot_timeout;
	ec.boot_id_file = cfg->boot_id_file;
	if ((ds.engine = engine_open(&ec, &err)) == NULL)
		fatalx("%s", err.message);

	struct imgstore_limits sl = { cfg->store_max_size,
		cfg->store_max_total };
	struct routes_ctx rc = { ds.engine, policy, NULL };
	if ((rc.store = imgstore_open(cfg->store_dir, &sl, &err)) == NULL)
		fatalx("%s", err.message);
	memset(&hc, 0, sizeof(hc));
	hc.unix_path = cfg->socket;
	hc.unix_mode = cfg->socket_mode;
	hc.unix_gid = (gid_t)-1;
	hc.unix_fd = fds.unix_fd;
	hc.tcp_fd = fds.tcp_fd;
	if (cfg->socket_group != NULL) {
		if ((gr = getgrnam(cfg->socket_group)) == NULL)
			fatalx("socket_group %s: no such group",
			    cfg->socket_group);
		hc.unix_gid = gr->gr_gid;
	}
	hc.tcp_addr = cfg->tcp;
	hc.tls_cert = auth_tls_cert(auth);
	hc.tls_key = auth_tls_key(auth);
	hc.tls_client_ca = auth_tls_client_ca(auth);
	if (auth_has_tokens(auth)) {
		hc.tcp_auth = auth_bearer;
		hc.tcp_auth_arg = auth;
	}
	hc.body_max = SPEC_BODY_MAX;
	hc.routes = routes_table;
	hc.nroutes = routes_count;
	hc.ctx = &rc;
	hc.uploads = routes_uploads;
	hc.nuploads = routes_uploads_count;
	if (cfg->socket != NULL && fds.unix_fd == -1) {
		char *slash, dir[4096];

		snprintf(dir, sizeof(dir), "%s", cfg->socket);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			if (fsutil_mkdir_p(dir, 0755, 0755) == -1)
				fatal("%s", dir);
		}
	}
	if ((ds.httpd = httpd_start(loop, &hc, &err)) == NULL)
		fatalx("%s", err.message);

	static const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
	for (i = 0; i < 3; i++) {
		uv_signal_init(loop, &ds.sigs[i]);
		ds.sigs[i].data = &ds;
		uv_signal_start(&ds.sigs[i], on_signal, signums[i]);
	}
	log_info("rumprund %s serving on %s%s%s%s", RUMPRUND_VERSION,
	    fds.unix_fd != -1	    ? "the unix socket passed by systemd" :
		cfg->socket != NULL ? cfg->socket :
				      "",
	    fds.tcp_fd != -1 || cfg->tcp != NULL ? " and " : "",
	    fds.tcp_fd != -1	 ? "the TCP socket passed by systemd" :
		cfg->tcp != NULL ? cfg->tcp :
				   "",
	    hc.tls_cert == NULL		 ? "" :
		hc.tls_client_ca != NULL ? " (TLS, client certificates)" :
					   " (TLS)");
	if (verdict != -1) {
		if (write(verdict, &zero, 1) != 1)
			log_warn("cannot tell the parent we started");
		close(verdict);
	}
	/* The sockets listen: what connects now is answered by the loop. */
	if (sdnotify_send("READY=1\nMAINPID=%ld\nSTATUS=serving",
		(long)getpid()) == -1)
		log_warn("cannot tell systemd we are ready");

	uv_run(loop, UV_RUN_DEFAULT);

	engine_close(ds.engine);
	imgstore_close(rc.store);
	uv_loop_close(loop);
	log_info("stopped");
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfgpath = CONFIG_DEFAULT_PATH, *request = NULL;
	bool foreground = false, check = false, cfg_given = false;
	struct spec_policy policy;
	struct auth *auth = NULL;
	struct config cfg;
	struct rrerr err;
	int ch, rv;

	while (
	    (ch = getopt_long(argc, argv, "C:df:hnv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C':
			request = optarg;
			break;
		case 'd':
			foreground = true;
			break;
		case 'f':
			cfgpath = optarg;
			cfg_given = true;
			break;
		case 'n':
			check = true;
			break;
		case 'v':
			log_set_debug(true);
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("rumprund %s\n", RUMPRUND_VERSION);
			return 0;
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);

	config_defaults(&cfg);
	if (config_load(&cfg, cfgpath, cfg_given, &err) == -1) {
		fprintf(stderr, "rumprund: %s\n", err.message);
		config_free(&cfg);
		return 1;
	}
	config_resolve(&cfg);
	config_policy(&cfg, &policy);
	/* Who may talk to us over TCP: files, tokens, the address. */
	if (request == NULL &&
	    ((auth = auth_load(&cfg, &err)) == NULL ||
		check_tcp(&cfg, auth, &err) == -1)) {
		fprintf(stderr, "rumprund: %s\n", err.message);
		auth_free(auth);
		config_free(&cfg);
		return 1;
	}
	if (check) {
		config_print(&cfg, stdout);
		auth_free(auth);
		config_free(&cfg);
		return 0;
	}
	if (request != NULL)
		rv = print_config(request, &policy);
	else
		rv = run(&cfg, &policy, auth, foreground);
	auth_free(auth);
	config_free(&cfg);
	return rv;
}
