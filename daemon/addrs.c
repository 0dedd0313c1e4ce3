/*
 * addrs: the addresses and host devices of an instance's NICs, and the
 * plan of their refresh (see addrs.h).  Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrs.h"

void
addrs_reset(struct inst_addrs *a, int64_t now_ms)
{
	free(a->nics);
	memset(a, 0, sizeof(*a));
	a->since_ms = now_ms;
}

void
addrs_free(struct inst_addrs *a)
{
	free(a->nics);
	a->nics = NULL;
	a->known = false;
}

bool
addrs_due(const struct inst_addrs *a, int64_t now_ms)
{
	return a->inflight == 0 && now_ms >= a->next_ms;
}

/*
 * True when every NIC has what the host can know of it: its host device,
 * and for DHCP an IPv4 address, from the network's leases on a libvirt
 * network (the neighbour table may know the address before libvirt has
 * the lease; the lease is what is wanted there).
 */
static bool
complete(const struct inst_addrs *a, const struct spec *spec)
{
	const struct backend_nic_addr *x;
	size_t i, k;
	bool v4;

	if (spec->nnics > 0 && a->nics == NULL)
		return false;
	for (i = 0; i < spec->nnics; i++) {
		if (a->nics[i].host_dev[0] == '\0')
			return false;
		if (spec->nics[i].inet != SPEC_INET_DHCP)
			continue;
		for (k = 0, v4 = false; k < a->nics[i].naddrs; k++) {
			x = &a->nics[i].addrs[k];
			v4 = v4 ||
			    (!x->inet6 &&
				(spec->nics[i].type != SPEC_NIC_NETWORK ||
				    strcmp(x->source, "lease") == 0));
		}
		if (!v4)
			return false;
	}
	return true;
}

void
addrs_apply(struct inst_addrs *a, const struct spec *spec,
    const struct backend_nic_info *nics, int64_t now_ms)
{
	bool fast;

	if (nics != NULL && spec->nnics > 0 && a->nics == NULL)
		a->nics = calloc(spec->nnics, sizeof(*a->nics));
	if (nics != NULL && (spec->nnics == 0 || a->nics != NULL)) {
		if (spec->nnics > 0)
			memcpy(a->nics, nics, spec->nnics * sizeof(*nics));
		a->known = true;
	}
	fast = (nics == NULL || !complete(a, spec)) &&
	    now_ms - a->since_ms < ADDRS_FAST_FOR_MS;
	a->next_ms = now_ms + (fast ? ADDRS_FAST_MS : ADDRS_SLOW_MS);
}

static json_t *
addr_json(const char *addr, unsigned int prefix, bool inet6, const char *source)
{
	char cidr[64];

	if (prefix != 0)
		snprintf(cidr, sizeof(cidr), "%s/%u", addr, prefix);
	else
		snprintf(cidr, sizeof(cidr), "%s", addr);
	return json_pack("{s:s,s:s,s:s}", "addr", cidr, "family",
	    inet6 ? "inet6" : "inet", "source", source);
}

void
addrs_view(const struct inst_addrs *a, const struct spec *spec, size_t i,
    bool live, json_t *o)
{
	const struct spec_nic *n = &spec->nics[i];
	const struct backend_nic_info *nic;
	json_t *list = json_array();
	size_t k;

	/* Only once known does a->nics hold spec->nnics entries. */
	nic = a->known ? &a->nics[i] : NULL;

	json_object_set_new(o, "host_dev",
	    live && a->known && nic->host_dev[0] != '\0' ?
		json_string(nic->host_dev) :
		json_null());
	if (live && n->inet == SPEC_INET_STATIC)
		json_array_append_new(list,
		    addr_json(n->addr, n->prefixlen, false, "config"));
	if (live && n->inet6 == SPEC_INET6_STATIC)
		json_array_append_new(list,
		    addr_json(n->addr6, n->prefixlen6, true, "config"));
	for (k = 0; live && a->known && k < nic->naddrs; k++) {
		/* The configured address, seen again, is listed once. */
		if ((n->inet == SPEC_INET_STATIC &&
			strcmp(nic->addrs[k].addr, n->addr) == 0) ||
		    (n->inet6 == SPEC_INET6_STATIC &&
			strcmp(nic->addrs[k].addr, n->addr6) == 0))
			continue;
		json_array_append_new(list,
		    addr_json(nic->addrs[k].addr, nic->addrs[k].prefix,
			nic->addrs[k].inet6, nic->addrs[k].source));
	}
	json_object_set_new(o, "addresses", list);
}
