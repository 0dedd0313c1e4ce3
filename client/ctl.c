/*
 * ctl: rrctl's command table, its usage and help, and what every command
 * shares (messages, option scanning, the connection).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "rrctl.h"

#define RUN_HELP \
	"  kvm | xen | qemu     the platform, as upstream's first word (qemu: kvm\n" \
	"                       with --accel tcg); the default is kvm\n" \
	"  -b path[,mountpoint] attach a disk image; mount it when mountpoint given\n" \
	"  -d, --rm             remove the instance and its console log once it\n" \
	"                       has ended (upstream's -d; not docker's detach:\n" \
	"                       without -i, run never waits)\n" \
	"  -e NAME=VALUE        set an environment variable (repeatable)\n" \
	"  -I iftag,ifbasename[,backendopts]\n" \
	"                       add a NIC (ifbasename vioif on kvm, xenif on xen);\n" \
	"                       backendopts: tap:NAME, bridge:NAME, network:NAME,\n" \
	"                       '-net tap,ifname=NAME', '-net bridge,br=NAME',\n" \
	"                       bridge=NAME, or empty (a tap named by libvirt);\n" \
	"                       on xen only bridges, and empty is xenbr0\n" \
	"  -i                   follow the console until the guest ends; exit with\n" \
	"                       its exit status\n" \
	"  -M mem               memory in MiB (suffix M or G allowed; default 64)\n" \
	"  -N name              the instance's name and the guest's hostname\n" \
	"                       (default: the first free of rumprun-IMAGE,\n" \
	"                       rumprun-IMAGE-2 ...); the same line with -N again\n" \
	"                       runs an ended instance again\n" \
	"  -p                   create the guest paused (rrctl start resumes it)\n" \
	"  -W iftag,netspec     configure the NIC tagged iftag: inet,dhcp |\n" \
	"                       inet,static,ADDR/MASK[,GW] | inet6,auto |\n" \
	"                       inet6,static,ADDR/MASK[,GW]\n" \
	"  --platform kvm|xen   the platform, instead of the first word\n" \
	"  --label KEY=VALUE    label the instance (repeatable)\n" \
	"  --vcpus n            virtual CPUs (default 1)\n" \
	"  --accel kvm|tcg      the accelerator (default: the daemon's)\n" \
	"  --boot-timeout s     seconds the guest has to reach main() (0: no\n" \
	"                       limit; default: the daemon's boot_timeout)\n" \
	"  --restart policy     no (default) | on-failure[:N] | always |\n" \
	"                       unless-stopped: start the guest again when it\n" \
	"                       ends (on-failure: exit status != 0, crash or\n" \
	"                       failed boot; N: retries, 0 none); never after an\n" \
	"                       rrctl stop or kill\n" \
	"  --restart-backoff i[:m]  seconds before the first restart of a crash\n" \
	"                       loop (default 1), doubling up to m (default 300)\n" \
	"  --restart-reset s    a run this long ends the crash loop (default 600)\n" \
	"  --dry-run            print the launch request instead of sending it\n" \
	"  Not supported: -D (gdb), -g (guest args), -n (old netspec).\n"

#define ISO_HELP \
	"  -o file              write the image to file (default: NAME.iso); an\n" \
	"                       existing file is replaced once the image is whole\n" \
	"  -b path[,mountpoint] put a data image into the ISO (under its file\n" \
	"                       name, read-only) and mount it when mountpoint given\n" \
	"  -e NAME=VALUE        set an environment variable (repeatable)\n" \
	"  -I iftag,driver      a NIC of the machine, by its NetBSD driver: wm,\n" \
	"                       re, vioif ... (wm0, wm1 ... in the order given)\n" \
	"  -N name              the request's name and the guest's hostname\n" \
	"                       (default rumprun-IMAGE)\n" \
	"  -W iftag,netspec     configure the NIC tagged iftag: inet,dhcp |\n" \
	"                       inet,static,ADDR/MASK[,GW] | inet6,auto |\n" \
	"                       inet6,static,ADDR/MASK[,GW]\n" \
	"  --dry-run            print the request instead of sending it\n" \
	"  Not for an ISO image: -d, --rm, -i, -p, -M, --vcpus, --accel,\n" \
	"  --boot-timeout, --restart..., --platform.\n" \
	"  The options come before image: what follows it is the guest's.\n"

const struct ctl_command ctl_commands[] = {
	{ "run", CMD_RUN, ctl_run,
	    "[kvm | xen | qemu] [options] image [--] [arg ...]",
	    "Launch a unikernel; the options are those of upstream rumprun.",
	    RUN_HELP, 0 },
	{ "iso", CMD_ISO, ctl_iso, "[-o file] [options] image [--] [arg ...]",
	    "Make a bootable ISO image of a unikernel for a real machine.",
	    ISO_HELP, 0 },
	{ "ps", CMD_PS, ctl_ps,
	    "[-aq] [--filter key=value] [-o cols] [--format f] [--json]",
	    "List the instances that have not ended (-a: all of them).",
	    "  -a                   all instances, ended ones too\n"
	    "  -q                   names only\n"
	    "  --filter state=S     only instances in state S (implies -a);\n"
	    "                       status=S says the same\n"
	    "  --filter name=PART   only instances whose name contains PART\n"
	    "  --filter platform=P  only instances on platform kvm or xen\n"
	    "  --filter label=K[=V] only instances with label K (equal to V);"
	    "\n                       repeatable\n"
	    "  -o col,...           the columns: name, status, state, platform,\n"
	    "                       memory, address, exit, uptime, generation,\n"
	    "                       created (default name,status,platform,\n"
	    "                       memory,address)\n"
	    "  --format table|json|jsonl\n"
	    "                       jsonl: one JSON instance a line\n"
	    "  --json               the instances as a JSON array\n",
	    CTL_F_JSON },
	{ "stats", CMD_STATS, ctl_stats,
	    "[--no-stream] [--format f] [--json] [name ...]",
	    "Show the guests' CPU, memory, disk and network use, refreshed.",
	    "  name ...             these instances (default: every instance\n"
	    "                       that has not ended, listed each round)\n"
	    "  --no-stream          print one table and end (it takes two\n"
	    "                       samples, a second apart, for CPU %)\n"
	    "  --format table|json|jsonl\n"
	    "                       json: the daemon's answers with\n"
	    "                       cpu_percent, as an array; jsonl: one a line\n"
	    "  --json               as --format json\n"
	    "  CPU % is 100 for one vCPU busy all the time.\n",
	    CTL_F_JSON },
	{ "stop", CMD_STOP, ctl_stop, "[-f] [-t seconds] name ... | --all",
	    "Stop instances; answers once each has ended.",
	    "  -a, --all            every instance that has not ended\n"
	    "  -f                   destroy at once, without asking the guest\n"
	    "  -t seconds           wait that long for the guest before\n"
	    "                       destroying it (default: the daemon's)\n",
	    0 },
	{ "start", CMD_START, ctl_start, "name ...",
	    "Run ended instances again, or resume paused ones.", "", 0 },
	{ "rm", CMD_RM, ctl_rm, "[-f] name ...",
	    "Forget ended instances, their records and console logs.",
	    "  -f                   destroy instances that still run first\n",
	    0 },
	{ "logs", CMD_LOGS, ctl_logs,
	    "[-ft] [--tail n | --since duration | time] name",
	    "Print an instance's console log.",
	    "  -f, --follow         go on printing what the guest writes until\n"
	    "                       it ends (Ctrl-C stops following)\n"
	    "  --tail n             only the last n lines\n"
	    "  -t, --timestamps     each line after the time it arrived\n"
	    "  --since 10m | TIME   the lines that arrived in the last 10\n"
	    "                       minutes (s, m, h, d), or from an RFC 3339\n"
	    "                       time on\n",
	    0 },
	{ "inspect", CMD_INSPECT, ctl_inspect, "name",
	    "Print everything about an instance as JSON.", "", 0 },
	{ "events", CMD_EVENTS, ctl_events,
	    "[--since seq | duration | time] [--no-follow] [--json]",
	    "Print state changes as they happen, until Ctrl-C.",
	    "  --since seq          first the kept events after seq\n"
	    "  --since 10m | TIME   first the kept events of the last 10\n"
	    "                       minutes (s, m, h, d) or from an RFC 3339\n"
	    "                       time on\n"
	    "  --no-follow          end after those\n"
	    "  --json               the events as JSON lines\n",
	    CTL_F_JSON },
	{ "info", CMD_INFO, ctl_info, "[--json]",
	    "Show the daemon's version, backends, limits and counts.",
	    "  --json               the daemon's answer as JSON\n",
	    CTL_F_JSON },
	{ "version", CMD_VERSION, ctl_version, "[--json]",
	    "Show the versions of rrctl and of the daemon.",
	    "  --json               as a JSON object\n", CTL_F_JSON },
	{ "pause", CMD_PAUSE, ctl_pause, "name ...",
	    "Pause running guests (their vCPUs stop; the state is paused).", "",
	    0 },
	{ "unpause", CMD_UNPAUSE, ctl_unpause, "name ...",
	    "Let paused guests run again.", "", 0 },
	{ "resume", CMD_RESUME, ctl_unpause, "name ...", "The same as unpause.",
	    "", 0 },
	{ "restart", CMD_RESTART, ctl_restart, "[-t seconds] name ...",
	    "Stop and start again as one operation (a new generation).",
	    "  -t seconds           as for stop: wait that long for the guest\n"
	    "                       before destroying it (default: the\n"
	    "                       daemon's)\n",
	    0 },
	{ "kill", CMD_KILL, ctl_kill, "[-s KILL] name ...",
	    "Destroy running guests at once.",
	    "  -s, --signal KILL    the only signal there is (a unikernel has\n"
	    "                       none): KILL, SIGKILL or 9\n",
	    0 },
	{ "wait", CMD_WAIT, ctl_wait,
	    "[-t seconds] [--condition state] name ...",
	    "Wait until instances end; print their exit statuses and exit "
	    "with the first.",
	    "  -t, --timeout s      give up after s seconds (exit 124)\n"
	    "  --condition state    wait for that state instead of the end;\n"
	    "                       print the state, exit 0 when each got\n"
	    "                       there, 1 when one ended first\n",
	    0 },
	{ "help", CMD_HELP, ctl_help, "[command]",
	    "Show the usage, or a command's options.", "", 0 },
	{ "image", CMD_IMAGE, ctl_image,
	    "push [-f] FILE [NAME] | ls [-q] [--json] | rm [-f] NAME ...",
	    "Manage the daemon's image store (launch with store:NAME).",
	    "  push FILE [NAME]     upload FILE as image NAME (default: its\n"
	    "                       file name), with its SHA-256\n"
	    "  -f                   push: replace an image instances use;\n"
	    "                       rm: remove it although instances use it\n"
	    "  ls                   the images, their digests and users\n"
	    "  -q                   names only\n"
	    "  --json               as JSON\n",
	    CTL_F_JSON },
	{ "volume", CMD_VOLUME, ctl_volume,
	    "push [-f] FILE [NAME] | ls [-q] [--json] | rm [-f] NAME ...",
	    "Manage the daemon's volume store (attach with volume:NAME).",
	    "  push FILE [NAME]     upload FILE as volume NAME (default: its\n"
	    "                       file name), with its SHA-256\n"
	    "  -f                   push: replace a volume instances use;\n"
	    "                       rm: remove it although instances use it\n"
	    "  ls                   the volumes, their digests and users\n"
	    "  -q                   names only\n"
	    "  --json               as JSON\n",
	    CTL_F_JSON },
	{ NULL, 0, NULL, NULL, NULL, NULL, 0 },
};

const struct ctl_command *
ctl_lookup(const char *name)
{
	const struct ctl_command *cmd;

	for (cmd = ctl_commands; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

/* The edit distance of a and b (short words), for "did you mean". */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, row[32], prev, tmp;

	if (la >= 31 || lb >= 31)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

