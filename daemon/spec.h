/*
 * spec: the launch request.
 *
 * A launch request arrives as JSON (POST /v1/unikernels, or a file given to
 * rumprund -C).  spec_parse() turns it into a struct spec, checking every
 * field against fixed bounds and against the operator's policy (which host
 * directories may be attached, which bridges and libvirt networks may be
 * joined, how much memory and how many vCPUs one guest may have).  A struct
 * spec that exists is valid: later layers never re-check it.
 *
 * spec_to_json() gives the canonical JSON form back: defaults filled in,
 * paths resolved, env as an array.  Two requests that mean the same launch
 * have equal canonical forms, which is what idempotent create compares.
 *
 * Platform iso is not launched: it is the request of a bootable ISO image
 * (POST /v1/iso, daemon/iso.c) for a real machine.  Such a request has no
 * memory_mib, vcpus, accel, paused or auto_remove (the machine decides,
 * there is no instance); its NICs name the machine's NetBSD driver
 * ("driver", default "wm") instead of a host backend and MAC; its block
 * devices are regular files, copied into the image under the file name
 * they have on the host, which must therefore differ.
 */
#ifndef SPEC_H
#define SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "restart.h"
#include "rrerr.h"

/* Bounds on what one request may carry. */
#define SPEC_BODY_MAX		(64 * 1024) /* bytes of JSON text */
#define SPEC_NAME_MAX		63
#define SPEC_PATH_MAX		1024
#define SPEC_ARGS_MAX		64
#define SPEC_ARG_LEN_MAX	1024
#define SPEC_ENV_MAX		64
#define SPEC_ENV_LEN_MAX	1024
#define SPEC_HOSTNAME_MAX	63
#define SPEC_LABELS_MAX		32
#define SPEC_LABEL_KEY_MAX	63
#define SPEC_LABEL_VALUE_MAX	255
#define SPEC_BLK_MAX		16
#define SPEC_NICS_MAX		8
#define SPEC_IFNAME_MAX		15 /* Linux IFNAMSIZ - 1 */
#define SPEC_MEMORY_MIN_MIB	8
#define SPEC_MEMORY_DEFAULT_MIB 64 /* the upstream rumprun tool's default */
#define SPEC_VCPUS_DEFAULT	1
#define SPEC_DRIVER_MAX		12   /* a NetBSD NIC driver: "wm", "vioif" */
#define SPEC_DRIVER_DEFAULT	"wm" /* the one PC NIC driver of hw_generic */
#define SPEC_DATA_NAME_MAX	100  /* a data image's file name in an ISO */
#define SPEC_BOOT_TIMEOUT_MAX	3600 /* seconds; boot_timeout_s and the conf */

/*
 * The platforms.  The first SPEC_PLATFORMS_LAUNCHED have a backend and
 * index the engine's tables; iso images are built, never launched.
 */
enum spec_platform {
	SPEC_PLATFORM_KVM,
	SPEC_PLATFORM_XEN,
	SPEC_PLATFORM_ISO,
};
#define SPEC_PLATFORMS_LAUNCHED 2

enum spec_accel {
	SPEC_ACCEL_DEFAULT, /* the daemon's configured accelerator */
	SPEC_ACCEL_KVM,
	SPEC_ACCEL_TCG,
};

enum spec_nic_type {
	SPEC_NIC_TAP,	  /* a tap device; libvirt names it when name is NULL */
	SPEC_NIC_BRIDGE,  /* a Linux bridge on the host */
	SPEC_NIC_NETWORK, /* a libvirt network */
};

enum spec_inet {
	SPEC_INET_NONE,
	SPEC_INET_DHCP,
	SPEC_INET_STATIC,
};

enum spec_inet6 {
	SPEC_INET6_NONE,
	SPEC_INET6_AUTO,
	SPEC_INET6_STATIC,
};

struct spec_blk {
	/*
	 * Resolved absolute host path, or "volume:NAME": a volume of the
	 * store (daemon/imgstore.h), resolved at each launch.
	 */
	char *source;
	char *mountpoint; /* absolute guest path, or NULL: attach only */
	bool readonly;
	bool copy; /* a volume: the instance's own writable copy */
};

