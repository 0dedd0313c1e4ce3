/*
 * xen_console: the Xen backend's console copiers.  Each one is a thread
 * that appends one domain's PV console (the pty xenconsoled serves) to the
 * instance's console log, and follows the domain to a new pty when
 * xenconsoled is restarted.  Used by xen.c only; the calls below may be
 * made from any thread, but one reader is stopped only once.
 *
 * Only compiled with HAVE_XEN (libxl's headers present).
 */
#ifndef XEN_CONSOLE_H
#define XEN_CONSOLE_H

#ifdef HAVE_XEN

#include <stdint.h>

#include "rrerr.h"

/* One domain's console reader (opaque). */
struct xen_console;

/*
 * Start copying the pty at tty_path (domid's console) to the end of the
 * file log_path.  Returns the reader, or NULL with err.
 */
struct xen_console *xen_console_start(uint32_t domid, const char *tty_path,
    const char *log_path, struct rrerr *err);

/*
 * Wait until r has read nothing for quiet_ms, or ended, for at most
 * max_ms: the guest's last lines are then in the log.
 */
void xen_console_wait_quiet(struct xen_console *r, int64_t quiet_ms,
    int64_t max_ms);

/*
 * Let r read until the console closes, for at most wait_ms, then stop it
 * and free it.  NULL is fine.
 */
void xen_console_stop(struct xen_console *r, int64_t wait_ms);

#endif /* HAVE_XEN */

#endif /* XEN_CONSOLE_H */
