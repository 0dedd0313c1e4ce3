/*
 * kvm_addrs: what the host knows of a libvirt domain's NICs (the backend's
 * addresses() operation, see backend.h): the tap device of each NIC from
 * the live XML (<target dev=.../>), and its addresses from libvirt, the
 * network's DHCP leases for NICs on a libvirt network and the host's
 * neighbour table (ARP) for the others and for any NIC still without one.
 */
#ifndef KVM_ADDRS_H
#define KVM_ADDRS_H

#include <stddef.h>

#include <libvirt/libvirt.h>

#include "backend.h"

/*
 * Fill nics (nics[i].mac given) from the running domain dom.  Returns 0,
 * or -1 with why (a sentence) when even the live XML cannot be read.  A
 * failed address query only leaves the addresses out.  Blocks.
 */
int kvm_addrs_fill(virDomainPtr dom, struct backend_nic_info *nics,
    size_t nnics, char *why, size_t whysize);

/*
 * From the live XML xml: for each NIC of nics, its target dev into
 * host_dev, and in *on_network whether any of them is on a libvirt
 * network (type='network').  Returns 0, or -1 when xml does not parse.
 */
int kvm_addrs_parse_xml(const char *xml, struct backend_nic_info *nics,
    size_t nnics, bool *on_network);

#endif
