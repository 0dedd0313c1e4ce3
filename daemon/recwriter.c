/*
 * recwriter: one thread that writes the instances' records (see
 * recwriter.h).
 *
 * Threads: w->queue (writes not started), w->busy and w->done (writes
 * over, not answered yet) are under w->mu; the writer thread takes the
 * whole queue, writes it without the lock, puts it on done and wakes the
 * loop (uv_async), whose callback answers done in order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "recwriter.h"

struct wentry {
	void *key;
	char *name;
	char *text;
	uint64_t seq;
	int rv;
	int err;
	struct wentry *next;
};

struct recwriter {
	struct store *st;
	uv_async_t async;
	bool async_open;
	recwriter_done_fn *fn;
	void *arg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work; /* the queue has something, or stop */
	pthread_cond_t idle; /* a batch is over */
	struct wentry *queue, **queue_tail;
	struct wentry *done, **done_tail;
	bool busy; /* the thread writes a batch */
	bool stop;
};

static void
free_entry(struct wentry *we)
{
	free(we->name);
	free(we->text);
	free(we);
}

static void *
writer_main(void *arg)
{
	struct recwriter *w = arg;
	struct store_write *sw = NULL, *nsw;
	struct wentry *batch, *we;
	size_t n, cap = 0, i;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->queue == NULL && !w->stop)
			pthread_cond_wait(&w->work, &w->mu);
		if (w->queue == NULL && w->stop)
			break;
		batch = w->queue;
		w->queue = NULL;
		w->queue_tail = &w->queue;
		w->busy = true;
		pthread_mutex_unlock(&w->mu);

		for (n = 0, we = batch; we != NULL; we = we->next)
			n++;
		if (n > cap) {
			if ((nsw = realloc(sw, n * sizeof(*sw))) != NULL) {
				sw = nsw;
				cap = n;
			}
		}
		if (n <= cap) {
			for (i = 0, we = batch; we != NULL;
			     we = we->next, i++) {
				sw[i].name = we->name;
				sw[i].text = we->text;
			}
			store_put_batch(w->st, sw, n);
			for (i = 0, we = batch; we != NULL;
			     we = we->next, i++) {
				we->rv = sw[i].rv;
				we->err = sw[i].err;
			}
		} else {
			for (we = batch; we != NULL; we = we->next) {
				we->rv = -1;
				we->err = ENOMEM;
			}
		}

		pthread_mutex_lock(&w->mu);
		*w->done_tail = batch;
		for (we = batch; we->next != NULL; we = we->next)
			;
		w->done_tail = &we->next;
		w->busy = false;
		pthread_cond_broadcast(&w->idle);
		if (w->async_open)
			uv_async_send(&w->async);
	}
	pthread_mutex_unlock(&w->mu);
	free(sw);
	return NULL;
}

/* Loop thread: answer the writes that are over, in order. */
static void
deliver(struct recwriter *w)
{
	struct wentry *list, *we;
	char msg[RRERR_MESSAGE_MAX];

	pthread_mutex_lock(&w->mu);
	list = w->done;
	w->done = NULL;
	w->done_tail = &w->done;
	pthread_mutex_unlock(&w->mu);
	while ((we = list) != NULL) {
		list = we->next;
		msg[0] = '\0';
		if (we->rv == -1)
			snprintf(msg, sizeof(msg),
			    "cannot write the record of %s in %s: %s", we->name,
			    store_dir(w->st), strerror(we->err));
		w->fn(w->arg, we->key, we->seq, we->rv, msg);
		free_entry(we);
	}
}

static void
on_async(uv_async_t *a)
{
	deliver(a->data);
}

struct recwriter *
recwriter_open(uv_loop_t *loop, struct store *st, recwriter_done_fn *fn,
    void *arg, struct rrerr *err)
{
	struct recwriter *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	w->st = st;
	w->fn = fn;
	w->arg = arg;
	w->queue_tail = &w->queue;
	w->done_tail = &w->done;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->idle, NULL);
	uv_async_init(loop, &w->async, on_async);
	w->async.data = w;
	w->async_open = true;
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		rrerr_set(err, RRERR_INTERNAL, NULL,
		    "cannot start the record writer thread");
		/* The handle goes with the loop; w must outlive it. */
		uv_close((uv_handle_t *)&w->async, NULL);
		return NULL;
	}
	return w;
}

int
recwriter_put(struct recwriter *w, void *key, const char *name, char *text,
    uint64_t seq)
{
	struct wentry *we;

	pthread_mutex_lock(&w->mu);
	for (we = w->queue; we != NULL; we = we->next) {
		if (we->key == key) {
			free(we->text);
			we->text = text;
			we->seq = seq;
			pthread_mutex_unlock(&w->mu);
			return 0;
		}
	}
	pthread_mutex_unlock(&w->mu);
	if ((we = calloc(1, sizeof(*we))) == NULL ||
	    (we->name = strdup(name)) == NULL) {
		free(we);
		free(text);
		return -1;
	}
	we->key = key;
	we->text = text;
	we->seq = seq;
	pthread_mutex_lock(&w->mu);
	*w->queue_tail = we;
	w->queue_tail = &we->next;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	return 1;
}

/* Wait until nothing is queued nor being written. */
static void
wait_idle(struct recwriter *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->queue != NULL || w->busy)
		pthread_cond_wait(&w->idle, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

void
recwriter_sync(struct recwriter *w)
{
	wait_idle(w);
	deliver(w);
}

void
recwriter_quiesce(struct recwriter *w)
{
	recwriter_sync(w);
	pthread_mutex_lock(&w->mu);
	w->async_open = false;
	pthread_mutex_unlock(&w->mu);
	uv_close((uv_handle_t *)&w->async, NULL);
}

void
recwriter_close(struct recwriter *w)
{
	struct wentry *we;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	while ((we = w->done) != NULL) {
		w->done = we->next;
		free_entry(we);
	}
	/* recwriter_quiesce() closed the uv_async: the loop is done with it. */
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->idle);
	free(w);
}
