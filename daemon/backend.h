/*
 * backend: the one interface between rumprund and a hypervisor.
 *
 * Each hypervisor fills a static struct backend_ops with designated
 * initializers (backends/: kvm.c through libvirt, xen.c through libxl,
 * fake.c for unit tests).  open, launch, shutdown, destroy, resume, list
 * and close are mandatory: the engine calls them without a check.
 * release, stats, addresses and pause are optional: a NULL entry means
 * "unsupported" and its one caller checks (release: nothing to drop;
 * stats: collect.c reports the counters unavailable; addresses: the engine
 * never asks; pause: engine_pause() answers RRERR_CONFLICT naming the
 * backend).  Only the core calls through this table (daemon/engine.c, and
 * daemon/collect.c for stats, on the engine's backends).  Backends never
 * parse HTTP and never touch the instance table; the engine never talks
 * to libvirt.
 *
 * Threads: open() and close() run on the daemon's loop thread; every other
 * operation blocks (a libvirt RPC takes ~0.3 s) and is called from a worker
 * thread of libuv's pool, possibly several at once, so implementations must
 * be thread-safe.  Events are reported through the callback given to open(),
 * from any thread; the engine queues them to its loop.
 *
 * Ownership of a domain: the engine names every domain it creates
 * backend_domain_name() and the backend also records owner, instance and
 * generation in the domain's metadata.  list() returns only domains whose
 * metadata says they belong to owner, so that a backend never touches a
 * domain rumprund did not create.  Nothing parses a domain name: the
 * instance and generation come from the metadata, and the name's prefix
 * (backend_domain_prefix()) only prefilters.
 *
 * A domain name is unique per incarnation: it ends in a random tag drawn
 * for each launch, so that two incarnations of an instance (a start again,
 * or an instance removed and created again under the same name) never
 * share a name.  An event of an earlier incarnation that arrives late (a
 * STOPPED after the new one began) names a domain that no instance has, and
 * a leftover of an earlier incarnation never blocks a new launch.
 */
#ifndef BACKEND_H
#define BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rrerr.h"
#include "spec.h"

/*
 * "rr-" + 8 of owner + "-" + instance (SPEC_NAME_MAX) + "-" + generation
 * (10 digits at most) + "-" + tag (8) + NUL = 96.  libvirt sets no limit of
 * its own below NAME_MAX for the files named after a domain, and shortens
 * the name for its monitor socket path; Xen's limit is xenstore's.
 */
#define BACKEND_DOMAIN_PREFIX	"rr-"
#define BACKEND_DOMAIN_NAME_MAX 96
_Static_assert(3 + 8 + 1 + SPEC_NAME_MAX + 1 + 10 + 1 + 8 <
	BACKEND_DOMAIN_NAME_MAX,
    "a domain name of the longest instance name fits");

struct backend;

/* What the engine asks a backend to run: all borrowed, valid for the call. */
struct backend_launch {
	const struct spec *spec;
	const char *owner;	  /* this daemon's id (state dir uuid) */
	const char *domain_name;  /* backend_domain_name() */
	unsigned int generation;  /* 1 for the first run, +1 per start */
	const char *guest_config; /* guestconf text */
	const char *console_log;  /* host file the console is appended to */
	const char *const *macs;  /* spec->nnics MACs, chosen by the engine */
	/*
	 * The files checked for this launch (paths_open_spec()): the image
	 * (O_RDONLY) and spec->nblk disks (O_RDWR unless read-only).  A
	 * backend hands the hypervisor these files, never spec's paths,
	 * which a caller may have pointed elsewhere since the check.
	 */
	int image_fd;
	const int *blk_fds;
};

enum backend_event_type {
	BACKEND_EVENT_STARTED,	/* the domain runs */
	BACKEND_EVENT_STOPPED,	/* destroyed (by us or by someone) */
	BACKEND_EVENT_SHUTDOWN, /* the guest powered off (Xen) */
	BACKEND_EVENT_CRASHED,	/* QEMU died / the domain crashed */
	/*
	 * The hypervisor stopped the guest for good (QEMU's KVM internal
	 * error) but the domain is still there, paused: the engine destroys
	 * it.  detail is the reason, a sentence for the user.
	 */
	BACKEND_EVENT_FAULT,
	BACKEND_EVENT_DISCONNECTED, /* lost the hypervisor connection */
	BACKEND_EVENT_RECONNECTED,  /* back; the engine should re-list */
	/*
	 * The guest was paused, or let run again, by someone (a pause or
	 * resume of the engine's, or virsh suspend behind its back); not a
	 * guest the hypervisor stopped for good (FAULT).  A backend that
	 * cannot tell reports none: list() says it then.
	 */
	BACKEND_EVENT_PAUSED,
	BACKEND_EVENT_RESUMED,
};

