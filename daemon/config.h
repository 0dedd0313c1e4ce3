/*
 * config: rumprund.conf, the operator's settings (see rumprund.8).
 *
 * One "key = value" per line; '#' starts a comment; list keys (image_dir,
 * volume_dir, bridge, network) repeat.  Unknown keys and bad values are
 * errors that name the file and line, so that "rumprund -n" can check a
 * file before it is used.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "rrerr.h"
#include "spec.h"

#define CONFIG_LIST_MAX 32
#define CONFIG_KEYS_MAX 64

#define CONFIG_DEFAULT_PATH   "/etc/rumprund/rumprund.conf"
#define CONFIG_DEFAULT_SOCKET "/run/rumprund/rumprund.sock"
#define CONFIG_DEFAULT_STATE  "/var/lib/rumprund"
#define CONFIG_DEFAULT_LOGS   "/var/log/rumprund"
#define CONFIG_DEFAULT_GUESTS "/run/rumprund/guests"
#define CONFIG_QBOOT	      "/usr/share/qemu/qboot.rom"
#define CONFIG_BOOT_TIMEOUT   60      /* seconds to main(); 0: no limit */
#define CONFIG_STORE_SUBDIR   "store" /* store_dir's default: STATE/store */
#define CONFIG_STORE_MAX_SIZE (4ULL << 30)
#define CONFIG_BOOT_ID_FILE   "/proc/sys/kernel/random/boot_id"

struct config_list {
	char *items[CONFIG_LIST_MAX + 1]; /* NULL-terminated */
	size_t n;
};

struct config {
	char *socket;
	mode_t socket_mode;
	char *socket_group;  /* NULL: leave the group alone */
	char *tcp;	     /* NULL: no TCP listener */
	char *tls_cert;	     /* PEM server certificate (chain) */
	char *tls_key;	     /* its PEM private key */
	char *tls_client_ca; /* NULL: no client certificates */
	char *token_file;    /* NULL: no bearer tokens */
	bool tcp_insecure;   /* TCP without client authentication */
	char *state_dir;
	char *log_dir;	  /* guests' console logs */
	char *guest_dir;  /* kernels QEMU boots (rumprund's copies) */
	char *daemon_log; /* NULL: stderr */
	struct config_list image_dirs;
	struct config_list volume_dirs;
	struct config_list bridges;
	struct config_list networks;
	char *libvirt_uri;
	enum spec_accel accel; /* resolved: never DEFAULT after load */
	bool accel_auto;
	char *cpu_model; /* NULL: QEMU's default */
	char *firmware;	 /* NULL: SeaBIOS */
	bool fast_cpu_probe;
	unsigned int max_instances;
	uint64_t max_total_memory_mib;
	unsigned int max_memory_mib;
	unsigned int max_vcpus;
	uint64_t console_log_max;
	unsigned int stop_timeout; /* seconds; 0: a stop destroys at once */
	unsigned int boot_timeout; /* seconds to main(); 0: no limit */
	/* The image and volume store (daemon/imgstore.h). */
	char *store_dir;	  /* after config_resolve(): never NULL */
	uint64_t store_max_size;  /* bytes per image or volume; 0: none */
	uint64_t store_max_total; /* bytes in all; 0: the disk's size */
	/* The kernel's boot id, to tell a host reboot (tests point it away). */
	char *boot_id_file;

	char *path; /* the file read last; NULL: none */
	unsigned int lines[CONFIG_KEYS_MAX]; /* by key: line last set, 0 */
};

/* Fill cfg with the built-in defaults (free with config_free()). */
void config_defaults(struct config *cfg);

/*
 * Read path over cfg.  A missing file is an error only when required.
 * Returns 0, or -1 with err ("FILE:LINE: ...").
 */
int config_load(struct config *cfg, const char *path, bool required,
    struct rrerr *err);

/*
 * Where key was last set, for messages: "FILE:LINE: key" into buf, or just
 * "key" when it was not set in a file.  Returns buf.
 */
const char *config_where(const struct config *cfg, const char *key, char *buf,
    size_t size);

/* Resolve "auto" settings (accel, firmware) against this host. */
void config_resolve(struct config *cfg);

/* The policy for spec_parse(): borrows cfg's lists. */
void config_policy(const struct config *cfg, struct spec_policy *policy);

/* Print the effective settings, one "key = value" a line. */
void config_print(const struct config *cfg, FILE *f);

void config_free(struct config *cfg);

#endif
