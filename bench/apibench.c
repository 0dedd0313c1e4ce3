/*
 * apibench: launches through rumprund's API, timed the way direct_libvirt
 * times its own (same guest, same request, same console log watcher).
 *
 *   apibench seq   --sock PATH --image PATH --logdir DIR [--runs N]
 *   apibench burst --sock PATH --image PATH --logdir DIR --burst N
 *   apibench follow --sock PATH --image PATH --logdir DIR [--lines N]
 *                   [--followers K]
 *
 * Common options: --arg WORD (repeat; default "forever"), --memory MIB
 * (32), --prefix P, --pid PID (the daemon's, for its CPU time and RSS).
 *
 * seq and burst: each launch is one POST /v1/unikernels on a fresh
 * connection (as rrctl makes it).  Times from just before the POST
 * (a burst: from the common start) to: the answer ("post"); the first byte
 * of the console log file and the `=== calling` marker in it (the same
 * inotify watcher as direct_libvirt: "first_byte", "marker"); the
 * "running" event on GET /v1/events ("running": rumprund saw main() start
 * and said so); in seq, the first byte received by a follower (GET
 * .../logs?follow=true opened once the POST answered: "follow_first").
 * Every instance is stopped (force) and removed afterwards.
 *
 * follow: log follow latency.  One instance of the guest that prints
 * nothing after its markers ("forever"); K followers on its log; then this
 * program appends N lines "BENCH <seq>\n" to the instance's console log
 * file (O_APPEND, as QEMU writes it: the daemon cannot tell them from
 * guest output), one every 20 ms, and times each line from just before its
 * write() to its arrival at each follower.  That isolates rumprund's part:
 * inotify, the daemon's read, the stream's resume, the HTTP chunk.
 * With --arg tick --arg MS the guest itself prints "tick K" every MS ms
 * instead, and each line is timed from when it appears in the log file
 * (this program's own inotify watch on it) to its arrival at each
 * follower: the same path, with QEMU as the writer.
 *
 * Output: JSON lines, as direct_libvirt's.
 */
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "benchlib.h"

#define MARKER	 "=== calling \"rrguest\" main() ==="
#define WAIT_S	 60
#define MAX_ARGS 32

struct opts {
	const char *mode;
	const char *sock;
	const char *image;
	const char *logdir;
	const char *args[MAX_ARGS];
	int nargs;
	unsigned int memory;
	int runs;
	int burst;
	int lines;
	int followers;
	int pid;
	char prefix[32];
};

static struct opts o;

/* Times of "running" events, by instance name. */
struct evrec {
	char name[96];
	uint64_t running, ended;
	char state[16];
};

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static struct evrec *evs;
static size_t nevs, cap_evs;
static struct http_stream evstream;
static pthread_t ev_th;

static struct evrec *
ev_get(const char *name)
{
	size_t i;

	for (i = 0; i < nevs; i++)
		if (strcmp(evs[i].name, name) == 0)
			return &evs[i];
	if (nevs == cap_evs) {
		struct evrec *n;

		cap_evs = cap_evs ? cap_evs * 2 : 256;
		if ((n = realloc(evs, cap_evs * sizeof(*evs))) == NULL)
			die("out of memory");
		evs = n;
	}
	memset(&evs[nevs], 0, sizeof(evs[nevs]));
	snprintf(evs[nevs].name, sizeof(evs[nevs].name), "%s", name);
	return &evs[nevs++];
}

