/*
 * kvm_addrs: the host device and the addresses of a libvirt domain's NICs
 * (see kvm_addrs.h).  Runs on a worker thread (libvirt is thread-safe per
 * connection); parses the live XML with libxml2, as kvm_xml.c does.
 *
 * Sources.  libvirt answers virDomainInterfaceAddresses() from the DHCP
 * server (dnsmasq) of a libvirt network with VIR_DOMAIN_INTERFACE_ADDRESSES_
 * SRC_LEASE: this only knows NICs of type network.  For a tap or a bridge
 * it can only look at the host's neighbour table
 * (VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP), which holds a guest's address
 * once the host has exchanged a packet with it; a guest that never talks
 * to the host's side of its link stays unknown.  When libvirt's ARP query
 * fails, /proc/net/arp is read instead (backend_arp_fill()).  NICs are
 * matched by MAC.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "kvm_addrs.h"

static struct backend_nic_info *
by_mac(struct backend_nic_info *nics, size_t nnics, const char *mac)
{
	size_t i;

	if (mac == NULL)
		return NULL;
	for (i = 0; i < nnics; i++)
		if (strcasecmp(nics[i].mac, mac) == 0)
			return &nics[i];
	return NULL;
}

static const xmlNode *
child(const xmlNode *n, const char *name)
{
	for (n = n->children; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE &&
		    strcmp((const char *)n->name, name) == 0)
			return n;
	return NULL;
}

int
kvm_addrs_parse_xml(const char *xml, struct backend_nic_info *nics,
    size_t nnics, bool *on_network)
{
	const xmlNode *root, *devs, *n, *m, *t;
	struct backend_nic_info *nic;
	xmlChar *type, *mac, *dev;
	xmlDoc *doc;

	*on_network = false;
	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL || (root = xmlDocGetRootElement(doc)) == NULL) {
		xmlFreeDoc(doc);
		return -1;
	}
	devs = child(root, "devices");
	for (n = devs != NULL ? devs->children : NULL; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE ||
		    strcmp((const char *)n->name, "interface") != 0)
			continue;
		if ((m = child(n, "mac")) == NULL)
			continue;
		mac = xmlGetProp(m, (const xmlChar *)"address");
		nic = by_mac(nics, nnics, (const char *)mac);
		xmlFree(mac);
		if (nic == NULL)
			continue;
		type = xmlGetProp(n, (const xmlChar *)"type");
		if (type != NULL && strcmp((const char *)type, "network") == 0)
			*on_network = true;
		xmlFree(type);
		if ((t = child(n, "target")) == NULL)
			continue;
		dev = xmlGetProp(t, (const xmlChar *)"dev");
		if (dev != NULL)
			snprintf(nic->host_dev, sizeof(nic->host_dev), "%s",
			    (const char *)dev);
		xmlFree(dev);
	}
	xmlFreeDoc(doc);
	return 0;
}

/* Add what libvirt reported from source to the NICs it names. */
static void
add_addrs(struct backend_nic_info *nics, size_t nnics,
    virDomainInterfacePtr *ifs, int nifs, const char *source)
{
	struct backend_nic_info *nic;
	struct backend_nic_addr *a;
	virDomainIPAddressPtr ip;
	unsigned int j, k;
	int i;

	for (i = 0; i < nifs; i++) {
		nic = by_mac(nics, nnics, ifs[i]->hwaddr);
		if (nic == NULL)
			continue;
		if (nic->host_dev[0] == '\0' && ifs[i]->name != NULL)
			snprintf(nic->host_dev, sizeof(nic->host_dev), "%s",
			    ifs[i]->name);
		for (j = 0; j < ifs[i]->naddrs; j++) {
			ip = &ifs[i]->addrs[j];
			if (ip->addr == NULL ||
			    nic->naddrs == BACKEND_NIC_ADDRS_MAX)
				continue;
			for (k = 0; k < nic->naddrs; k++)
				if (strcmp(nic->addrs[k].addr, ip->addr) == 0)
					break;
			if (k < nic->naddrs)
				continue; /* known from a better source */
			a = &nic->addrs[nic->naddrs++];
			snprintf(a->addr, sizeof(a->addr), "%s", ip->addr);
			a->prefix = ip->prefix;
			a->inet6 = ip->type == VIR_IP_ADDR_TYPE_IPV6;
			a->source = source;
		}
	}
}

/*
 * One query of source; a failure only leaves its addresses out.  Returns
 * 0, or -1 when libvirt failed.
 */
static int
query(virDomainPtr dom, unsigned int source, const char *name,
    struct backend_nic_info *nics, size_t nnics)
{
	virDomainInterfacePtr *ifs = NULL;
	int nifs, i;

	nifs = virDomainInterfaceAddresses(dom, &ifs, source, 0);
	if (nifs < 0) {
		virResetLastError();
		return -1;
	}
	add_addrs(nics, nnics, ifs, nifs, name);
	for (i = 0; i < nifs; i++)
		virDomainInterfaceFree(ifs[i]);
	free(ifs);
	return 0;
}

int
kvm_addrs_fill(virDomainPtr dom, struct backend_nic_info *nics, size_t nnics,
    char *why, size_t whysize)
{
	virErrorPtr e;
	bool on_network, missing = false;
	char *xml;
	size_t i;
	int rc;

	xml = virDomainGetXMLDesc(dom, 0);
	if (xml == NULL) {
		e = virGetLastError();
		snprintf(why, whysize, "cannot read the domain's XML: %s",
		    e != NULL && e->message != NULL ? e->message :
						      "unknown libvirt error");
		virResetLastError();
		return -1;
	}
	rc = kvm_addrs_parse_xml(xml, nics, nnics, &on_network);
	free(xml);
	if (rc == -1) {
		snprintf(why, whysize, "%s", "the domain's XML does not parse");
		return -1;
	}
	if (on_network)
		(void)query(dom, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
		    "lease", nics, nnics);
	for (i = 0; i < nnics; i++)
		if (nics[i].naddrs == 0)
			missing = true;
	/*
	 * libvirt's ARP source can fail where the kernel's table has the
	 * entry (measured: libvirt 9.0.0 on Debian 12 answers "internal
	 * error: wrong nlmsg len"): then read the table ourselves.
	 */
	if (missing &&
	    query(dom, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP, "arp", nics,
		nnics) == -1)
		backend_arp_fill(nics, nnics);
	return 0;
}
