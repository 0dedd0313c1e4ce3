/*
 * fx_spec: the launch request the backends' configuration tests
 * (test_kvm_xml, test_xen_cfg) start from, before each case adjusts it.
 */
#ifndef FX_SPEC_H
#define FX_SPEC_H

#include "spec.h"

/*
 * Fill spec (cleared first) with a request for the image
 * /srv/rumprun/images/hello.bin named "hello" on platform: 64 MiB, one
 * vCPU, the default accelerator, argv {"hello"} (argv[0] is set), and no
 * disks or NICs yet, whose arrays are the caller's blk and nics.
 */
void fx_spec_hello(struct spec *spec, enum spec_platform platform, char **argv,
    struct spec_blk *blk, struct spec_nic *nics);

#endif