static void
on_event_line(const char *line, uint64_t t)
{
	const char *name, *state;
	struct evrec *r;
	json_t *ev;

	if ((ev = json_loads(line, 0, NULL)) == NULL)
		return;
	name = json_string_value(json_object_get(ev, "name"));
	state = json_string_value(json_object_get(ev, "state"));
	if (name != NULL && state != NULL) {
		pthread_mutex_lock(&ev_lock);
		r = ev_get(name);
		snprintf(r->state, sizeof(r->state), "%s", state);
		if (strcmp(state, "running") == 0 && r->running == 0)
			r->running = t;
		if ((strcmp(state, "stopped") == 0 ||
			strcmp(state, "exited") == 0 ||
			strcmp(state, "crashed") == 0 ||
			strcmp(state, "failed") == 0) &&
		    r->ended == 0)
			r->ended = t;
		pthread_cond_broadcast(&ev_cond);
		pthread_mutex_unlock(&ev_lock);
	}
	json_decref(ev);
}

static void *
ev_thread(void *arg)
{
	char buf[65536], line[65536];
	size_t ll = 0;
	ssize_t n, i;
	uint64_t t;

	(void)arg;
	while ((n = http_stream_read(&evstream, buf, sizeof(buf))) > 0) {
		t = now_ns();
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				line[ll] = '\0';
				on_event_line(line, t);
				ll = 0;
			} else if (ll < sizeof(line) - 1) {
				line[ll++] = buf[i];
			}
		}
	}
	return NULL;
}

static void
events_start(void)
{
	if (http_stream_open(&evstream, o.sock, "/v1/events") == -1 ||
	    evstream.status != 200)
		die("GET /v1/events");
	if (pthread_create(&ev_th, NULL, ev_thread, NULL) != 0)
		die("pthread_create");
}

static void
events_stop(void)
{
	shutdown(evstream.fd, SHUT_RDWR);
	pthread_join(ev_th, NULL);
	http_stream_close(&evstream);
}

static uint64_t
ev_wait(const char *name, bool ended, uint64_t deadline)
{
	struct evrec *r;
	uint64_t v;

	pthread_mutex_lock(&ev_lock);
	for (;;) {
		r = ev_get(name);
		v = ended ? r->ended : r->running;
		if (v != 0 || now_ns() >= deadline)
			break;
		cond_wait_short(&ev_cond, &ev_lock);
	}
	pthread_mutex_unlock(&ev_lock);
	return v;
}

static char *
request_body(const char *name)
{
	json_t *req, *argv;
	char *text;
	int i;

	argv = json_array();
	json_array_append_new(argv, json_string("rrguest"));
	for (i = 0; i < o.nargs; i++)
		json_array_append_new(argv, json_string(o.args[i]));
	req = json_pack("{s:s,s:s,s:o,s:i}", "name", name, "image", o.image,
	    "argv", argv, "memory_mib", (int)o.memory);
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	return text;
}

struct launch {
	char name[96];
	uint64_t t0, post, first, marker, running, follow;
	int status;
	bool ok;
};

static struct launch *L;
static struct logwatch *lw;
static atomic_int next_launch;
static pthread_barrier_t barrier;
static _Atomic uint64_t burst_t0;

static void
do_post(struct launch *l)
{
	struct http_resp r;
	char log[160], *body;

	snprintf(log, sizeof(log), "%s.log", l->name);
	logwatch_expect(lw, log);
	body = request_body(l->name);
	if (l->t0 == 0)
		l->t0 = now_ns();
	if (http_request(o.sock, "POST", "/v1/unikernels", body, &r) == -1) {
		l->post = now_ns();
		fprintf(stderr, "apibench: POST %s: transport error\n",
		    l->name);
		free(body);
		return;
	}
	l->post = now_ns();
	l->status = r.status;
	l->ok = r.status == 201;
	if (!l->ok)
		fprintf(stderr, "apibench: POST %s: %d %s\n", l->name, r.status,
		    r.body);
	free(r.body);
	free(body);
}

static void
collect(struct launch *l)
{
	uint64_t deadline = now_ns() + (uint64_t)WAIT_S * 1000000000u;
	char log[160];

	if (!l->ok)
		return;
	snprintf(log, sizeof(log), "%s.log", l->name);
	if (logwatch_wait(lw, log, LW_FIRST_BYTE, deadline, &l->first) == -1)
		l->first = 0;
	if (logwatch_wait(lw, log, LW_MARKER, deadline, &l->marker) == -1)
		l->marker = 0;
	l->running = ev_wait(l->name, false, deadline);
}

