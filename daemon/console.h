/*
 * console: one guest's console log, followed as it grows.
 *
 * The hypervisor appends the guest's serial output to a file (QEMU itself
 * with libvirt's stdio_handler = "file", so output keeps being captured
 * while rumprund is down or virtlogd restarts).  console watches that file
 * (inotify through uv_fs_event, plus the engine's periodic console_poll()),
 * scans new lines for rumprun's markers and tells the engine, and wakes
 * followers.  Offsets are byte offsets into the file and never move:
 * when the log outgrows its cap, the oldest bytes are punched out of the
 * file (fallocate PUNCH_HOLE) and console_start() moves forward.
 *
 * Loop thread only.  A console is reference counted: the instance holds
 * one reference, each follower another; console_close() stops watching the
 * file, and the memory goes with the last reference.
 */
#ifndef CONSOLE_H
#define CONSOLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <uv.h>

#include "rrerr.h"
#include "watch.h"

enum console_marker {
	CONSOLE_CALLING,  /* === calling "NAME" main() === */
	CONSOLE_RETURNED, /* === main() of "NAME" returned N === */
	CONSOLE_HALTED,	  /* halted */
	CONSOLE_PANIC,	  /* PANIC: ... or panic: ... */
};

typedef void console_marker_fn(void *arg, enum console_marker m, int status,
    const char *line);

struct console;

/*
 * Open (creating it, mode 0640) the log at path and watch it.  Markers are
 * reported for lines that start at or after scan_from.  cap is the most
 * bytes kept (0: no cap).  Returns a console with one reference, or NULL
 * with err.
 */
struct console *console_open(uv_loop_t *loop, const char *path,
    uint64_t scan_from, uint64_t cap, console_marker_fn *fn, void *arg,
    struct rrerr *err);

/* Stop watching and reporting; drop the caller's reference.  NULL is fine. */
void console_close(struct console *c);

void console_ref(struct console *c);
void console_unref(struct console *c);

/* Look at the file now: scan new bytes, enforce the cap, wake followers. */
void console_poll(struct console *c);

/* Report markers again only for lines starting at or after off. */
void console_rescan_from(struct console *c, uint64_t off);

/*
 * The first byte still kept (the start of the first whole line after the
 * punched part; see enforce_cap() in console.c), and the end of the log.
 */
uint64_t console_start(const struct console *c);
uint64_t console_end(const struct console *c);

/* Where the last n lines begin (never before console_start()). */
uint64_t console_tail(struct console *c, unsigned int n);

/*
 * When the byte at off arrived (ms since the epoch, at the latest when
 * rumprund saw it), or -1 when not known: bytes that were there before
 * rumprund opened the log have no time (the index is in memory only).
 */
int64_t console_time_at(const struct console *c, uint64_t off);

/*
 * The first line start at or after the first byte that arrived at ms or
 * later (console_end() when none did yet; console_start() when the
 * earliest known ones did).
 */
uint64_t console_line_since(struct console *c, int64_t ms);

/*
 * Read up to max bytes at off (clamped to console_start(), so never from
 * the middle of a line cut by the cap); -1 on error.
 */
ssize_t console_read(struct console *c, uint64_t off, char *buf, size_t max);

/*
 * The guest has ended (or not, after a start): followers that have read
 * everything finish.
 */
void console_set_ended(struct console *c, bool ended);
bool console_ended(const struct console *c);

/*
 * An ended console lets go of its file: no descriptor, no inotify watch
 * (nothing writes to the log of a guest that is gone), so that ended
 * instances cost no descriptors.  What it knows stays (offsets, arrival
 * times); a read opens the file again, until the next console_rest(), and
 * console_set_ended(c, false) watches it again.  Nothing for a console
 * that has not ended.
 */
void console_rest(struct console *c);

void console_watch(struct console *c, struct watch *w);
void console_unwatch(struct console *c, struct watch *w);

#endif
