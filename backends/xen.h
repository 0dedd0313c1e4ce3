/*
 * xen: the Xen backend (xen.c), PV guests through libxl.  Built only with
 * libxl's development files (HAVE_XEN; the Makefile says how).  Its
 * operations are struct backend_ops's (daemon/backend.h).
 */
#ifndef XEN_H
#define XEN_H

#include "backend.h"

#ifdef HAVE_XEN
extern const struct backend_ops backend_xen_ops;
#endif

#endif
