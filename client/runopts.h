/*
 * runopts: the options of `rrctl run` (those of the upstream rumprun tool, plus
 * a few) turned into a launch request (openapi.yaml, LaunchRequest); and
 * those of `rrctl iso`, the same less what has no meaning in an ISO image
 * (upstream's `rumprun iso`), into the request of an ISO image.
 *
 * Pure functions: run_parse() reads the command line into a struct
 * run_opts, run_request() makes the JSON request from it, asking a
 * resolver for the absolute host path of the image and of each disk.
 * Neither prints nor talks to a daemon, so both are tested in
 * tests/unit/test_rrctl_run.c.
 */
#ifndef RUNOPTS_H
#define RUNOPTS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define RUN_NAME_MAX   63	/* the daemon's name pattern: 1 + 62 */
#define RUN_XEN_BRIDGE "xenbr0" /* xl's default bridge of a vif */

struct run_opts {
	bool iso;		   /* rrctl iso: an ISO image, not a launch */
	const char *output;	   /* iso: -o, or NULL: NAME.iso */
	const char *platform;	   /* "kvm" (the default), "xen"; "iso" */
	const char *platform_from; /* set by a word or --platform */
	const char *accel;	   /* "kvm", "tcg", or NULL: the daemon's */
	const char *name;	   /* -N, or NULL: rumprun-IMAGE */
	const char *image;	   /* as typed; argv[0] of the guest */
	char **args; /* the guest program's arguments (borrowed) */
	size_t nargs;
	long memory_mib;      /* -M, or 0: the daemon's default (64) */
	long vcpus;	      /* --vcpus, or 0: the daemon's default (1) */
	long boot_timeout;    /* --boot-timeout, or -1: the daemon's */
	const char *restart;  /* --restart policy, or NULL: none */
	long restart_max;     /* --restart on-failure:N, or -1 */
	long backoff_initial; /* --restart-backoff I[:M], or -1 */
	long backoff_max;     /* or -1 */
	long restart_reset;   /* --restart-reset S, or -1 */
	json_t *env;	      /* ["NAME=VALUE", ...] */
	json_t *labels;	      /* {"KEY": "VALUE"} */
	json_t *blk;	      /* [{"source": as typed, "mountpoint"}] */
	json_t *nics; /* [{"backend", "mac", "inet", "inet6"}]; iso: "driver" */
	json_t *iftags;	  /* [{"tag", "basename", "spec"}], as nics */
	bool paused;	  /* -p */
	bool auto_remove; /* -d, --rm */
	bool attach;	  /* -i */
	bool dry_run;	  /* --dry-run */
};

/*
 * Read `run` and its arguments (argv[0] is "run") into o, which the caller
 * frees with run_opts_free() whatever the result.  Returns 0; 1 when
 * --help (or -h) was asked for; -1 for a usage error, with one sentence in
 * err (no "rrctl: " prefix).  Uses getopt_long(), starting a new scan.
 */
int run_parse(int argc, char *argv[], struct run_opts *o, char *err,
    size_t errlen);

/*
 * As run_parse(), for `iso` (argv[0]): no platform word; -o FILE; -I
 * iftag,driver names the machine's NIC driver (wm, re, vioif ...) and
 * takes no backend options; -d, -i, -p, -M, --vcpus, --accel and
 * --platform are refused, as upstream's `rumprun iso` refuses them.
 */
int run_parse_iso(int argc, char *argv[], struct run_opts *o, char *err,
    size_t errlen);

void run_opts_free(struct run_opts *o);

/*
 * A resolver: the absolute host path for path as typed, a new string
 * (free() it), or NULL with errno set.
 */
typedef char *run_resolve_fn(const char *path, void *arg);

/*
 * The default resolver: realpath(3); a path that does not resolve here is
 * kept as typed when it is absolute (the daemon, perhaps on another host,
 * decides), and fails otherwise.
 */
char *run_realpath(const char *path, void *arg);

/*
 * The launch request of o: a new JSON object, or NULL with one sentence in
 * err (a path that does not resolve, out of memory).
 */
json_t *run_request(const struct run_opts *o, run_resolve_fn *resolve,
    void *arg, char *err, size_t errlen);

/*
 * The instance name rrctl gives when -N is not used: "rumprun-" and the
 * image's file name, lower case, other characters than [a-z0-9_.-] made
 * '-', at most RUN_NAME_MAX bytes.  Writes it to buf (size at least
 * RUN_NAME_MAX + 1).
 */
void run_default_name(const char *image, char *buf, size_t len);

#endif
