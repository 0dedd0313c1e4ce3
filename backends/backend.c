/*
 * backend: what all backends share (see backend.h).
 */
#include <stdio.h>

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
