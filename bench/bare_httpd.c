/*
 * bare_httpd: the floor for rumprund's API throughput.  libmicrohttpd
 * driven by a libuv loop exactly as api/httpd.c drives it (MHD_USE_EPOLL |
 * MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, no internal thread, a
 * uv_poll on MHD's epoll fd, a uv_timer or uv_idle from
 * MHD_get_timeout(), the same connection limit, timeout and memory limit),
 * answering every request with the same fixed JSON body and doing nothing
 * else.  The difference between its requests/s and rumprund's is the
 * daemon's own work per request.
 *
 *   bare_httpd TCP_PORT UNIX_PATH BODY_FILE
 *
 * Listens on 127.0.0.1:TCP_PORT and on UNIX_PATH; runs until SIGTERM or
 * SIGINT.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>
#include <uv.h>

#include "benchlib.h"

struct lis {
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
};

static struct lis lis[2];
static int nlis;
static uv_timer_t timer;
static uv_idle_t idle;
static uv_signal_t sigs[2];
static char *body;
static size_t body_len;

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **ctx)
{
	static int first;
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload;
	if (*ctx == NULL) {
		*ctx = &first;
		return MHD_YES;
	}
	*upload_size = 0;
	r = MHD_create_response_from_buffer(body_len, body,
	    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static void run_mhd(void);

static void
on_timer(uv_timer_t *t)
{
	(void)t;
	run_mhd();
}

static void
on_idle(uv_idle_t *i)
{
	(void)i;
	run_mhd();
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	(void)p;
	(void)status;
	(void)events;
	run_mhd();
}

static void
run_mhd(void)
{
	MHD_UNSIGNED_LONG_LONG to, min = 0;
	bool have = false;
	int i;

	for (i = 0; i < nlis; i++) {
		MHD_run(lis[i].mhd);
		if (MHD_get_timeout(lis[i].mhd, &to) == MHD_YES &&
		    (!have || to < min)) {
			min = to;
			have = true;
		}
	}
	if (!have) {
		uv_timer_stop(&timer);
		uv_idle_stop(&idle);
	} else if (min == 0) {
		uv_timer_stop(&timer);
		uv_idle_start(&idle, on_idle);
	} else {
		uv_idle_stop(&idle);
		uv_timer_start(&timer, on_timer, min, 0);
	}
}

static void
on_signal(uv_signal_t *s, int signum)
{
	(void)signum;
	uv_stop(s->loop);
}

static void
start(uv_loop_t *loop, int fd, const struct sockaddr_in *sin)
{
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_CONNECTION_LIMIT, 1024, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, NULL },
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	const union MHD_DaemonInfo *di;
	struct lis *l = &lis[nlis++];

	if (fd >= 0) {
		opts[3].option = MHD_OPTION_LISTEN_SOCKET;
		opts[3].value = fd;
	} else {
		opts[3].option = MHD_OPTION_SOCK_ADDR;
		opts[3].ptr_value = (void *)(uintptr_t)sin;
	}
	l->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, NULL, MHD_OPTION_ARRAY, opts,
	    MHD_OPTION_END);
	if (l->mhd == NULL)
		die("MHD_start_daemon");
	di = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	uv_poll_init(loop, &l->poll, di->epoll_fd);
	uv_poll_start(&l->poll, UV_READABLE, on_poll);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	struct sockaddr_un sun;
	uv_loop_t *loop = uv_default_loop();
	FILE *f;
	long n;
	int fd, i;

	if (argc != 4) {
		fprintf(stderr,
		    "usage: bare_httpd TCP_PORT UNIX_PATH "
		    "BODY_FILE\n");
		return 2;
	}
	if ((f = fopen(argv[3], "re")) == NULL || fseek(f, 0, SEEK_END) ||
	    (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		die("%s", argv[3]);
	if ((body = malloc((size_t)n + 1)) == NULL ||
	    fread(body, 1, (size_t)n, f) != (size_t)n)
		die("%s", argv[3]);
	fclose(f);
	body_len = (size_t)n;
	signal(SIGPIPE, SIG_IGN);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	start(loop, -1, &sin);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[2]);
	unlink(argv[2]);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, 128) == -1)
		die("%s", argv[2]);
	start(loop, fd, NULL);

	uv_timer_init(loop, &timer);
	uv_idle_init(loop, &idle);
	for (i = 0; i < 2; i++) {
		uv_signal_init(loop, &sigs[i]);
		uv_signal_start(&sigs[i], on_signal, i == 0 ? SIGTERM : SIGINT);
	}
	run_mhd();
	uv_run(loop, UV_RUN_DEFAULT);
	for (i = 0; i < nlis; i++) {
		uv_poll_stop(&lis[i].poll);
		MHD_stop_daemon(lis[i].mhd);
	}
	unlink(argv[2]);
	free(body);
	return 0;
}