struct backend_event {
	enum backend_event_type type;
	char domain_name[BACKEND_DOMAIN_NAME_MAX]; /* "" for (dis)connect */
	char detail[256]; /* e.g. libvirt's reason, for logs */
};

typedef void backend_event_fn(void *arg, const struct backend_event *ev);

/* One of our domains as the hypervisor sees it. */
struct backend_domain {
	char domain_name[BACKEND_DOMAIN_NAME_MAX];
	char instance[SPEC_NAME_MAX + 1];
	unsigned int generation;
	bool running;	 /* false: exists but shut off/crashed */
	char fault[256]; /* as BACKEND_EVENT_FAULT's detail; "" */
	bool paused;	 /* running but paused (not a fault) */
};

/*
 * The counters of one running domain, as its hypervisor keeps them since
 * the domain started.  A field the backend cannot read is
 * BACKEND_STATS_NONE (the API shows null).  Sums over all of a domain's
 * disks and NICs.
 */
#define BACKEND_STATS_NONE UINT64_MAX

struct backend_stats {
	char domain_name[BACKEND_DOMAIN_NAME_MAX];
	uint64_t cpu_ns;       /* CPU time of all vCPUs */
	uint64_t memory_bytes; /* memory the guest has now */
	uint64_t rss_bytes;    /* host memory in use for it */
	uint64_t block_rd_bytes, block_rd_reqs;
	uint64_t block_wr_bytes, block_wr_reqs;
	uint64_t net_rx_bytes, net_rx_packets;
	uint64_t net_tx_bytes, net_tx_packets;
};

/* Every field of st BACKEND_STATS_NONE, its name "". */
void backend_stats_init(struct backend_stats *st);

/* Settings the daemon's configuration gives a backend. */
struct backend_config {
	const char *uri; /* libvirt URI, e.g. qemu:///system */
	const char *owner;
	enum spec_accel accel; /* default accelerator: kvm or tcg */
	const char *cpu_model; /* NULL: the hypervisor's default */
	const char *firmware;  /* qboot.rom path, or NULL: SeaBIOS */
	const char *emulator;  /* NULL: libvirt's default */
	const char *guest_dir; /* KVM: kernel copies; NULL: default */
	bool fast_cpu_probe;   /* skip QEMU's CPU property read-back */
};

/*
 * One address of a guest's NIC, and where it was learnt: "lease" (the
 * DHCP server of a libvirt network), "arp" (the host's neighbour table);
 * the engine adds "config" for a static address of the spec.
 */
#define BACKEND_NIC_ADDRS_MAX 4
struct backend_nic_addr {
	char addr[46];	     /* INET6_ADDRSTRLEN */
	unsigned int prefix; /* 0: unknown */
	bool inet6;
	const char *source; /* a static string */
};

/* What the host knows of one NIC of a running domain. */
struct backend_nic_info {
	char mac[18];	   /* in: the NIC's MAC, lower case */
	char host_dev[64]; /* out: "vnet3", "vif5.0"; "": unknown */
	struct backend_nic_addr addrs[BACKEND_NIC_ADDRS_MAX];
	size_t naddrs; /* out */
};

struct backend_ops {
	const char *name; /* "kvm", "xen", "fake" */

	/*
	 * Connect.  Returns a new backend, or NULL with err saying why the
	 * backend is unavailable on this host (RRERR_UNAVAILABLE).
	 */
	struct backend *(*open)(const struct backend_config *cfg,
	    backend_event_fn *cb, void *cb_arg, struct rrerr *err);

	/* Create and start the domain (paused if launch->spec->paused). */
	int (*launch)(struct backend *b, const struct backend_launch *launch,
	    struct rrerr *err);

	/* Ask the guest to power off (ACPI on KVM, which rumprun ignores). */
	int (*shutdown)(struct backend *b, const char *domain_name,
	    struct rrerr *err);

	/* Kill the domain; a domain that does not exist is success. */
	int (*destroy)(struct backend *b, const char *domain_name,
	    struct rrerr *err);

	/* Resume a paused domain. */
	int (*resume)(struct backend *b, const char *domain_name,
	    struct rrerr *err);

