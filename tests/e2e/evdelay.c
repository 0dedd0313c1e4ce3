/*
 * evdelay: an LD_PRELOAD shim for the end-to-end tests that delivers
 * libvirt's domain lifecycle events to rumprund RR_EVENT_DELAY_MS (700)
 * milliseconds late, as a loaded libvirtd or a slow event loop can.  It
 * makes a late STOPPED of a destroyed domain meet whatever rumprund did
 * meanwhile (a new instance of the same name, say): test_incarnations.py.
 *
 * virConnectDomainEventRegisterAny() is wrapped for the lifecycle event
 * only: the shim's callback takes a reference on the domain and queues the
 * event; one thread calls the real callback once the event is due, in
 * order.  The registration is reference-counted so that the caller's
 * opaque (and its free callback) outlives every queued event; events of a
 * registration that was removed are dropped, as libvirt would.
 *
 * Differences from a slow libvirtd: only the delivery to this process is
 * late (libvirtd's own state changes at once, as it does), and every
 * lifecycle event is late by the same time.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <libvirt/libvirt.h>

struct reg {
	virConnectDomainEventCallback cb;
	void *opaque;
	virFreeCallback freecb;
	unsigned int refs; /* libvirt's + one per queued event */
	bool dead;	   /* deregistered */
};

struct ev {
	struct reg *reg;
	virConnectPtr conn;
	virDomainPtr dom;
	int event, detail;
	int64_t due_ms;
	struct ev *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct ev *head, **tail = &head;
static bool started;
static int64_t delay_ms = 700;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drop a reference (lock held); the last one calls the real free. */
static void
reg_unref_locked(struct reg *r)
{
	if (--r->refs > 0)
		return;
	if (r->freecb != NULL)
		r->freecb(r->opaque);
	free(r);
}

static void *
deliver(void *arg)
{
	struct ev *e;
	struct timespec ts;
	int64_t wait;

	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (head == NULL)
			pthread_cond_wait(&cond, &lock);
		e = head;
		if ((wait = e->due_ms - now_ms()) > 0) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&cond, &lock, &ts);
			continue;
		}
		if ((head = e->next) == NULL)
			tail = &head;
		if (!e->reg->dead) {
			pthread_mutex_unlock(&lock);
			e->reg->cb(e->conn, e->dom, e->event, e->detail,
			    e->reg->opaque);
			pthread_mutex_lock(&lock);
		}
		virDomainFree(e->dom);
		reg_unref_locked(e->reg);
		free(e);
	}
	return NULL;
}

static int
lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
    void *opaque)
{
	struct reg *r = opaque;
	struct ev *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return 0;
	virDomainRef(dom);
	e->conn = conn;
	e->dom = dom;
	e->event = event;
	e->detail = detail;
	e->due_ms = now_ms() + delay_ms;
	pthread_mutex_lock(&lock);
	e->reg = r;
	r->refs++;
	*tail = e;
	tail = &e->next;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	return 0;
}

static void
reg_free(void *opaque)
{
	struct reg *r = opaque;

	pthread_mutex_lock(&lock);
	r->dead = true;
	reg_unref_locked(r);
	pthread_mutex_unlock(&lock);
}

int
virConnectDomainEventRegisterAny(virConnectPtr conn, virDomainPtr dom,
    int eventID, virConnectDomainEventGenericCallback cb, void *opaque,
    virFreeCallback freecb)
{
	static int (*real)(virConnectPtr, virDomainPtr, int,
	    virConnectDomainEventGenericCallback, void *, virFreeCallback);
	const char *s;
	pthread_t t;
	struct reg *r;
	int id;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT,
		    "virConnectDomainEventRegisterAny");
	if (eventID != VIR_DOMAIN_EVENT_ID_LIFECYCLE)
		return real(conn, dom, eventID, cb, opaque, freecb);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	r->cb = (virConnectDomainEventCallback)(void (*)(void))cb;
	r->opaque = opaque;
	r->freecb = freecb;
	r->refs = 1;
	pthread_mutex_lock(&lock);
	if (!started) {
		if ((s = getenv("RR_EVENT_DELAY_MS")) != NULL)
			delay_ms = strtoll(s, NULL, 10);
		started = pthread_create(&t, NULL, deliver, NULL) == 0;
		if (started)
			pthread_detach(t);
	}
	pthread_mutex_unlock(&lock);
	id = real(conn, dom, eventID, VIR_DOMAIN_EVENT_CALLBACK(lifecycle), r,
	    reg_free);
	if (id < 0)
		free(r);
	return id;
}