/* A follower's first byte, from a GET opened now. */
static void
follow_first(struct launch *l)
{
	struct http_stream s;
	char path[256], c;

	snprintf(path, sizeof(path), "/v1/unikernels/%s/logs?follow=true",
	    l->name);
	if (http_stream_open(&s, o.sock, path) == -1 || s.status != 200) {
		fprintf(stderr, "apibench: follow %s failed\n", l->name);
		http_stream_close(&s);
		return;
	}
	if (http_stream_read(&s, &c, 1) == 1)
		l->follow = now_ns();
	http_stream_close(&s);
}

static void
remove_instance(const char *name)
{
	struct http_resp r;
	char path[256];

	snprintf(path, sizeof(path), "/v1/unikernels/%s/stop?force=true", name);
	if (http_request(o.sock, "POST", path, NULL, &r) == 0)
		free(r.body);
	snprintf(path, sizeof(path), "/v1/unikernels/%s", name);
	if (http_request(o.sock, "DELETE", path, NULL, &r) == 0) {
		if (r.status != 200)
			fprintf(stderr, "apibench: DELETE %s: %d %s\n", name,
			    r.status, r.body);
		free(r.body);
	}
}

static double
rel(uint64_t t0, uint64_t t)
{
	return t == 0 ? -1 : ms_between(t0, t);
}

static void
print_launch(const char *mode, int i, const struct launch *l, uint64_t t0)
{
	printf("{\"mode\":\"%s\",\"i\":%d,\"ok\":%s,\"status\":%d,"
	       "\"create\":%.3f,\"first_byte\":%.3f,\"marker\":%.3f,"
	       "\"running\":%.3f,\"follow_first\":%.3f}\n",
	    mode, i, l->ok && l->running != 0 ? "true" : "false", l->status,
	    rel(t0, l->post), rel(t0, l->first), rel(t0, l->marker),
	    rel(t0, l->running), rel(t0, l->follow));
	fflush(stdout);
}

static void *
burst_worker(void *arg)
{
	uint64_t zero = 0;
	struct launch *l = arg;

	pthread_barrier_wait(&barrier);
	atomic_compare_exchange_strong(&burst_t0, &zero, now_ns());
	l->t0 = burst_t0;
	do_post(l);
	return NULL;
}

static void *
remove_worker(void *arg)
{
	int i;

	(void)arg;
	while ((i = atomic_fetch_add(&next_launch, 1)) < o.burst)
		remove_instance(L[i].name);
	return NULL;
}

/* Peak RSS of the daemon, sampled every 5 ms while a burst runs. */
static atomic_bool sampling;
static long peak_rss;

static void *
rss_sampler(void *arg)
{
	long v;

	(void)arg;
	while (atomic_load(&sampling)) {
		if ((v = proc_rss_kib(o.pid)) > peak_rss)
			peak_rss = v;
		usleep(5000);
	}
	return NULL;
}

