/*
 * watch: a follower's hook on something that grows, a console log
 * (console_watch()) or the event stream (events_watch()).
 *
 * The follower embeds a struct watch and sets notify; the owner calls it
 * on the loop thread when there is something new to read (or the thing
 * ended), and the follower reads it with the owner's own functions.  The
 * owner links the watch into its list; the follower unwatches it before
 * the memory goes.
 */
#ifndef WATCH_H
#define WATCH_H

#include <sys/queue.h>

struct watch {
	void (*notify)(struct watch *w);
	TAILQ_ENTRY(watch) link;
};

TAILQ_HEAD(watch_list, watch);

#endif
