/*
 * backend: what all backends share (see backend.h).
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
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

bool
backend_domain_has_prefix(const char *name, const char *prefix)
{
	return name != NULL && strncmp(name, prefix, strlen(prefix)) == 0;
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

void
backend_arp_fill(struct backend_nic_info *nics, size_t nnics)
{
	struct backend_nic_addr *a;
	char line[256], ip[46], hw[32], dev[64];
	unsigned int type, flags;
	size_t i, k;
	FILE *f;

	if ((f = fopen("/proc/net/arp", "re")) == NULL)
		return;
	/* "IP address HW type Flags HW address Mask Device", a header first. */
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%45s %x %x %31s %*s %63s", ip, &type, &flags,
			hw, dev) != 5 ||
		    (flags & 0x2) == 0) /* ATF_COM */
			continue;
		for (i = 0; i < nnics; i++) {
			if (strcasecmp(nics[i].mac, hw) != 0 ||
			    nics[i].naddrs == BACKEND_NIC_ADDRS_MAX)
				continue;
			for (k = 0; k < nics[i].naddrs; k++)
				if (strcmp(nics[i].addrs[k].addr, ip) == 0)
					break;
			if (k < nics[i].naddrs)
				continue; /* known already */
			a = &nics[i].addrs[nics[i].naddrs++];
			snprintf(a->addr, sizeof(a->addr), "%s", ip);
			a->prefix = 0;
			a->inet6 = false;
			a->source = "arp";
		}
	}
	fclose(f);
}