const char *
ctl_suggest(const char *name)
{
	/* Words of docker and of upstream rumprun users. */
	static const struct {
		const char *word, *cmd;
	} aliases[] = {
		{ "ls", "ps" },
		{ "list", "ps" },
		{ "remove", "rm" },
		{ "launch", "run" },
		{ "create", "run" },
		{ "attach", "logs -f" },
		{ "suspend", "pause" },
		{ "show", "inspect" },
		{ NULL, NULL },
	};
	const struct ctl_command *cmd;
	const char *best = NULL;
	size_t d, bestd = 3, i;

	for (i = 0; aliases[i].word != NULL; i++)
		if (strcmp(aliases[i].word, name) == 0)
			return aliases[i].cmd;
	for (cmd = ctl_commands; cmd->name != NULL; cmd++) {
		d = distance(name, cmd->name);
		/* One edit for short words, two for longer ones. */
		if (d < bestd && d <= (strlen(cmd->name) <= 3 ? 1u : 2u)) {
			bestd = d;
			best = cmd->name;
		}
	}
	return best;
}

void
ctl_unknown_command(const char *name)
{
	const char *hint = ctl_suggest(name);

	if (hint != NULL)
		ctl_warnx("no command %s; did you mean 'rrctl %s'?", name,
		    hint);
	else
		ctl_warnx("no command %s", name);
	fprintf(stderr,
	    "usage: rrctl [global options] command [arg ...]; "
	    "'rrctl help' lists the commands\n");
}

