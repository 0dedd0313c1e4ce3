/*
 * rrctl: the command-line client of rumprund (see rrctl.h and rrctl(1)).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "rrctl.h"

/*
 * Global options, then the command of ctl_commands[] named by the first
 * argument left, with the rest.
 */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "cacert", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c;
	const char *env;
	int ch, rv;

	memset(&c, 0, sizeof(c));
	c.host = (env = getenv("RUMPRUND_HOST")) != NULL && *env != '\0' ?
	    env :
	    RRCTL_DEFAULT_HOST;
	c.token_file = (env = getenv("RRCTL_TOKEN_FILE")) != NULL &&
		*env != '\0' ?
	    env :
	    NULL;
	c.cacert = (env = getenv("RRCTL_CACERT")) != NULL && *env != '\0' ?
	    env :
	    NULL;
	c.cert = (env = getenv("RRCTL_CERT")) != NULL && *env != '\0' ? env :
									NULL;
	c.key = (env = getenv("RRCTL_KEY")) != NULL && *env != '\0' ? env :
								      NULL;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:H:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			c.host = optarg;
			break;
		case 'T':
			c.token_file = optarg;
			break;
		case 'A':
			c.cacert = optarg;
			break;
		case 'C':
			c.cert = optarg;
			break;
		case 'K':
			c.key = optarg;
			break;
		case 'J':
			c.json = true;
			break;
		case 'h':
			ctl_usage(true);
			return CTL_OK;
		case 'V':
			printf("rrctl %s\n", RUMPRUND_VERSION);
			return CTL_OK;
		case ':':
			ctl_warnx("option %s needs an argument",
			    argv[optind - 1]);
			ctl_usage(false);
			return CTL_USAGE;
		default:
			ctl_warnx("unknown option %s", argv[optind - 1]);
			ctl_usage(false);
			return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		ctl_usage(false);
		return CTL_USAGE;
	}
	if ((c.cmd = ctl_lookup(argv[optind])) == NULL) {
		ctl_unknown_command(argv[optind]);
		return CTL_USAGE;
	}
	rv = c.cmd->fn(&c, argc - optind, argv + optind);
	http_free(c.http);
	if (fflush(stdout) == EOF && rv == CTL_OK) {
		perror("rrctl: stdout");
		rv = CTL_DENIED;
	}
	return rv;
}
