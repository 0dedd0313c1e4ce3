/*
 * storejobs: an upload's commit on the thread pool (see storejobs.h).
 */
#include <stdlib.h>

#include "storejobs.h"

struct commit_job {
	uv_work_t work;
	struct imgstore_upload *up;
	storejobs_fn *fn;
	void *arg;
	struct rrerr err;
	int rv;
};

static void
commit_work(uv_work_t *work)
{
	struct commit_job *j = work->data;

	rrerr_clear(&j->err);
	j->rv = imgstore_upload_commit(j->up, &j->err);
}

static void
commit_done(uv_work_t *work, int status)
{
	struct commit_job *j = work->data;
	json_t *entry;

	(void)status;
	entry = imgstore_upload_end(j->up);
	if (j->rv == -1 || entry == NULL) {
		if (j->rv != -1)
			rrerr_set(&j->err, RRERR_INTERNAL, NULL,
			    "out of memory");
		j->fn(j->arg, NULL, &j->err);
	} else
		j->fn(j->arg, entry, NULL);
	free(j);
}

int
storejobs_commit(struct imgstore_upload *up, uv_loop_t *loop, storejobs_fn *fn,
    void *arg, struct rrerr *err)
{
	struct commit_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	j->up = up;
	j->fn = fn;
	j->arg = arg;
	j->work.data = j;
	if (uv_queue_work(loop, &j->work, commit_work, commit_done) != 0) {
		free(j);
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "cannot queue the commit");
	}
	return 0;
}