static void
launch_mode(void)
{
	pthread_t *th, sampler;
	uint64_t wall_end;
	double cpu0, cpu1;
	long rss0;
	int i, n, fails = 0;

	lw = logwatch_start(o.logdir, MARKER);
	events_start();
	n = o.burst > 0 ? o.burst : o.runs;
	if ((L = calloc((size_t)n + 1, sizeof(*L))) == NULL)
		die("out of memory");
	for (i = 0; i <= n; i++)
		snprintf(L[i].name, sizeof(L[i].name), "%s-%d", o.prefix,
		    i < n ? i : 999);
	/* A warm-up launch, as direct_libvirt does. */
	do_post(&L[n]);
	collect(&L[n]);
	remove_instance(L[n].name);

	if (o.burst > 0) {
		if ((th = calloc((size_t)n, sizeof(*th))) == NULL)
			die("out of memory");
		pthread_barrier_init(&barrier, NULL, (unsigned)n);
		cpu0 = o.pid > 0 ? proc_cpu_ms(o.pid) : -1;
		rss0 = o.pid > 0 ? proc_rss_kib(o.pid) : -1;
		peak_rss = rss0;
		atomic_store(&sampling, o.pid > 0);
		if (o.pid > 0 &&
		    pthread_create(&sampler, NULL, rss_sampler, NULL) != 0)
			die("pthread_create");
		for (i = 0; i < n; i++)
			if (pthread_create(&th[i], NULL, burst_worker, &L[i]) !=
			    0)
				die("pthread_create");
		for (i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		for (i = 0; i < n; i++)
			collect(&L[i]);
		cpu1 = o.pid > 0 ? proc_cpu_ms(o.pid) : -1;
		if (o.pid > 0) {
			atomic_store(&sampling, false);
			pthread_join(sampler, NULL);
		}
		wall_end = 0;
		for (i = 0; i < n; i++) {
			print_launch("api", i, &L[i], burst_t0);
			if (!L[i].ok || L[i].running == 0)
				fails++;
			else if (L[i].running > wall_end)
				wall_end = L[i].running;
		}
		printf(
		    "{\"mode\":\"api\",\"summary\":true,\"n\":%d,"
		    "\"failed\":%d,\"wall\":%.3f,\"daemon_cpu_ms\":%.1f,"
		    "\"daemon_rss_kib_before\":%ld,\"daemon_rss_kib_peak\":%ld}\n",
		    n, fails, rel(burst_t0, wall_end), cpu1 - cpu0, rss0,
		    peak_rss);
		fflush(stdout);
		atomic_store(&next_launch, 0);
		for (i = 0; i < 16 && i < n; i++)
			pthread_create(&th[i], NULL, remove_worker, NULL);
		for (i = 0; i < 16 && i < n; i++)
			pthread_join(th[i], NULL);
		free(th);
	} else {
		for (i = 0; i < n; i++) {
			do_post(&L[i]);
			if (L[i].ok)
				follow_first(&L[i]);
			collect(&L[i]);
			print_launch("api", i, &L[i], L[i].t0);
			remove_instance(L[i].name);
		}
	}
	events_stop();
	logwatch_stop(lw);
	free(L);
}

/* Log follow latency. */

#define FOLLOW_MAX 256

struct follower {
	struct http_stream s;
	pthread_t th;
	uint64_t *arrived; /* by line number */
};

static uint64_t *sent;
static struct follower *F;
static bool ticks; /* the guest's own "tick K" lines */

/* The number of a "BENCH K" (or "tick K") line, or -1. */
static int
line_no(const char *line)
{
	int k;

	if (sscanf(line, ticks ? "tick %d" : "BENCH %d", &k) != 1)
		return -1;
	if (ticks)
		k--; /* the guest counts from 1 */
	return k >= 0 && k < o.lines ? k : -1;
}

static void *
follower_thread(void *arg)
{
	struct follower *f = arg;
	char buf[65536], line[256];
	size_t ll = 0;
	ssize_t n, i;
	uint64_t t;
	int k;

	while ((n = http_stream_read(&f->s, buf, sizeof(buf))) > 0) {
		t = now_ns();
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			if ((k = line_no(line)) >= 0 && f->arrived[k] == 0)
				f->arrived[k] = t;
		}
	}
	return NULL;
}

/*
 * Tick mode: when each "tick K" line appears in the console log file
 * (QEMU wrote it), seen through an inotify watch on the file.
 */
static atomic_bool watching;
static char watch_path[1200];

