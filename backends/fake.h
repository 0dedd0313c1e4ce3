/*
 * fake: an in-memory backend for the engine's unit tests.
 *
 * backend_fake_ops behaves like the kvm backend with a perfect, instant
 * hypervisor.  Its "hypervisor" is global to the process and outlives
 * open()/close(), like libvirtd outlives the daemon, so a test can close a
 * backend, open another, and see the same domains (adoption).  Domains are
 * transient as on KVM: one that ends disappears.
 *
 * - launch() records the domain (a domain of that name already existing is
 *   RRERR_CONFLICT), creates the console log file as QEMU would, and emits
 *   STARTED (also for a paused launch, as libvirt does);
 * - destroy() removes it and emits STOPPED (a missing domain is success);
 * - shutdown() is recorded and does nothing (rumprun ignores ACPI); use
 *   fake_end() for a guest that powers off;
 * - pause() sets the paused flag and emits PAUSED, resume() clears it and
 *   emits RESUMED, each only when the flag changes (as the kvm backend
 *   reports libvirt's SUSPENDED and RESUMED);
 * - list() returns the domains of the owner asked for (with the fault of
 *   a domain fake_fault() stopped, and whether it is paused).
 *
 * Events are delivered synchronously from the thread that caused them
 * (after the fake's state lock is released), to every open backend whose
 * owner is the domain's; (dis)connect events to every open backend.  The
 * engine's callback may call the query functions below, and even backend
 * operations, but not close().  fake_hold_events() queues events instead,
 * so that a test can choose when they arrive relative to a call's return.
 *
 * Every function here is thread-safe.
 */
#ifndef FAKE_H
#define FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "rrerr.h"

extern const struct backend_ops backend_fake_ops;

enum fake_op {
	FAKE_OP_OPEN,
	FAKE_OP_LAUNCH,
	FAKE_OP_SHUTDOWN,
	FAKE_OP_DESTROY,
	FAKE_OP_RESUME,
	FAKE_OP_LIST,
	FAKE_OP_STATS,
	FAKE_OP_ADDRESSES,
	FAKE_OP_PAUSE,
	FAKE_OP_COUNT
};

/* A copy of one domain's record. */
struct fake_domain {
	char domain_name[BACKEND_DOMAIN_NAME_MAX];
	char owner[128];
	char instance[SPEC_NAME_MAX + 1];
	unsigned int generation;
	bool running;
	bool paused;
	char fault[256]; /* set by fake_fault(); "" */
	unsigned int memory_mib;
	unsigned int vcpus;
	size_t nblk;
	size_t nnics;
	char macs[SPEC_NICS_MAX][18]; /* "" when the engine gave none */
	uint64_t cpu_ns;	      /* what stats() says; fake_set_cpu() */
	/* What addresses() reports: fake_set_addr(); "" none. */
	char addrs[SPEC_NICS_MAX][46];
	char *image;	    /* the strings are copies: */
	char *guest_config; /* fake_domain_clear() frees them */
	char *console_log;
};

/*
 * Forget every domain, failure, counter and held event, deliver events
 * again, emit STARTED on launch again.  Open backends stay open and
 * connected.
 */
void fake_reset(void);

/*
 * Make the next n calls of op fail with code and message (NULL: a default
 * sentence); n = 0 cancels.  The failed calls change nothing.
 */
void fake_fail(enum fake_op op, unsigned int n, enum rrerr_code code,
    const char *message);

/* How many times op was called since the last fake_reset(). */
unsigned int fake_calls(enum fake_op op);

/* Number of domains (of every owner). */
size_t fake_ndomains(void);

/*
 * Copy the record of domain name into *out: 0, or -1 when there is no
 * such domain.  Free the copy's strings with fake_domain_clear().
 */
int fake_domain_get(const char *name, struct fake_domain *out);
void fake_domain_clear(struct fake_domain *d);

/*
 * Add a domain without any event, as if an earlier daemon had launched
 * it: -1 when the name is taken.
 */
int fake_add(const char *owner, const char *domain_name, const char *instance,
    unsigned int generation, bool running);

/*
 * The domain ends on its own: it is removed and type (CRASHED, SHUTDOWN,
 * or STOPPED for a destroy from outside rumprund) is emitted with detail.
 * -1 when there is no such domain.
 */
int fake_end(const char *name, enum backend_event_type type,
    const char *detail);

/* fake_end(name, BACKEND_EVENT_CRASHED, "crashed"). */
int fake_crash(const char *name);

/*
 * The hypervisor stops the guest for good, as QEMU does on a KVM internal
 * error: the domain stays, paused, list() reports detail as its fault, and
 * FAULT is emitted with detail.  -1 when there is no such domain.
 */
int fake_fault(const char *name, const char *detail);

/*
 * Someone pauses (or resumes) the domain behind the engine's back, as
 * virsh suspend does: with emit, PAUSED (RESUMED) is emitted when the flag
 * changes; without, only list() tells.  -1 when there is no such domain.
 */
int fake_set_paused(const char *name, bool paused, bool emit);

/*
 * Append text to the domain's console log, as its guest would.  -1 when
 * there is no such domain or the file cannot be written (errno set).
 */
int fake_console(const char *name, const char *text);

/*
 * Lose the hypervisor: DISCONNECTED to every open backend, and every
 * operation fails with RRERR_UNAVAILABLE until fake_reconnect(), which
 * emits RECONNECTED.  Domains keep running meanwhile.
 */
void fake_disconnect(void);
void fake_reconnect(void);

/*
 * While on, list() takes its snapshot (fake_calls(FAKE_OP_LIST) counts it)
 * and then waits, without the fake's lock, until it is turned off: a list
 * whose answer is older than what happened meanwhile.
 */
void fake_stall_list(bool on);

/*
 * stats() reports every running domain of the prefix: cpu_ns as set here
 * (0 at launch), memory_mib in bytes, and zero for the disks' and NICs'
 * counters.  -1 when there is no such domain.
 */
int fake_set_cpu(const char *name, uint64_t cpu_ns);

/*
 * While on, stats() waits, without the fake's lock, until it is turned
 * off: a hypervisor that does not answer.
 */
void fake_stall_stats(bool on);

/* Whether launch() emits STARTED (default true). */
void fake_set_emit_started(bool on);

/*
 * Hold events (true) or deliver them as they happen (false, the default).
 * Turning holding off does not deliver what is held.
 */
void fake_hold_events(bool hold);

/*
 * The address addresses() reports for NIC nic of domain name ("" none),
 * with source "lease"; its host device is always "ftapN", N the NIC's
 * index.  Returns 0, or -1 when there is no such domain or NIC.
 */
int fake_set_addr(const char *name, size_t nic, const char *addr);

/* Deliver the held events, in order, from this thread: how many. */
size_t fake_release_events(void);

/* Number of events held. */
size_t fake_held_events(void);

#endif
