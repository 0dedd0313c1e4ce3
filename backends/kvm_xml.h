/*
 * kvm_xml: the libvirt domain XML of a rumprun guest, and reading back the
 * metadata element rumprund puts into it.
 *
 * Pure functions (no libvirt calls), so that the XML can be checked against
 * golden files.  The XML is written by hand: every text and attribute value
 * goes through one escaping helper, so the guest configuration in <cmdline>
 * reaches the guest byte-identical.
 */
#ifndef KVM_XML_H
#define KVM_XML_H

#include <stddef.h>

#include "backend.h"
#include "rrerr.h"

/* rumprund's metadata namespace; the element is <rr:instance .../>. */
#define KVM_XML_NS_URI	   "https://rumprund.org/xmlns/instance/1"
#define KVM_XML_NS_PREFIX  "rr"
#define KVM_XML_NS_ELEMENT "instance"

/* libvirt's QEMU namespace, for <qemu:capabilities>. */
#define KVM_XML_QEMU_NS_URI "http://libvirt.org/schemas/domain/qemu/1.0"

/* What the metadata element says. */
struct kvm_xml_meta {
	char owner[128];
	char instance[SPEC_NAME_MAX + 1];
	unsigned int generation;
};

/* The fd group of disk N is KVM_XML_FDGROUP "N". */
#define KVM_XML_FDGROUP "blk"

/* How a launch hands the domain its files (see kvm.c). */
struct kvm_xml_files {
	const char *kernel; /* the kernel QEMU boots: rumprund's copy */
	const char *dir;    /* disk N is named DIR/DOMAIN.blkN, fd group blkN */
};

/*
 * The domain XML for launch under cfg, as kvm_xml_domain_files() with
 * files NULL: the kernel and disks are the spec's paths (for tests and
 * tools; a launch never uses this form).  Returns a new string (free() it),
 * or NULL with err filled: RRERR_INVALID for a launch the domain cannot
 * express (more disks than virtio letters, a spec not for KVM),
 * RRERR_INTERNAL when out of memory.
 */
char *kvm_xml_domain(const struct backend_launch *launch,
    const struct backend_config *cfg, struct rrerr *err);

/*
 * The domain XML for launch under cfg.  The kernel is files->kernel and
 * each disk is passed by descriptor (fdgroup) under a name in files->dir
 * that is never a file: no path of the request is in the XML.  Returns a
 * new string (free() it), or NULL with err filled: RRERR_INVALID for a
 * launch the domain cannot express (more disks than virtio letters, a
 * spec not for KVM), RRERR_INTERNAL when out of memory.
 */
char *kvm_xml_domain_files(const struct backend_launch *launch,
    const struct backend_config *cfg, const struct kvm_xml_files *files,
    struct rrerr *err);

/*
 * Parse the metadata element libvirt gives back (virDomainGetMetadata with
 * KVM_XML_NS_URI), whatever namespace prefix and quoting it uses.  Returns
 * 0 and fills *out, or -1 when xml is not one such element or lacks owner,
 * name or generation, or a value does not fit.
 */
int kvm_xml_parse_metadata(const char *xml, struct kvm_xml_meta *out);

#endif
