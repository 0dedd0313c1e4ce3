/*
 * rrctl: the command-line client of rumprund.
 *
 * Every command is one entry of ctl_commands[] (ctl.c) and one function
 * ctl_NAME(), in the file of its role: cmd_run.c (run, and run -i),
 * cmd_iso.c (iso), cmd_image.c (image, volume), cmd_ps.c (ps), cmd_life.c (stop, start, rm), cmd_stream.c (logs,
 * events), cmd_show.c (inspect, info, version), cmd_stats.c (stats), cmd_ops.c
 * (pause, unpause, restart, kill, wait).  usage() and `rrctl help`
 * are generated from the table.  A command returns the exit status of
 * rrctl: CTL_OK, CTL_DENIED (the daemon said no; its message printed),
 * CTL_USAGE, CTL_UNREACHABLE, CTL_INTERRUPTED.  run returns its own codes
 * instead, as docker run does (see enum run_exit), so that run -i can
 * return the guest's exit status without a collision on 1, 2 and 3.
 */
#ifndef RRCTL_H
#define RRCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "version.h"

#define RRCTL_DEFAULT_HOST "unix:///run/rumprund/rumprund.sock"

enum ctl_exit {
	CTL_OK = 0,
	CTL_DENIED = 1,	       /* the daemon said no, or the guest failed */
	CTL_USAGE = 2,	       /* a bad command line */
	CTL_UNREACHABLE = 3,   /* no daemon at the host, or it went away */
	CTL_INTERRUPTED = 130, /* SIGINT while following a stream */
};

/*
 * The exit statuses of rrctl run (and run -i) that are rrctl's own, as
 * docker run's: what a guest program cannot mean by its exit status short
 * of using these numbers on purpose.  rrctl(1) EXIT STATUS lists them.
 */
enum run_exit {
	RUN_FAILED = 125,     /* rrctl or rumprund failed: usage, unreachable,
				   connection lost, a refused request */
	RUN_CANNOT_RUN = 126, /* the image may not be used (403 on image),
				   or the launch failed (state failed) */
	RUN_NOT_FOUND = 127,  /* the image does not exist or is no file
				   (422 on image) */
	RUN_CRASHED = 134,    /* run -i: the guest crashed (128 + SIGABRT) */
	RUN_KILLED = 137,     /* run -i: stopped or removed before it
				   exited (128 + SIGKILL, as docker kill) */
};

enum ctl_cmd {
	CMD_RUN,
	CMD_ISO,
	CMD_PS,
	CMD_STOP,
	CMD_START,
	CMD_RM,
	CMD_LOGS,
	CMD_INSPECT,
	CMD_EVENTS,
	CMD_INFO,
	CMD_VERSION,
	CMD_HELP,
	CMD_IMAGE,
	CMD_VOLUME,
	CMD_STATS,
	CMD_PAUSE,
	CMD_UNPAUSE,
	CMD_RESUME,
	CMD_RESTART,
	CMD_KILL,
	CMD_WAIT,
};

struct http;
struct run_opts;

/* What every command gets: the global options and the connection. */
struct ctl {
	const char *host;	/* --host, RUMPRUND_HOST or the default */
	const char *token_file; /* --token-file, RRCTL_TOKEN_FILE, or NULL */
	const char *cacert;	/* --cacert, RRCTL_CACERT, or NULL */
	const char *cert;	/* --cert, RRCTL_CERT, or NULL */
	const char *key;	/* --key, RRCTL_KEY, or NULL */
	bool json;		/* --json before the command */
	struct http *http;	/* made by ctl_connect() */
	const struct ctl_command *cmd;
};

typedef int ctl_fn(struct ctl *, int, char *[]);

/* Flags of a command. */
#define CTL_F_JSON 0x1 /* a listing command: takes --json */

struct ctl_command {
	const char *name;
	enum ctl_cmd cmd;
	ctl_fn *fn;
	const char *usage;   /* the arguments, for usage() */
	const char *summary; /* one sentence */
	const char *help;    /* its options, one per line, for `help NAME` */
	int flags;
};

extern const struct ctl_command ctl_commands[];

/* The command named name, or NULL. */
const struct ctl_command *ctl_lookup(const char *name);

/*
 * The command a user probably meant by name (a docker or upstream word,
 * or one or two typos away), or NULL (a static string).
 */
const char *ctl_suggest(const char *name);

/* "rrctl: no command NAME[; did you mean ...]" and a one-line usage. */
void ctl_unknown_command(const char *name);

/* The usage of every command (to stdout when ok, stderr otherwise). */
void ctl_usage(bool ok);

/* One command's usage, summary and options, to stdout. */
void ctl_cmd_help(const struct ctl_command *cmd);

/* One command's usage line to stderr; returns CTL_USAGE. */
int ctl_cmd_usage(const struct ctl_command *cmd);

/* "rrctl: MESSAGE" to stderr. */
void ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * http_outcome() and http_call() (see http.h) for a command: the failure's
 * message printed ("rrctl: MESSAGE", unless it has none) and the result as
 * an exit status: CTL_OK, CTL_DENIED, CTL_UNREACHABLE or CTL_INTERRUPTED.
 */