void
ctl_usage(bool ok)
{
	const struct ctl_command *cmd;
	FILE *fp = ok ? stdout : stderr;

	fprintf(fp,
	    "usage: rrctl [--host url] [--token-file file] "
	    "[--cacert file] [--cert file [--key file]] [--json] "
	    "command [arg ...]\n");
	for (cmd = ctl_commands; cmd->name != NULL; cmd++)
		fprintf(fp, "\t%s %s\n", cmd->name, cmd->usage);
}

int
ctl_cmd_usage(const struct ctl_command *cmd)
{
	fprintf(stderr, "usage: rrctl %s %s\n", cmd->name, cmd->usage);
	return CTL_USAGE;
}

void
ctl_cmd_help(const struct ctl_command *cmd)
{
	printf("usage: rrctl %s %s\n\n%s\n", cmd->name, cmd->usage,
	    cmd->summary);
	if (cmd->help[0] != '\0')
		printf("\n%s", cmd->help);
}

static void vwarnx(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

/* "rrctl: MESSAGE" to stderr, after what is pending on stdout. */
static void
vwarnx(const char *fmt, va_list ap)
{
	fflush(stdout);
	fputs("rrctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
}

/* Print err's message, if any; its kind as an exit status. */
static int
ctl_failed(const struct http_err *err)
{
	if (err->msg[0] != '\0')
		ctl_warnx("%s", err->msg);
	switch (err->kind) {
	case HTTP_ERR_UNREACHABLE:
		return CTL_UNREACHABLE;
	case HTTP_ERR_INTERRUPTED:
		return CTL_INTERRUPTED;
	default:
		return CTL_DENIED;
	}
}

int
ctl_outcome(struct http *h, struct http_req *r, json_t **out)
{
	struct http_err err;

	if (http_outcome(h, r, out, &err) == -1)
		return ctl_failed(&err);
	return CTL_OK;
}

int
ctl_call(struct http *h, const char *method, const char *path, json_t *body,
    json_t **out, long *status)
{
	struct http_err err;

	if (http_call(h, method, path, body, out, status, &err) == -1)
		return ctl_failed(&err);
	return CTL_OK;
}

int
ctl_usage_error(const struct ctl_command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	return ctl_cmd_usage(cmd);
}

int
ctl_getopt(struct ctl *c, int argc, char *argv[], const char *optstring,
    const void *longopts, bool *started, int *status)
{
	const struct option *lo = longopts;
	char opts[64];
	int ch;

	*status = CTL_OK;
	if (!*started) {
		optind = 0;
		*started = true;
	}
	/*
	 * ":" first: a missing argument returns ':' instead of '?'.  No "+":
	 * GNU getopt permutes, so options may follow the names (rrctl logs
	 * NAME --tail 1); "--" ends them.  run and iso do not come here: the
	 * guest's argv starts at their image.
	 */
	snprintf(opts, sizeof(opts), ":%s", optstring);
	opterr = 0;
	for (;;) {
		ch = getopt_long(argc, argv, opts, lo, NULL);
		switch (ch) {
		case 'h':
			ctl_cmd_help(c->cmd);
			return 'h';
		case 'J':
			if ((c->cmd->flags & CTL_F_JSON) == 0)
				goto unknown;
			c->json = true;
			continue;
		case ':':
			/* A long option's optopt is its val: say what was typed. */
			if (optopt != 0 && optopt < 256 &&
			    strncmp(argv[optind - 1], "--", 2) != 0)
				*status = ctl_usage_error(c->cmd,
				    "option -%c needs an argument", optopt);
			else
				*status = ctl_usage_error(c->cmd,
				    "option %s needs an argument",
				    argv[optind - 1]);
			return '?';
		case '?':
unknown:
			if (optopt != 0 && optopt < 256 && optopt != 'J' &&
			    strncmp(argv[optind - 1], "--", 2) != 0)
				*status = ctl_usage_error(c->cmd,
				    "unknown option -%c", optopt);
			else
				*status = ctl_usage_error(c->cmd,
				    "unknown option %s", argv[optind - 1]);
			return '?';
		default:
			return ch;
		}
	}
}

int
ctl_connect(struct ctl *c)
{
	char err[512];

	if (c->http != NULL)
		return CTL_OK;
	if ((c->http = http_new(c->host, c->token_file, err, sizeof(err))) ==
		NULL ||
	    http_set_tls(c->http, c->cacert, c->cert, c->key, err,
		sizeof(err)) == -1) {
		ctl_warnx("%s", err);
		http_free(c->http);
		c->http = NULL;
		return CTL_USAGE;
	}
	return CTL_OK;
}

int
ctl_copy_out(void *arg, const char *buf, size_t len)
{
	(void)arg;
	if (fwrite(buf, 1, len, stdout) != len)
		return -1;
	fflush(stdout);
	return 0;
}

int
ctl_number(const char *s, long min, long max, long *out)
{
	char *end;
	long n;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

int
ctl_help(struct ctl *c, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct ctl_command *cmd;
	bool started = false;
	int rv;

	if (ctl_getopt(c, argc, argv, "h", longopts, &started, &rv) != -1)
		return rv;
	if (optind >= argc) {
		ctl_usage(true);
		return CTL_OK;
	}
	if (argc - optind > 1)
		return ctl_usage_error(c->cmd, "give one command");
	if ((cmd = ctl_lookup(argv[optind])) == NULL) {
		ctl_unknown_command(argv[optind]);
		return CTL_USAGE;
	}
	ctl_cmd_help(cmd);
	return CTL_OK;
}
