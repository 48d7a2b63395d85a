/*
 * rest_metrics.h: Flink's metric query bodies for the JobManager's REST
 * API (MetricCollectionResponseBody, AggregatedMetricsResponseBody: bare
 * JSON arrays) and the JobManager's and jobs' metric tables:
 *
 *   GET /jobmanager/metrics[?get=a,b]
 *   GET /jobs/:jobid/metrics[?get=a,b]
 *   GET /jobs/metrics[?get=..&agg=..&jobs=..]
 *
 * (the TaskManager ones, which ask the TaskManagers over RPC, are in
 * rest_ops.c and use the same helpers). Metric values are strings, as
 * Flink's MetricStore keeps them. docs/user-guide/metrics.md lists every
 * name.
 *
 * Threads: loop only.
 */
#ifndef CF_REST_METRICS_H
#define CF_REST_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jobmanager_int.h"

/* Bounds of the "get" parameter: names per request and bytes per name
 * (longer names are no metric of ours and are refused). */
#define CF_REST_METRICS_MAX_NAMES 256
#define CF_REST_METRICS_MAX_NAME 256
#define CF_REST_METRICS_VALUE_LEN 256

/* One metric: id and its value as text. */
typedef struct cf_rest_metric_s {
    const char *id;
    char value[CF_REST_METRICS_VALUE_LEN];
} cf_rest_metric_t;

/* The names of a "get" parameter, each once, in the order asked. */
typedef struct cf_rest_get_s {
    char **names;
    size_t n;
} cf_rest_get_t;

/* Parse "a,b,c" (NULL or "": no names, g->n 0). Empty items are
 * skipped; a duplicate is kept once. Returns 0, or -1 when a name holds
 * a control character, is longer than CF_REST_METRICS_MAX_NAME or there
 * are more than CF_REST_METRICS_MAX_NAMES names (g is then empty). */
int cf_rest_metrics_parse_get(const char *get, cf_rest_get_t *g);
void cf_rest_get_free(cf_rest_get_t *g);

/* Flink's MetricsAggregationParameter.AggregationMode as a mask. */
enum {
    CF_REST_AGG_MIN = 1,
    CF_REST_AGG_MAX = 2,
    CF_REST_AGG_AVG = 4,
    CF_REST_AGG_SUM = 8,
    CF_REST_AGG_SKEW = 16,
    CF_REST_AGG_ALL = 31
};
/* "min,max" (case-insensitive; NULL or "": all) to a mask, or -1 when an
 * item is no mode. */
int cf_rest_metrics_parse_agg(const char *agg);

/* Flink's 400 for a query parameter it cannot parse; the value is cut
 * to 100 bytes in the message. */
json_t *cf_rest_metrics_bad_query(int *status, const char *key,
                                  const char *value);

/* The body of a metric query over a table of n metrics: without names
 * (g NULL or empty) [{"id"}...] for every metric; with names
 * [{"id","value"}] for those known, in the order asked (unknown names
 * are left out, as Flink does). */
json_t *cf_rest_metrics_body(const cf_rest_metric_t *m, size_t n,
                             const cf_rest_get_t *g);

/* Flink's AggregatedMetric {"id", "min", "max", "avg", "sum", "skew"}
 * (only the modes of mask) over n >= 1 values. */
json_t *cf_rest_metrics_aggregate(const char *id, const double *x, size_t n,
                                  int mask);
/* Flink's DoubleDataSkew: mean absolute deviation over the mean, in
 * percent, at most 100 (0 for a zero mean or n 0). */
double cf_rest_metrics_skew(const double *x, size_t n);
/* A metric value as a number: 1 with *out, or 0 when it is none. */
int cf_rest_metrics_number(const char *s, double *out);

/* The JobManager's metrics (Status.Process.* of this process and the
 * jobmanager scope: numRegisteredTaskManagers, numRunningJobs,
 * taskSlotsAvailable, taskSlotsTotal). Fills at most max; returns the
 * count. */
size_t cf_rest_jm_metrics(cf_jm_t *jm, cf_rest_metric_t *out, size_t max);
/* A job's metrics at now (epoch ms): uptime, downtime, restartingTime,
 * numRestarts, fullRestarts and the checkpoint figures. */
size_t cf_rest_job_metrics(const cf_jobmaster_t *j, int64_t now,
                           cf_rest_metric_t *out, size_t max);
#define CF_REST_METRICS_TABLE_MAX 32

/* Register the routes above (called by cf_rest_ops_register). */
void cf_rest_metrics_register(cf_jm_t *jm);

#endif /* CF_REST_METRICS_H */
