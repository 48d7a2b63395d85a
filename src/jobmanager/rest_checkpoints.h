/*
 * rest_checkpoints.h: the REST endpoints of checkpoints and savepoints
 * (rest_checkpoints.c), registered by cf_rest_handlers_register, and the
 * pure JSON builders they use (exposed for the unit tests).
 *
 * Threads: loop.
 */
#ifndef CF_REST_CHECKPOINTS_H
#define CF_REST_CHECKPOINTS_H

#include <jansson.h>

#include "jobmanager_int.h"

/* Register /jobs/:jobid/savepoints*, /jobs/:jobid/stop,
 * /jobs/:jobid/checkpoints* and /savepoint-disposal*. */
void cf_rest_ckpt_register(cf_jm_t *jm);

/* Flink's StatsSummaryDto of n samples: min, max, avg (integers) and
 * p50, p90, p95, p99, p999 (doubles, Commons Math's default "legacy"
 * percentile estimation); with n == 0: zeros and "NaN" percentiles, as
 * Flink's Jackson writes them. */
json_t *cf_rest_ckpt_summary_dto(const int64_t *samples, int n);

/* CheckpointingStatistics (GET /jobs/:jobid/checkpoints) of a view
 * (its history entries have "tasks": {}, as Flink's). */
json_t *cf_rest_ckpt_statistics(const cf_ckpt_view_t *v);

/* CheckpointStatistics of one entry; with_tasks fills "tasks" (the
 * details endpoint), keyed by the ids of vs[0..nvertices-1] (the job's
 * vertices, in the order of s->vertices), else "tasks" is {}. */
json_t *cf_rest_ckpt_entry(const cf_ckpt_stats_t *s, const cf_ejv_t *vs,
                           int nvertices, int with_tasks);

/* CheckpointConfigInfo of a view (state_backend: the backend's name). */
json_t *cf_rest_ckpt_config(const cf_ckpt_view_t *v,
                            const char *state_backend);

/* TaskCheckpointStatisticsWithSubtaskDetails of vertex vi of a
 * checkpoint. */
json_t *cf_rest_ckpt_task_details(const cf_ckpt_stats_t *s, int vi);

/* An AsynchronousOperationResult failure cause object (Flink's
 * SerializedThrowable JSON): {"class", "stack-trace",
 * "serialized-throwable"} for "<class>: <message>". */
json_t *cf_rest_ckpt_failure_cause(const char *cls, const char *msg);

#endif /* CF_REST_CHECKPOINTS_H */
