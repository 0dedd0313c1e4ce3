/*
 * isojobs: the ISO image builds, one uv_work each (see isojobs.h).
 *
 * A build is a struct iso_job: the worker runs iso_build() (iso.c) and
 * touches only the job; iso_done() answers on the loop.  The jobs in
 * progress are listed, so that isojobs_quiesce() reaches each one at once:
 * uv_cancel() takes one still queued off the pool (iso_done() then sees
 * UV_ECANCELED), and the job's cancel flag makes iso_build() kill the
 * grub-mkrescue of one that runs.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/queue.h>

#include "guestconf.h"
#include "isojobs.h"
#include "log.h"

/* One build: its requester waits while a worker runs iso_build(). */
struct iso_job {
	uv_work_t work;
	struct isojobs *ij;
	isojobs_done_fn *fn;
	void *arg;
	struct spec *spec;
	char *config;
	const char *tmp_base;
	atomic_bool cancel;
	struct iso_image img;
	struct rrerr err;
	int rv;
	uint64_t started_ms;
	TAILQ_ENTRY(iso_job) link;
};

struct isojobs {
	uv_loop_t *loop;
	const struct spec_policy *policy;
	TAILQ_HEAD(, iso_job) jobs; /* on the thread pool now */
	unsigned int running;	    /* how many */
	bool quiescing;
};

struct isojobs *
isojobs_new(uv_loop_t *loop, const struct spec_policy *policy)
{
	struct isojobs *ij;

	if ((ij = calloc(1, sizeof(*ij))) == NULL)
		return NULL;
	ij->loop = loop;
	ij->policy = policy;
	TAILQ_INIT(&ij->jobs);
	return ij;
}

void
isojobs_free(struct isojobs *ij)
{
	free(ij);
}

static void
iso_work(uv_work_t *work)
{
	struct iso_job *job = work->data;

	job->rv = iso_build(job->spec, job->ij->policy, job->config,
	    job->tmp_base, &job->cancel, &job->img, &job->err);
}

static void
iso_job_free(struct iso_job *job)
{
	spec_free(job->spec);
	free(job->config);
	free(job);
}

static void
iso_done(uv_work_t *work, int status)
{
	struct iso_job *job = work->data;
	struct isojobs *ij = job->ij;

	ij->running--;
	TAILQ_REMOVE(&ij->jobs, job, link);
	if (status == UV_ECANCELED) {
		rrerr_set(&job->err, RRERR_UNAVAILABLE, NULL,
		    "rumprund is shutting down");
		job->fn(job->arg, job->spec->name, NULL, &job->err);
	} else if (job->rv == -1)
		job->fn(job->arg, job->spec->name, NULL, &job->err);
	else {
		log_info("%s: ISO image of %llu bytes built in %llu ms",
		    job->spec->name, (unsigned long long)job->img.size,
		    (unsigned long long)(uv_now(ij->loop) - job->started_ms));
		job->fn(job->arg, job->spec->name, &job->img, NULL);
	}
	iso_job_free(job);
}

int
isojobs_build(struct isojobs *ij, struct spec *spec, isojobs_done_fn *fn,
    void *arg, struct rrerr *err)
{
	struct iso_job *job;
	char *config;

	/* What the guest cannot receive is refused before any work. */
	if ((config = guestconf_build(spec, NULL, err)) == NULL) {
		spec_free(spec);
		return -1;
	}
	if (ij->quiescing || ij->running >= ISOJOBS_MAX) {
		if (ij->quiescing)
			rrerr_set(err, RRERR_UNAVAILABLE, NULL,
			    "rumprund is shutting down");
		else
			rrerr_set(err, RRERR_UNAVAILABLE, NULL,
			    "%u ISO images "
			    "are being built, the most at once; try again "
			    "later",
			    ISOJOBS_MAX);
		free(config);
		spec_free(spec);
		return -1;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		free(config);
		spec_free(spec);
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	}
	job->ij = ij;
	job->fn = fn;
	job->arg = arg;
	job->spec = spec;
	job->config = config;
	job->tmp_base = iso_tmp_base();
	job->started_ms = uv_now(ij->loop);
	atomic_init(&job->cancel, false);
	job->work.data = job;
	if (uv_queue_work(ij->loop, &job->work, iso_work, iso_done) != 0) {
		iso_job_free(job);
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "cannot queue the build");
	}
	TAILQ_INSERT_TAIL(&ij->jobs, job, link);
	ij->running++;
	return 0;
}

void
isojobs_quiesce(struct isojobs *ij)
{
	struct iso_job *job;

	ij->quiescing = true;
	/* iso_done() comes later, from the loop: the list stays as it is. */
	TAILQ_FOREACH(job, &ij->jobs, link) {
		atomic_store(&job->cancel, true);
		/* Not begun yet: off the pool (fails, harmless, once begun). */
		(void)uv_cancel((uv_req_t *)&job->work);
	}
}
