/*
 * metrics_prom.h: the JobManager's Prometheus reporter (Flink's
 * PrometheusReporter with the JobManager's metrics), started when
 * metrics.reporter.prom.factory.class names it.
 *
 * Threads: the JobManager's loop.
 */
#ifndef CF_JM_METRICS_PROM_H
#define CF_JM_METRICS_PROM_H

#include "jobmanager_int.h"

typedef struct cf_jm_prom_s cf_jm_prom_t;

/* Start the reporter if configured: NULL when it is not, or when it
 * could not start (logged as an error naming the key; the JobManager
 * runs on without it, as Flink's do). The snapshot is refreshed every
 * second on jm->loop. */
cf_jm_prom_t *cf_jm_prom_start(cf_jm_t *jm);
/* Port bound, for logs and tests. */
int cf_jm_prom_port(const cf_jm_prom_t *p);
/* Stop the HTTP endpoint and the timer. NULL is fine. */
void cf_jm_prom_destroy(cf_jm_prom_t *p);

#endif /* CF_JM_METRICS_PROM_H */
