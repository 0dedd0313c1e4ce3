/*
 * backend: what all backends share (see backend.h).
 */
#include <sys/stat.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"

void
backend_domain_name(const char *owner, const char *instance, char *buf,
    size_t size)
{
	if (size == 0)
		return;
	snprintf(buf, size, "rr-%.8s-%s", owner != NULL ? owner : "",
	    instance != NULL ? instance : "");
}

void
backend_emitter_init(struct backend_emitter *em, backend_event_fn *cb,
    void *cb_arg)
{
	memset(em, 0, sizeof(*em));
	em->cb = cb;
	em->cb_arg = cb_arg;
	pthread_mutex_init(&em->lock, NULL);
}

void
backend_emit(struct backend_emitter *em, enum backend_event_type type,
    const char *domain_name, const char *detail)
{
	struct backend_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	snprintf(ev.domain_name, sizeof(ev.domain_name), "%s",
	    domain_name != NULL ? domain_name : "");
	snprintf(ev.detail, sizeof(ev.detail), "%s",
	    detail != NULL ? detail : "");
	pthread_mutex_lock(&em->lock);
	if (!em->closed && em->cb != NULL)
		em->cb(em->cb_arg, &ev);
	pthread_mutex_unlock(&em->lock);
}

void
backend_emitter_close(struct backend_emitter *em)
{
	pthread_mutex_lock(&em->lock);
	em->closed = true;
	pthread_mutex_unlock(&em->lock);
}

void
backend_emitter_destroy(struct backend_emitter *em)
{
	pthread_mutex_destroy(&em->lock);
}

bool
backend_netdev_exists(const char *name, const char *sub)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/class/net/%s%s%s", name,
	    sub != NULL ? "/" : "", sub != NULL ? sub : "");
	return stat(path, &st) == 0;
}
