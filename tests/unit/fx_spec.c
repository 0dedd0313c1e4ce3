/*
 * fx_spec: the backends' tests' launch request (fx_spec.h).
 */
#include <string.h>

#include "fx_spec.h"

void
fx_spec_hello(struct spec *spec, enum spec_platform platform, char **argv,
    struct spec_blk *blk, struct spec_nic *nics)
{
	memset(spec, 0, sizeof(*spec));
	argv[0] = "hello";
	spec->name = "hello";
	spec->platform = platform;
	spec->image = "/srv/rumprun/images/hello.bin";
	spec->memory_mib = 64;
	spec->vcpus = 1;
	spec->argv = argv;
	spec->argc = 1;
	spec->blk = blk;
	spec->nics = nics;
	spec->accel = SPEC_ACCEL_DEFAULT;
}