static void *
file_thread(void *arg)
{
	char buf[65536], line[256];
	struct pollfd pfd;
	uint64_t off = 0, t;
	size_t ll = 0;
	ssize_t n, i;
	int ifd, fd, k;

	(void)arg;
	if ((fd = open(watch_path, O_RDONLY | O_CLOEXEC)) == -1)
		die("%s", watch_path);
	if ((ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) == -1 ||
	    inotify_add_watch(ifd, watch_path, IN_MODIFY) == -1)
		die("inotify");
	/* Skip what is there already. */
	off = (uint64_t)lseek(fd, 0, SEEK_END);
	pfd.fd = ifd;
	pfd.events = POLLIN;
	while (atomic_load(&watching)) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		while (read(ifd, buf, sizeof(buf)) > 0)
			;
		t = now_ns();
		while ((n = pread(fd, buf, sizeof(buf), (off_t)off)) > 0) {
			off += (uint64_t)n;
			for (i = 0; i < n; i++) {
				if (buf[i] != '\n') {
					if (ll < sizeof(line) - 1)
						line[ll++] = buf[i];
					continue;
				}
				line[ll] = '\0';
				ll = 0;
				if ((k = line_no(line)) >= 0 && sent[k] == 0)
					sent[k] = t;
			}
		}
	}
	close(ifd);
	close(fd);
	return NULL;
}

