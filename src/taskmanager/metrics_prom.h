/*
 * metrics_prom.h: the TaskManager's Prometheus reporter (Flink's
 * PrometheusReporter with the TaskManager's and its tasks' metrics),
 * started when metrics.reporter.prom.factory.class names it.
 *
 * Threads: the TaskManager's loop.
 */
#ifndef CF_TM_METRICS_PROM_H
#define CF_TM_METRICS_PROM_H

#include "taskmanager_int.h"

typedef struct cf_tm_prom_s cf_tm_prom_t;

/* Start the reporter if configured: NULL when it is not, or when it
 * could not start (logged as an error naming the key; the TaskManager
 * runs on without it). The snapshot is refreshed every second on
 * tm->loop. */
cf_tm_prom_t *cf_tm_prom_start(cf_tm_t *tm);
int cf_tm_prom_port(const cf_tm_prom_t *p);
/* Stop the HTTP endpoint and the timer. NULL is fine. */
void cf_tm_prom_destroy(cf_tm_prom_t *p);

#endif /* CF_TM_METRICS_PROM_H */
