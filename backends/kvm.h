/*
 * kvm: the KVM backend (kvm.c), KVM or TCG guests through libvirt's QEMU
 * driver.  Its operations are struct backend_ops's (daemon/backend.h);
 * backends/README.md says how it behaves.
 */
#ifndef KVM_H
#define KVM_H

#include "backend.h"

extern const struct backend_ops backend_kvm_ops;

#endif
