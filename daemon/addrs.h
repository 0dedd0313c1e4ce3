/*
 * addrs: what rumprund knows of the addresses and host devices of an
 * instance's NICs, and when to ask the backend again (its addresses()
 * operation, on a worker thread: see engine.c's JOB_ADDRESSES).
 *
 * Refresh.  The engine asks right after a launch (the tap exists then,
 * the lease not yet), then every ADDRS_FAST_MS while a NIC that gets its
 * address by DHCP has none or a host device is unknown, for at most
 * ADDRS_FAST_FOR_MS after the launch; after that, and once everything is
 * known, every ADDRS_SLOW_MS (a lease may change).  At most one query per
 * instance is in flight, and at most ADDRS_JOBS_MAX in all, so that these
 * queries never take the worker pool from launches and stops.  Nothing is
 * kept across a restart of rumprund or a new generation: the first
 * queries after it fill it again.
 */
#ifndef ADDRS_H
#define ADDRS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "backend.h"
#include "spec.h"

#define ADDRS_FAST_MS	  2000
#define ADDRS_FAST_FOR_MS 300000
#define ADDRS_SLOW_MS	  30000
#define ADDRS_JOBS_MAX	  2

struct inst_addrs {
	/*
	 * What the last answer said, spec->nnics entries, allocated by the
	 * first answer of a generation (an ended instance, or one loaded
	 * from its record, holds none); NULL until then.
	 */
	struct backend_nic_info *nics;
	bool known;	   /* a query of this generation answered */
	uint64_t inflight; /* the job's number, 0: none in flight */
	int64_t next_ms;   /* no query before; 0: at once */
	int64_t since_ms;  /* the generation's launch */
};

/*
 * Forget everything: a new generation launches at now_ms.  a must be
 * zeroed or reset before its first use.
 */
void addrs_reset(struct inst_addrs *a, int64_t now_ms);

/* Free what a holds (the instance goes). */
void addrs_free(struct inst_addrs *a);

/* True when a query is due at now_ms. */
bool addrs_due(const struct inst_addrs *a, int64_t now_ms);

/*
 * Take a query's answer (nics, spec->nnics entries; NULL when it failed)
 * and plan the next one.
 */
void addrs_apply(struct inst_addrs *a, const struct spec *spec,
    const struct backend_nic_info *nics, int64_t now_ms);

/*
 * Add "host_dev" and "addresses" of NIC i to o, the NIC's view; live is
 * false once the domain is gone (nothing is known then but the static
 * address of the spec, which is only shown while the guest runs).
 */
void addrs_view(const struct inst_addrs *a, const struct spec *spec, size_t i,
    bool live, json_t *o);

#endif