	/*
	 * List the domains that belong to owner: a new array in *out (free()
	 * it) of *n entries.
	 */
	int (*list)(struct backend *b, const char *owner,
	    struct backend_domain **out, size_t *n, struct rrerr *err);

	/*
	 * The domain domain_name is gone (destroyed, ended, never created):
	 * drop what the backend keeps on the host for it (the KVM backend's
	 * copy of the kernel).  Cheap (an unlink); called on the loop
	 * thread.  NULL: nothing to drop.
	 */
	void (*release)(struct backend *b, const char *domain_name);

	/* Disconnect and free; b may be NULL.  No callback runs afterwards. */
	void (*close)(struct backend *b);

	/*
	 * The counters of every running domain whose name starts with
	 * prefix (backend_domain_prefix()), in one go: a new array in *out
	 * (free() it) of *n entries.  NULL: unsupported.
	 */
	int (*stats)(struct backend *b, const char *prefix,
	    struct backend_stats **out, size_t *n, struct rrerr *err);

	/*
	 * The host device and the addresses the host knows of each NIC of
	 * the running domain domain_name: nics[i].mac is given, the backend
	 * fills the rest (zeroed by the caller), matching NICs by MAC.  A
	 * NIC the host knows nothing of stays empty: that is not an error.
	 * Blocks (a few RPCs).  NULL: unsupported.
	 */
	int (*addresses)(struct backend *b, const char *domain_name,
	    struct backend_nic_info *nics, size_t nnics, struct rrerr *err);

	/*
	 * Pause a running domain (virDomainSuspend, libxl_domain_pause); a
	 * domain paused already is success.  NULL: the backend cannot pause
	 * (resume() then only lets a launch with spec->paused run).
	 */
	int (*pause)(struct backend *b, const char *domain_name,
	    struct rrerr *err);
};

/*
 * The name of one incarnation of instance's domain into buf:
 * "rr-<first 8 of owner>-<instance>-<generation>-<tag, 8 hex digits>".
 * The one place that knows the format.
 */
void backend_domain_name(const char *owner, const char *instance,
    unsigned int generation, uint32_t tag, char *buf, size_t size);

/* "rr-<first 8 of owner>-", which every name of owner's begins with. */
void backend_domain_prefix(const char *owner, char *buf, size_t size);

/*
 * True when name (NULL: false) begins with prefix: backend_domain_prefix()
 * for one owner's names, BACKEND_DOMAIN_PREFIX for any rumprund's.  The
 * one test of a name anywhere, and only a prefilter: whose a domain is,
 * and its instance and generation, come from its metadata.
 */
bool backend_domain_has_prefix(const char *name, const char *prefix);

/*
 * A new random tag for backend_domain_name(): a 32-bit value from
 * getrandom(), or from the time and a counter when it has no entropy.
 */
uint32_t backend_domain_tag(void);

/*
 * The engine's callback, as a backend keeps it: calls of cb happen under
 * lock, and only while !closed, so that none runs after the backend's
 * close() has called backend_emitter_close().
 */
struct backend_emitter {
	backend_event_fn *cb;
	void *cb_arg;
	pthread_mutex_t lock;
	bool closed;
};

/* Set up em for open()'s cb and cb_arg (cb may be NULL). */
void backend_emitter_init(struct backend_emitter *em, backend_event_fn *cb,
    void *cb_arg);

/*
 * Report an event of the domain domain_name (NULL: none) with detail (NULL:
 * none) to the engine, from any thread, unless em is closed.
 */
void backend_emit(struct backend_emitter *em, enum backend_event_type type,
    const char *domain_name, const char *detail);

/* No callback runs once this returns (it waits for one that runs). */
void backend_emitter_close(struct backend_emitter *em);

/* Free what backend_emitter_init() made. */
void backend_emitter_destroy(struct backend_emitter *em);

/*
 * Add the host's complete IPv4 neighbour entries (/proc/net/arp) of the
 * NICs' MACs to their addresses (those they do not have yet), with source
 * "arp": what a backend can know of a guest when libvirt cannot tell (Xen;
 * libvirt's own ARP source where it fails).  Blocks briefly.
 */
void backend_arp_fill(struct backend_nic_info *nics, size_t nnics);

/* True when /sys/class/net/NAME[/SUB] exists on this host (sub may be NULL). */
bool backend_netdev_exists(const char *name, const char *sub);

#endif
