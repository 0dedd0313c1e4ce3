/*
 * backend: what all backends share (see backend.h).
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"

void
backend_domain_prefix(const char *owner, char *buf, size_t size)
{
	if (size == 0)
		return;
	snprintf(buf, size, "%s%.8s-", BACKEND_DOMAIN_PREFIX,
	    owner != NULL ? owner : "");
}

void
backend_domain_name(const char *owner, const char *instance,
    unsigned int generation, uint32_t tag, char *buf, size_t size)
{
	if (size == 0)
		return;
	snprintf(buf, size, "%s%.8s-%s-%u-%08" PRIx32, BACKEND_DOMAIN_PREFIX,
	    owner != NULL ? owner : "", instance != NULL ? instance : "",
	    generation, tag);
}

uint32_t
backend_domain_tag(void)
{
	static uint32_t fallback;
	uint32_t tag;

	if (getrandom(&tag, sizeof(tag), 0) != (ssize_t)sizeof(tag)) {
		/* No entropy (early boot): still different each time. */
		tag = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
		tag += __atomic_add_fetch(&fallback, 0x9e3779b9u,
		    __ATOMIC_RELAXED);
	}
	return tag;
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

void
backend_stats_init(struct backend_stats *st)
{
	st->domain_name[0] = '\0';
	st->cpu_ns = st->memory_bytes = st->rss_bytes = BACKEND_STATS_NONE;
	st->block_rd_bytes = st->block_rd_reqs = BACKEND_STATS_NONE;
	st->block_wr_bytes = st->block_wr_reqs = BACKEND_STATS_NONE;
	st->net_rx_bytes = st->net_rx_packets = BACKEND_STATS_NONE;
	st->net_tx_bytes = st->net_tx_packets = BACKEND_STATS_NONE;
}