struct http_req;
int ctl_outcome(struct http *h, struct http_req *r, json_t **out);
int ctl_call(struct http *h, const char *method, const char *path, json_t *body,
    json_t **out, long *status);

/* "rrctl: MESSAGE", then the command's usage; returns CTL_USAGE. */
int ctl_usage_error(const struct ctl_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * getopt_long() for a command: argv[0] is the command's name.  Options and
 * operands may come in any order (argv is permuted: the operands end up
 * from optind on); "--" ends the options.  Starts a new scan when *started
 * is false.  Answers --help (prints the command's help
 * and returns 'h' with *status CTL_OK) and --json for listing commands
 * (sets c->json and goes on); an unknown option or a missing argument is
 * reported and returns '?' with *status CTL_USAGE.  -1 at the end.
 */
int ctl_getopt(struct ctl *c, int argc, char *argv[], const char *optstring,
    const void *longopts, bool *started, int *status);

/* Make c->http from c->host and c->token_file; 0 or an exit status. */
int ctl_connect(struct ctl *c);

/*
 * An on_data of struct http_req (arg unused): the bytes as they come to
 * standard output, flushed.  Returns 0, or -1 when stdout fails.
 */
int ctl_copy_out(void *arg, const char *buf, size_t len);

/*
 * Resuming a followed stream that broke (logs -f, events, run -i): for up
 * to CTL_RESUME_S seconds (RRCTL_RECONNECT_S overrides; 0: never), a new
 * attempt every CTL_RESUME_PAUSE_MS.
 */
#define CTL_RESUME_S	    30
#define CTL_RESUME_PAUSE_MS 250

struct http_req;

/*
 * The stream r broke, or an attempt to resume it failed: say so the first
 * time (*deadline_ms 0 -> set), wait a moment, and return CTL_OK to try
 * again; CTL_UNREACHABLE (said) once the time is up; CTL_INTERRUPTED on
 * SIGINT.
 */
int ctl_resume_wait(struct ctl *c, struct http_req *r, long long *deadline_ms);

/* The stream is back: say so when it had broken; *deadline_ms = 0. */
void ctl_resumed(struct ctl *c, long long *deadline_ms);

/*
 * method on /v1/unikernels/NAME + suffix for every name at once, the
 * answers reported in the order of the names (the name on stdout when it
 * went well, the daemon's message otherwise); the worst exit status.
 */
int ctl_many(struct ctl *c, const char *method, const char *suffix,
    char **names, size_t n);

/* A whole number in [min, max]; 0, or -1 when s is not one. */
int ctl_number(const char *s, long min, long max, long *out);

/*
 * The start of rrctl run (iso false) and rrctl iso (iso true): read argv
 * into o, which the caller frees with run_opts_free() whatever the result,
 * and make the request.  Answers --help and --dry-run itself (the request
 * printed).  Returns CTL_OK with a new request in *reqp for the caller to
 * send (and json_decref()); CTL_OK with *reqp NULL when there is nothing
 * more to do; or an exit status, with the reason printed.
 */
int ctl_run_request(struct ctl *c, int argc, char *argv[], bool iso,
    struct run_opts *o, json_t **reqp);

/* The commands. */
int ctl_run(struct ctl *, int, char *[]);
int ctl_iso(struct ctl *, int, char *[]);
int ctl_ps(struct ctl *, int, char *[]);
int ctl_stop(struct ctl *, int, char *[]);
int ctl_start(struct ctl *, int, char *[]);
int ctl_rm(struct ctl *, int, char *[]);
int ctl_logs(struct ctl *, int, char *[]);
int ctl_inspect(struct ctl *, int, char *[]);
int ctl_events(struct ctl *, int, char *[]);
int ctl_info(struct ctl *, int, char *[]);
int ctl_version(struct ctl *, int, char *[]);
int ctl_help(struct ctl *, int, char *[]);
int ctl_stats(struct ctl *, int, char *[]); /* cmd_stats.c */
int ctl_image(struct ctl *, int, char *[]);
int ctl_volume(struct ctl *, int, char *[]);
int ctl_pause(struct ctl *, int, char *[]);
int ctl_unpause(struct ctl *, int, char *[]);
int ctl_restart(struct ctl *, int, char *[]);
int ctl_kill(struct ctl *, int, char *[]);
int ctl_wait(struct ctl *, int, char *[]);

/* cmd_image.c: the image and volume store. */
#define IMAGE_NAME_MAX 63

/*
 * The store name rrctl image push gives file by default: its base name in
 * lower case, other characters than a-z 0-9 _ . - as '-', starting with a
 * letter or a digit, at most IMAGE_NAME_MAX ("image" if nothing is left).
 */
void image_default_name(const char *file, char *buf, size_t len);

/*
 * The SHA-256 of what f holds (read to its end, then rewound) in hex
 * (65 bytes) and its size.  0, or -1 when it cannot be read.
 */
int image_file_digest(FILE *f, char *hex, long long *size);

/*
 * rrctl run on a daemon on another machine: make the local kernel file
 * an image of its store, unless the store already has its bytes (asked
 * by digest first), and return "store:NAME" in *ref (new string).
 * Returns CTL_OK or an exit status (said).
 */
int image_push_for_run(struct ctl *c, const char *file, char **ref);

#endif