struct spec_nic {
	enum spec_nic_type type; /* not on platform iso */
	char *backend_name;	 /* bridge or network name; tap name or NULL */
	char *mac;		 /* "52:54:00:12:34:56" (lower case), or NULL */
	char *driver; /* platform iso only: "wm" (the default), "re" */
	enum spec_inet inet;
	char *addr;		/* static only: "10.0.0.2" */
	unsigned int prefixlen; /* static only: 24 */
	char *gw;		/* static only, optional */
	enum spec_inet6 inet6;
	char *addr6; /* static only */
	unsigned int prefixlen6;
	char *gw6; /* static only, optional */
};

struct spec_label {
	char *key;
	char *value;
};

struct spec {
	char *name;
	enum spec_platform platform;
	/* Resolved absolute host path, or "store:NAME": an image of the store. */
	char *image;
	unsigned int memory_mib;
	unsigned int vcpus;
	char **argv; /* argc entries, argv[0] included, never empty */
	size_t argc;
	char **env; /* "NAME=VALUE", in request order */
	size_t nenv;
	char *hostname; /* or NULL */
	struct spec_label *labels;
	size_t nlabels;
	struct spec_blk *blk;
	size_t nblk;
	struct spec_nic *nics;
	size_t nnics;
	enum spec_accel accel;
	bool auto_remove; /* forget the instance once it has ended */
	bool paused;	  /* create the guest but do not let it run */
	/*
	 * Seconds the guest has to reach main() before the engine gives up on
	 * it (0: never), or -1: the daemon's boot_timeout.
	 */
	int boot_timeout_s;
	struct restart_spec restart; /* "restart"; policy no by default */
};

/*
 * What the operator allows.  The string lists are NULL-terminated arrays
 * that the caller owns; a NULL list allows nothing.  Directories should be
 * absolute; they are resolved (realpath) when checked.
 */
struct spec_policy {
	const char *const *image_dirs;
	const char *const *volume_dirs;
	const char *const *bridges;
	const char *const *networks;
	unsigned int max_memory_mib;
	unsigned int max_vcpus;
	/*
	 * The request is rumprund's own record of an instance it accepted
	 * earlier: host paths, bridges, networks and resource limits are not
	 * checked again, so that a change of policy or a deleted file never
	 * makes an instance disappear at restart.
	 */
	bool trusted;
	/*
	 * The image and volume store's directory ("store:NAME" images,
	 * "volume:NAME" block devices); NULL: no store, such names refused.
	 */
	const char *store_dir;
};

/*
 * Parse and validate a JSON launch request of len bytes.  On success store
 * a new struct spec in *out (free it with spec_free()) and return 0.  On
 * failure return -1 with err saying which field and why:
 * RRERR_TOO_LARGE (body over SPEC_BODY_MAX), RRERR_BAD_REQUEST (not a JSON
 * object, duplicate keys), RRERR_INVALID (an unknown or missing field, a
 * wrong JSON type, a value out of bounds or of the wrong form) or
 * RRERR_FORBIDDEN (outside the policy).
 */
int spec_parse(const char *text, size_t len, const struct spec_policy *policy,
    struct spec **out, struct rrerr *err);

/* As spec_parse(), from a parsed JSON value (borrowed). */
int spec_from_json(json_t *root, const struct spec_policy *policy,
    struct spec **out, struct rrerr *err);

/*
 * As spec_parse(), for the request of an ISO image (POST /v1/iso): the
 * platform is iso when the request does not say, and any other platform
 * is refused (RRERR_INVALID, field "platform").
 */
int spec_parse_iso(const char *text, size_t len,
    const struct spec_policy *policy, struct spec **out, struct rrerr *err);

/*
 * The name under which blk's source goes into an ISO image (its file
 * name on the host); borrowed from blk.
 */
const char *spec_data_name(const struct spec_blk *blk);

/*
 * The canonical JSON form of spec: a new reference, or NULL when out of
 * memory.  Feeding it back to spec_from_json() gives an equal spec.
 */
json_t *spec_to_json(const struct spec *spec);

/* True when a and b request the same launch. */
bool spec_equal(const struct spec *a, const struct spec *b);

/* Free spec and everything it owns; NULL is fine. */
void spec_free(struct spec *spec);

const char *spec_platform_name(enum spec_platform platform);

#endif