static void
follow_mode(void)
{
	char name[96], path[512], line[64];
	uint64_t deadline, w0, w1;
	pthread_t fth;
	struct launch l;
	int fd, i, k, missing = 0;
	double cpu0, cpu1;

	if (o.followers < 1 || o.followers > FOLLOW_MAX)
		die("--followers: 1 to %d", FOLLOW_MAX);
	ticks = strcmp(o.args[0], "tick") == 0;
	lw = logwatch_start(o.logdir, MARKER);
	events_start();
	snprintf(name, sizeof(name), "%s-follow", o.prefix);
	snprintf(watch_path, sizeof(watch_path), "%s/%s.log", o.logdir, name);
	sent = calloc((size_t)o.lines, sizeof(*sent));
	F = calloc((size_t)o.followers, sizeof(*F));
	if (sent == NULL || F == NULL)
		die("out of memory");
	memset(&l, 0, sizeof(l));
	snprintf(l.name, sizeof(l.name), "%s", name);
	do_post(&l);
	if (!l.ok)
		die("launch failed");
	collect(&l);
	if (l.running == 0)
		die("the guest did not reach main()");
	if (ticks) {
		atomic_store(&watching, true);
		if (pthread_create(&fth, NULL, file_thread, NULL) != 0)
			die("pthread_create");
	}
	snprintf(path, sizeof(path), "/v1/unikernels/%s/logs?follow=true",
	    name);
	for (i = 0; i < o.followers; i++) {
		if ((F[i].arrived = calloc((size_t)o.lines,
			 sizeof(uint64_t))) == NULL)
			die("out of memory");
		if (http_stream_open(&F[i].s, o.sock, path) == -1 ||
		    F[i].s.status != 200)
			die("follow %d", i);
		if (pthread_create(&F[i].th, NULL, follower_thread, &F[i]) != 0)
			die("pthread_create");
	}
	usleep(200000); /* let every follower catch up */
	cpu0 = o.pid > 0 ? proc_cpu_ms(o.pid) : -1;
	w0 = now_ns();
	if (!ticks) {
		if ((fd = open(watch_path, O_WRONLY | O_APPEND | O_CLOEXEC)) ==
		    -1)
			die("%s", watch_path);
		for (k = 0; k < o.lines; k++) {
			int len = snprintf(line, sizeof(line), "BENCH %d\n", k);

			sent[k] = now_ns();
			if (write(fd, line, (size_t)len) != len)
				die("write %s", watch_path);
			usleep(20000);
		}
		close(fd);
	}
	/* Wait for the last line everywhere. */
	deadline = now_ns() + (ticks ? 120000000000u : 5000000000u);
	for (i = 0; i < o.followers; i++)
		while (F[i].arrived[o.lines - 1] == 0 && now_ns() < deadline)
			usleep(1000);
	w1 = now_ns();
	cpu1 = o.pid > 0 ? proc_cpu_ms(o.pid) : -1;
	if (ticks) {
		atomic_store(&watching, false);
		pthread_join(fth, NULL);
	}
	for (i = 0; i < o.followers; i++) {
		for (k = 0; k < o.lines; k++) {
			/* A tick the follower got before the watcher started. */
			if (F[i].arrived[k] == 0 || sent[k] == 0) {
				missing += F[i].arrived[k] == 0;
				continue;
			}
			printf(
			    "{\"mode\":\"follow\",\"follower\":%d,\"line\":%d,"
			    "\"latency\":%.3f}\n",
			    i, k, ms_between(sent[k], F[i].arrived[k]));
		}
	}
	printf("{\"mode\":\"follow\",\"summary\":true,\"source\":\"%s\","
	       "\"followers\":%d,\"lines\":%d,\"missing\":%d,"
	       "\"daemon_cpu_ms\":%.1f,\"seconds\":%.3f}\n",
	    ticks ? "guest" : "append", o.followers, o.lines, missing,
	    cpu1 - cpu0, ms_between(w0, w1) / 1000.0);
	fflush(stdout);
	remove_instance(name); /* the streams end with the instance */
	for (i = 0; i < o.followers; i++) {
		pthread_join(F[i].th, NULL);
		http_stream_close(&F[i].s);
		free(F[i].arrived);
	}
	free(F);
	free(sent);
	events_stop();
	logwatch_stop(lw);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
	    "usage: apibench seq|burst|follow --sock PATH --image "
	    "PATH --logdir DIR\n    [--arg W]... [--memory MIB] [--runs N] "
	    "[--burst N] [--lines N] [--followers K]\n"
	    "    [--prefix P] [--pid PID]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sock", required_argument, NULL, 's' },
		{ "image", required_argument, NULL, 'i' },
		{ "logdir", required_argument, NULL, 'l' },
		{ "arg", required_argument, NULL, 'a' },
		{ "memory", required_argument, NULL, 'm' },
		{ "runs", required_argument, NULL, 'r' },
		{ "burst", required_argument, NULL, 'b' },
		{ "lines", required_argument, NULL, 'L' },
		{ "followers", required_argument, NULL, 'f' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "pid", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	if (argc < 2)
		usage();
	o.mode = argv[1];
	o.memory = 32;
	o.runs = 10;
	o.lines = 100;
	o.followers = 1;
	snprintf(o.prefix, sizeof(o.prefix), "ab%d", (int)getpid());
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.sock = optarg;
			break;
		case 'i':
			o.image = optarg;
			break;
		case 'l':
			o.logdir = optarg;
			break;
		case 'a':
			if (o.nargs == MAX_ARGS)
				usage();
			o.args[o.nargs++] = optarg;
			break;
		case 'm':
			o.memory = (unsigned int)atoi(optarg);
			break;
		case 'r':
			o.runs = atoi(optarg);
			break;
		case 'b':
			o.burst = atoi(optarg);
			break;
		case 'L':
			o.lines = atoi(optarg);
			break;
		case 'f':
			o.followers = atoi(optarg);
			break;
		case 'x':
			snprintf(o.prefix, sizeof(o.prefix), "%.20s", optarg);
			break;
		case 'p':
			o.pid = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (o.sock == NULL || o.image == NULL || o.logdir == NULL)
		usage();
	if (o.nargs == 0)
		o.args[o.nargs++] = "forever";
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(o.mode, "seq") == 0) {
		o.burst = 0;
		launch_mode();
	} else if (strcmp(o.mode, "burst") == 0) {
		if (o.burst <= 0)
			usage();
		launch_mode();
	} else if (strcmp(o.mode, "follow") == 0) {
		if (o.lines < 1)
			usage();
		follow_mode();
	} else {
		usage();
	}
	return 0;
}
